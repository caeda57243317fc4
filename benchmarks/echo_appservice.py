"""The floor without /sync: the echo bot as an application service, for the bot's account.

``python -m benchmarks.echo_appservice --homeserver URL --user @bot:localhost --port P
--registration FILE`` answers every text message in the rooms of ``--user`` with one notice, as
``echo_bot`` does, but it never syncs: the homeserver pushes each event to it in a transaction
(``PUT /_matrix/app/v1/transactions/{id}``), and it answers as ``--user`` with the
application service's token. It prints ``{"ready": ...}`` once it listens.

:func:`registration` writes the file that the homeserver reads (``app_service_config_files``):
a namespace holding only ``--user``, not exclusive, so the account keeps its password and its
own devices. It is what a deployment on the city's own homeserver would register; the bot
itself has no such mode (see ``docs/scale.md``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import secrets
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import yaml
from aiohttp import web

from benchmarks.echo_bot import echo


def registration(path: Path, user_id: str, port: int) -> dict[str, Any]:
    """Write an application service registration for ``user_id`` listening on ``port``."""
    content: dict[str, Any] = {
        "id": "echo-appservice",
        "url": f"http://127.0.0.1:{port}",
        "as_token": secrets.token_hex(16),
        "hs_token": secrets.token_hex(16),
        "sender_localpart": "echo-appservice",
        "namespaces": {
            "users": [{"exclusive": False, "regex": re.escape(user_id)}],
            "aliases": [],
            "rooms": [],
        },
        "rate_limited": False,
    }
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    return content


class EchoService:
    def __init__(self, homeserver: str, user_id: str, as_token: str, hs_token: str) -> None:
        self.homeserver = homeserver.rstrip("/")
        self.user_id = user_id
        self.as_token = as_token
        self.hs_token = hs_token
        self.session: aiohttp.ClientSession | None = None
        self.sending: set[asyncio.Task[None]] = set()
        self.started_ms = time.time() * 1000

    async def transaction(self, request: web.Request) -> web.Response:
        given = request.headers.get("Authorization", "")
        if given != f"Bearer {self.hs_token}" and request.query.get("access_token") != (
            self.hs_token
        ):
            return web.json_response({"errcode": "M_FORBIDDEN"}, status=403)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"errcode": "M_NOT_JSON"}, status=400)
        events = body.get("events") if isinstance(body, dict) else None
        for event in events if isinstance(events, list) else []:
            if not isinstance(event, dict) or event.get("type") != "m.room.message":
                continue
            content = event.get("content")
            if event.get("sender") == self.user_id or not isinstance(content, dict):
                continue
            if not isinstance(content.get("body"), str):
                continue
            sent_at = event.get("origin_server_ts")
            if not isinstance(sent_at, int) or sent_at < self.started_ms:
                continue  # what was said before it started is not answered
            task = asyncio.create_task(self.answer(event, content["body"]))
            self.sending.add(task)
            task.add_done_callback(self.sending.discard)
        return web.json_response({})

    async def answer(self, event: dict[str, Any], body: str) -> None:
        assert self.session is not None
        room = quote(str(event.get("room_id")), safe="")
        url = (
            f"{self.homeserver}/_matrix/client/v3/rooms/{room}/send/m.room.message/"
            f"{secrets.token_hex(8)}"
        )
        async with self.session.put(
            url,
            params={"user_id": self.user_id},
            json=echo(body, event.get("event_id")),
            headers={"Authorization": f"Bearer {self.as_token}"},
        ) as response:
            await response.read()


async def run(homeserver: str, user_id: str, port: int, tokens: dict[str, Any]) -> None:
    service = EchoService(homeserver, user_id, tokens["as_token"], tokens["hs_token"])
    app = web.Application()
    app.router.add_put("/_matrix/app/v1/transactions/{txn}", service.transaction)
    app.router.add_put("/transactions/{txn}", service.transaction)  # the legacy path
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    service.session = aiohttp.ClientSession()
    print(json.dumps({"ready": time.time()}), flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await service.session.close()
        await runner.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--homeserver", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--registration", type=Path, required=True)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        tokens = yaml.safe_load(args.registration.read_text())
        asyncio.run(run(args.homeserver, args.user, args.port, tokens))
    return 0


if __name__ == "__main__":
    sys.exit(main())
