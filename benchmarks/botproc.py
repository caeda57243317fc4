"""The bot in its own process, as ``challenge-bot run`` starts it, reporting when it is ready.

``python -m benchmarks.botproc --config PATH`` prints JSON lines on standard output: when the
bot object exists (configuration read, catalogue loaded), when its first sync is handled, and
then every second how many rooms it knows.
Logs go to standard error, as with the real command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import time
from pathlib import Path

from bot.app import BotApp
from bot.config import load_config


def report(**facts: object) -> None:
    print(json.dumps(facts), flush=True)


async def run(config_path: Path) -> None:
    config = load_config(config_path)
    app = BotApp(config)
    report(constructed_at=time.time())
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, app.stop.set)

    async def ready() -> None:
        await app.sync.first_sync_done.wait()
        report(first_sync_at=time.time(), rooms=len(app.client.rooms))
        while True:  # later syncs may bring more rooms
            await asyncio.sleep(1)
            report(rooms_now=len(app.client.rooms))

    watcher = asyncio.create_task(ready())
    try:
        await app.run()
    finally:
        watcher.cancel()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("nio").setLevel(logging.WARNING)
    asyncio.run(run(args.config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
