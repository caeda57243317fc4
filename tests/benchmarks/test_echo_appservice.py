"""The benchmark's echo application service: its registration and what it answers."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from benchmarks.echo_appservice import EchoService, registration

BOT = "@scale-bot:localhost"


def test_the_registration_claims_only_the_bots_account_and_not_exclusively(
    tmp_path: Path,
) -> None:
    path = tmp_path / "registration.yaml"
    written = registration(path, BOT, 8123)
    read = yaml.safe_load(path.read_text())
    assert read == written
    assert read["url"] == "http://127.0.0.1:8123"
    assert read["as_token"] != read["hs_token"]
    [users] = read["namespaces"]["users"]
    assert users["exclusive"] is False
    assert re.fullmatch(users["regex"], BOT)
    assert not re.fullmatch(users["regex"], "@scale-botXlocalhost")  # the dot is escaped
    assert not re.fullmatch(users["regex"], "@scale-bot:localhost.evil")


def message(sender: str, body: object, *, sent_at: float | None = None) -> dict[str, Any]:
    return {
        "type": "m.room.message",
        "room_id": "!room:localhost",
        "event_id": f"${sender}{body}",
        "sender": sender,
        "origin_server_ts": int((sent_at or time.time()) * 1000),
        "content": {"msgtype": "m.text", "body": body},
    }


async def test_it_answers_others_messages_sent_since_it_started_and_checks_the_token() -> None:
    service = EchoService("http://127.0.0.1:1", BOT, "as-secret", "hs-secret")
    answered: list[str] = []

    async def answer(event: dict[str, Any], body: str) -> None:
        answered.append(body)

    service.answer = answer  # type: ignore[method-assign]
    app = web.Application()
    app.router.add_put("/_matrix/app/v1/transactions/{txn}", service.transaction)
    async with TestClient(TestServer(app)) as client:
        path = "/_matrix/app/v1/transactions/1"
        refused = await client.put(path, json={"events": [message("@a:localhost", "hi")]})
        assert refused.status == 403
        garbled = await client.put(
            path, data=b"{not json", headers={"Authorization": "Bearer hs-secret"}
        )
        assert garbled.status == 400
        events = [
            "not an event",
            message("@a:localhost", ["a list, not text"]),
            message(BOT, "its own"),
            message("@a:localhost", "said before it started", sent_at=time.time() - 60),
            {"type": "m.reaction", "sender": "@a:localhost", "content": {}},
            message("@a:localhost", "!vote 1"),
        ]
        accepted = await client.put(
            path, json={"events": events}, headers={"Authorization": "Bearer hs-secret"}
        )
        assert accepted.status == 200
        assert await accepted.json() == {}
        for task in list(service.sending):
            await task
    assert answered == ["!vote 1"]
