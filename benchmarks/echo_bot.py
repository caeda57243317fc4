"""The floor: a minimal matrix-nio bot that answers every message with one notice.

``python -m benchmarks.echo_bot --homeserver URL --user @echo:localhost`` (password: the
benchmarks' one). It accepts every invitation, does not answer what was said before it started,
and uses matrix-nio's own ``sync_forever``, as most matrix-nio bots do. It prints
``{"ready": ...}`` once it listens.

``--bot-filter`` makes it sync with the bot's own filter (``bot.matrix.sync.sync_filter``): run
as the bot's account (a device of its own, the bot stopped), it is then the floor of a reply in
the same rooms, with the same requests, whatever Synapse's cost for an account in N rooms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time

from nio import (
    AsyncClient,
    AsyncClientConfig,
    InviteMemberEvent,
    LoginResponse,
    MatrixRoom,
    RoomMessageText,
)

from benchmarks.common import PASSWORD


def echo(body: str, event_id: object) -> dict[str, object]:
    """The echo's answer to the message ``event_id``: its text, as a notice replying to it."""
    return {
        "msgtype": "m.notice",
        "body": body,
        "m.relates_to": {"m.in_reply_to": {"event_id": event_id}},
        "m.mentions": {},
    }


async def run(homeserver: str, user_id: str, sync_filter: dict[str, object] | None) -> None:
    client = AsyncClient(
        homeserver,
        user_id,
        config=AsyncClientConfig(encryption_enabled=False, store_sync_tokens=False),
    )
    login = await client.login(PASSWORD, device_name="echo")
    if not isinstance(login, LoginResponse):
        raise SystemExit(f"echo bot could not log in: {login}")
    # What came before is not answered.
    await client.sync(timeout=0, full_state=True, sync_filter=sync_filter)

    async def on_message(room: MatrixRoom, event: RoomMessageText) -> None:
        if event.sender == client.user_id:
            return
        await client.room_send(room.room_id, "m.room.message", echo(event.body, event.event_id))

    async def on_invite(room: MatrixRoom, event: InviteMemberEvent) -> None:
        if event.state_key == client.user_id and event.membership == "invite":
            await client.join(room.room_id)

    client.add_event_callback(on_message, RoomMessageText)
    client.add_event_callback(on_invite, InviteMemberEvent)
    print(json.dumps({"ready": time.time()}), flush=True)
    try:
        await client.sync_forever(timeout=30_000, sync_filter=sync_filter)
    finally:
        await client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--homeserver", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--bot-filter", action="store_true", help="sync as the bot does")
    args = parser.parse_args()
    sync_filter = None
    if args.bot_filter:
        from bot.matrix.sync import sync_filter as bot_sync_filter

        sync_filter = bot_sync_filter()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args.homeserver, args.user, sync_filter))
    return 0


if __name__ == "__main__":
    sys.exit(main())
