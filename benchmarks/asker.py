"""The person in a direct chat during the busy-room benchmark, in a process of their own.

``python -m benchmarks.asker --homeserver URL --user @asker:localhost --bot-room ROOM
--echo-room ROOM --idle N --during M`` (password: the benchmarks' one). The benchmark's own
process runs 30 senders and a watcher that reads every event of the burst; measured there, a
reply would wait for that process's event loop as well as for the homeserver and the bot. Here
nothing else runs: asked ``N`` times while the rooms are quiet, it prints ``{"idle": [...]}``;
told ``burst`` on its standard input, it asks ``M`` times more and prints ``{"during": [...]}``.
Each ask is the bot's ``!challenges`` and then the same text to the echo bot: for each, the
wall-clock time just before sending, the seconds until the reply arrived, and the reply.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from benchmarks.matrix import Watcher, log_in_url

COMMAND = "!challenges"


async def _ask(asker: Watcher, room_id: str) -> dict[str, Any]:
    sent_at = time.time()
    seconds, reply = await asker.ask(room_id, COMMAND)
    return {"sent_at": sent_at, "seconds": seconds, "reply": reply.event}


async def _round(asker: Watcher, bot_room: str, echo_room: str, count: int) -> dict[str, Any]:
    bot, echo = [], []
    for _ in range(count):
        bot.append(await _ask(asker, bot_room))
        echo.append(await _ask(asker, echo_room))
    return {"bot": bot, "echo": echo}


def _report(**facts: Any) -> None:
    print(json.dumps(facts), flush=True)


async def run(arguments: argparse.Namespace) -> None:
    client = await log_in_url(arguments.homeserver, arguments.user)
    asker = await Watcher.started(client)
    try:
        _report(ready=True)
        _report(idle=await _round(asker, arguments.bot_room, arguments.echo_room, arguments.idle))
        line = await asyncio.to_thread(sys.stdin.readline)
        if line.strip() != "burst":
            return
        during = await _round(asker, arguments.bot_room, arguments.echo_room, arguments.during)
        _report(during=during)
    finally:
        await asker.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--homeserver", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--bot-room", required=True)
    parser.add_argument("--echo-room", required=True)
    parser.add_argument("--idle", type=int, required=True)
    parser.add_argument("--during", type=int, required=True)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
