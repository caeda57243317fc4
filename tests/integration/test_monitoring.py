"""/healthz and /metrics against a real Synapse that the test starts, stops and starts again:
503 while the homeserver is away, 200 once it is back; the metrics read with
prometheus_client's own parser show the commands people sent."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.config import MetricsSettings
from devtools.homeserver import Homeserver
from handlers.i18n import Catalogue
from tests.matrix_support import PASSWORD, Person, bot_config, start_bot, unique

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def get(session: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with session.get(url) as response:
        return response.status, await response.text()


async def poll_health(
    session: aiohttp.ClientSession, url: str, status: int, timeout: float
) -> tuple[float, str]:
    """Seconds until ``/healthz`` answers ``status``, and its text then."""
    began = time.monotonic()
    while True:
        answer, body = await get(session, url)
        if answer == status:
            return time.monotonic() - began, body
        if time.monotonic() - began > timeout:
            raise AssertionError(f"/healthz still {answer} ({body!r}) after {timeout} s")
        await asyncio.sleep(0.2)


async def test_healthz_is_503_while_the_homeserver_is_down_and_200_after(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = Homeserver(tmp_path / "synapse")
    server.start()
    try:
        bot_user = server.register_user(unique("bot"), PASSWORD)
        moderator = await Person.create(server, "moderator")
        citizen = await Person.create(server, "citizen")
        port = free_port()
        config = bot_config(server, bot_user, tmp_path, moderators=(moderator.user_id,))
        config = config.model_copy(update={"metrics": MetricsSettings(enabled=True, port=port)})
        bot = await start_bot(config)
        base = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as session:
                room = await citizen.direct_chat_with(bot_user)
                await citizen.ask(room, "!challenges")
                moderation = await moderator.direct_chat_with(bot_user)
                status = await moderator.ask(moderation, "!status")
                assert Catalogue().plain("nl", "health.ok") in status.content["body"]
                await poll_health(session, f"{base}/healthz", 200, timeout=10)

                answer, exposition = await get(session, f"{base}/metrics")
                assert answer == 200
                read = {
                    (sample.name, tuple(sorted(sample.labels.items()))): sample.value
                    for family in text_string_to_metric_families(exposition)
                    for sample in family.samples
                }
                commands = "challenge_bot_commands_total"
                assert read[(commands, (("command", "challenges"), ("outcome", "ok")))] >= 1
                assert read[(commands, (("command", "status"), ("outcome", "ok")))] >= 1
                assert read[("challenge_bot_events_handled_total", (("kind", "message"),))] >= 2
                assert isinstance(read[("challenge_bot_outbox_depth", ())], float)
                assert read[("challenge_bot_database_bytes", ())] > 0
                assert 0 <= read[("challenge_bot_sync_lag_seconds", ())] < 5

                # In a thread: the bot goes on meanwhile, as it would beside a real homeserver.
                await asyncio.to_thread(server.stop)
                stopped = time.monotonic()
                turned_503, reasons = await poll_health(session, f"{base}/healthz", 503, 10)
                assert "homeserver unreachable" in reasons
                await asyncio.sleep(max(0.0, 5 - (time.monotonic() - stopped)))
                await asyncio.to_thread(server.start)
                turned_200, _ = await poll_health(session, f"{base}/healthz", 200, 15)

                answered = await citizen.ask(room, "!challenges")
                assert answered.sender == bot_user
                assert not bot.task.done()
                with capsys.disabled():
                    sys.stdout.write(
                        f"\n[health] /healthz 503 {turned_503:.1f} s after the homeserver "
                        f"stopped; 200 {turned_200:.1f} s after it was back\n"
                    )
        finally:
            await bot.stop()
            await citizen.close()
            await moderator.close()
    finally:
        server.stop()
