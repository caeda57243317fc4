"""A local demo: Synapse on 127.0.0.1, the bot, a moderator, a citizen and one sample challenge.

Run through ``scripts/demo``. Everything lives in ./demo (ignored by git); run it again to
continue where you left off, or delete ./demo to start over.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

from nio import AsyncClient, AsyncClientConfig, LoginResponse, RoomCreateResponse, SyncResponse

from devtools.homeserver import Homeserver

log = logging.getLogger("demo")

USERS = {"bot": "challenge-bot", "moderator": "moderator", "citizen": "citizen"}
PASSWORD = "demo-password"  # a throwaway local homeserver; never reuse it elsewhere
SAMPLE = (
    "!challenge new --deadline=2027-06-30 fietsroutes Veilige fietsroutes naar school\n"
    "Hoe maken we de fietsroute naar school veiliger voor kinderen en studenten in Gent?"
)


async def prepare(homeserver: Homeserver, directory: Path) -> Path:
    """Accounts, the moderation room and the bot's config; returns the config's path."""
    ids = {role: homeserver.register_user(name, PASSWORD) for role, name in USERS.items()}
    state_path = directory / "state.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    if "moderation_room" not in state:
        moderator = await _client(homeserver, ids["moderator"])
        response = await moderator.room_create(name="Moderatie", invite=[ids["bot"]])
        await moderator.close()
        assert isinstance(response, RoomCreateResponse), response
        state["moderation_room"] = response.room_id
        state_path.write_text(json.dumps(state))
    config_path = directory / "config.toml"
    config_path.write_text(
        "[matrix]\n"
        f'homeserver = "{homeserver.url}"\n'
        f'user_id = "{ids["bot"]}"\n'
        f'password = "{PASSWORD}"\n'
        "sync_timeout_ms = 10000\n\n"
        "[bot]\n"
        f'moderators = ["{ids["moderator"]}"]\n'
        f'moderation_room = "{state["moderation_room"]}"\n\n'
        "[storage]\n"
        'path = "bot/challenge-bot.sqlite3"\n'
    )
    return config_path


async def seed_sample(homeserver: Homeserver, directory: Path) -> None:
    """Once: the moderator opens a sample challenge, as a real moderator would, by command."""
    state_path = directory / "state.json"
    state = json.loads(state_path.read_text())
    if state.get("seeded"):
        return
    moderator = await _client(homeserver, f"@{USERS['moderator']}:{homeserver.server_name}")
    bot_id = f"@{USERS['bot']}:{homeserver.server_name}"
    room_id = state["moderation_room"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        sync = await moderator.sync(timeout=1000)
        room = moderator.rooms.get(room_id)
        if (
            isinstance(sync, SyncResponse)
            and room is not None
            and bot_id in room.users
            and bot_id not in room.invited_users
        ):
            break
    else:
        raise RuntimeError("the bot did not join the moderation room within a minute")
    await moderator.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": SAMPLE})
    await moderator.close()
    state["seeded"] = True
    state_path.write_text(json.dumps(state))


async def _client(homeserver: Homeserver, user_id: str) -> AsyncClient:
    client = AsyncClient(
        homeserver.url, user_id, config=AsyncClientConfig(encryption_enabled=False)
    )
    response = await client.login(PASSWORD)
    assert isinstance(response, LoginResponse), response
    return client


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8008)
    parser.add_argument("--directory", type=Path, default=Path("demo"))
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    directory: Path = args.directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    homeserver = Homeserver(directory / "synapse", port=args.port)
    log.info("Starting Synapse on %s", homeserver.url)
    homeserver.start()
    bot: subprocess.Popen[bytes] | None = None
    try:
        config_path = asyncio.run(prepare(homeserver, directory))
        bot = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run", "--config", str(config_path)]
        )
        asyncio.run(seed_sample(homeserver, directory))
        print(
            f"""
The demo is running.

  Homeserver:  {homeserver.url}   (in Element: "Sign in" -> "Edit" the homeserver -> this URL)
  Moderator:   {USERS["moderator"]} / {PASSWORD}   (in the room "Moderatie")
  Citizen:     {USERS["citizen"]} / {PASSWORD}

Start a direct chat with @{USERS["bot"]}:{homeserver.server_name} and send "help".
Try: idee (a guided submission), challenges, join fietsroutes, show <number>, vote <number>.

Press Ctrl-C to stop.
""",
            flush=True,
        )
        bot.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if bot is not None and bot.poll() is None:
            bot.send_signal(signal.SIGTERM)
            bot.wait(timeout=30)
        homeserver.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
