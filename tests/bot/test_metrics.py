"""Metrics, health and the HTTP endpoint without a homeserver: a real database, a fake
client for the reachability probe, and /metrics read with prometheus_client's own parser."""

from __future__ import annotations

import asyncio
import logging
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.healthcheck import Health
from bot.matrix.homeserver_errors import HomeserverReachability
from bot.metrics import Metrics
from bot.monitoring import MonitoringServer
from storage import Store

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


class _Answer:
    status = 200

    async def __aenter__(self) -> _Answer:
        return self

    async def __aexit__(self, *_exception: object) -> None:
        return None


class FakeClient:
    """Answers the reachability probe while ``up``."""

    def __init__(self) -> None:
        self.up = True

    async def send(self, *_args: Any, **_kwargs: Any) -> _Answer:
        if not self.up:
            raise ConnectionRefusedError("homeserver stopped")
        return _Answer()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def samples(exposition: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a text exposition, by name and labels, as Prometheus would read it."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


async def test_the_outbox_summary_counts_only_rows_waiting(store: Store) -> None:
    async with store.db.transaction():
        assert await store.outbox.pending_summary() == (0, None)
        first = await store.outbox.enqueue("message", {}, NOW, room_id="!a:x")
        await store.outbox.enqueue("message", {}, NOW + timedelta(seconds=5), room_id="!a:x")
        await store.outbox.enqueue("message", {}, NOW + timedelta(seconds=9), room_id="!b:x")
        await store.outbox.mark_done(first, NOW)

        summary = await store.outbox.pending_summary()

    assert summary.waiting == 2
    assert summary.oldest == NOW + timedelta(seconds=5)


async def test_refresh_reads_the_outbox_and_the_files(store: Store) -> None:
    metrics = Metrics()
    async with store.db.transaction():
        await store.outbox.enqueue("message", {}, NOW, room_id="!a:x")

    figures = await metrics.refresh(store, now=NOW + timedelta(seconds=42))
    read = samples(metrics.exposition().decode())

    assert figures.outbox_pending == 1
    assert figures.outbox_oldest_seconds == 42
    assert figures.database_bytes == store.db.size_bytes() > 0
    assert read[("challenge_bot_outbox_depth", ())] == 1
    assert read[("challenge_bot_outbox_oldest_seconds", ())] == 42
    assert read[("challenge_bot_database_bytes", ())] == figures.database_bytes
    assert read[("challenge_bot_sync_lag_seconds", ())] == -1  # no sync yet


async def test_every_metric_is_parsed_by_prometheus_client(store: Store) -> None:
    metrics = Metrics()
    metrics.events_handled.labels("message").inc(3)
    metrics.handler_seconds.labels("message").observe(0.004)
    metrics.observe_command("vote", "ok", 0.002)
    metrics.observe_command("vote", "usage", 0.001)
    metrics.send_failures.labels("unreachable").inc()
    metrics.gap_fills.inc()
    metrics.undecryptable.inc()
    metrics.synced()
    await metrics.refresh(store)

    families = {
        family.name: family
        for family in text_string_to_metric_families(metrics.exposition().decode())
    }
    read = samples(metrics.exposition().decode())

    assert {
        "challenge_bot_events_handled",
        "challenge_bot_handler_seconds",
        "challenge_bot_commands",
        "challenge_bot_command_seconds",
        "challenge_bot_syncs",
        "challenge_bot_sync_lag_seconds",
        "challenge_bot_gap_fills",
        "challenge_bot_undecryptable_events",
        "challenge_bot_outbox_sent",
        "challenge_bot_send_failures",
        "challenge_bot_outbox_depth",
        "challenge_bot_outbox_oldest_seconds",
        "challenge_bot_database_bytes",
    } <= set(families)
    assert families["challenge_bot_handler_seconds"].type == "histogram"
    assert read[("challenge_bot_events_handled_total", (("kind", "message"),))] == 3
    assert read[("challenge_bot_commands_total", (("command", "vote"), ("outcome", "ok")))] == 1
    assert read[("challenge_bot_send_failures_total", (("class", "unreachable"),))] == 1
    assert read[("challenge_bot_handler_seconds_count", (("kind", "message"),))] == 1
    assert 0 <= read[("challenge_bot_sync_lag_seconds", ())] < 5
    assert metrics.total(metrics.commands) == 2
    assert metrics.total(metrics.commands, outcome="usage") == 1


async def test_two_bots_count_apart() -> None:
    first, second = Metrics(), Metrics()
    first.gap_fills.inc()

    assert first.total(first.gap_fills) == 1
    assert second.total(second.gap_fills) == 0


async def test_health_follows_the_sync_the_homeserver_and_the_tasks(store: Store) -> None:
    client = FakeClient()
    reachability = HomeserverReachability(client, interval=0.02)  # type: ignore[arg-type]
    metrics = Metrics()
    health = Health(metrics, reachability, store, sync_timeout_ms=0, tasks=("delivery", "cards"))
    stop = asyncio.Event()
    try:
        assert health.problems() == [
            "no sync yet",
            "background task cards: not started",
            "background task delivery: not started",
        ]
        metrics.synced()
        health.task_running("delivery")
        health.task_running("cards")
        assert health.problems() == []

        health.task_failed("cards", "abcd1234")
        assert health.problems() == ["background task cards: failed (ref abcd1234), restarting"]
        health.task_running("cards")

        client.up = False
        stop.set()  # report the outage without waiting for its end
        await reachability.outage("ConnectionRefusedError", stop)
        assert health.problems() == ["homeserver unreachable"]
        figures = await health.figures()
        assert not figures.healthy and not figures.homeserver_up

        client.up = True
        for _ in range(100):
            if reachability.is_up:
                break
            await asyncio.sleep(0.02)
        assert health.problems() == []
        assert (await health.figures()).healthy

        health.stale_after = 0.0  # a sync loop that stopped syncing
        await asyncio.sleep(0.01)
        assert health.problems()[0].startswith("last sync 0 s ago (more than 0 s)")
    finally:
        await reachability.close()


async def test_the_endpoint_serves_healthz_and_metrics(store: Store) -> None:
    client = FakeClient()
    reachability = HomeserverReachability(client, interval=0.02)  # type: ignore[arg-type]
    metrics = Metrics()
    health = Health(metrics, reachability, store, sync_timeout_ms=0, tasks=("delivery",))
    port = free_port()
    server = MonitoringServer(health, "127.0.0.1", port)
    await server.start()
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/healthz") as response:
                assert response.status == 503
                assert await response.text() == (
                    "no sync yet\nbackground task delivery: not started\n"
                )
            metrics.synced()
            health.task_running("delivery")
            async with session.get(f"{base}/healthz") as response:
                assert response.status == 200
                assert await response.text() == "ok\n"
            metrics.observe_command("help", "ok", 0.001)
            async with session.get(f"{base}/metrics") as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/plain; version=")
                read = samples(await response.text())
        assert read[("challenge_bot_commands_total", (("command", "help"), ("outcome", "ok")))] == 1
        assert read[("challenge_bot_outbox_depth", ())] == 0
    finally:
        await server.stop()
        await reachability.close()


async def test_a_malformed_request_is_one_warning_line(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """Anyone who reaches the port can send one; it is no error of the bot's."""
    client = FakeClient()
    reachability = HomeserverReachability(client, interval=0.02)  # type: ignore[arg-type]
    health = Health(Metrics(), reachability, store, sync_timeout_ms=0, tasks=())
    port = free_port()
    server = MonitoringServer(health, "127.0.0.1", port)
    await server.start()
    try:
        caplog.clear()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
        await writer.drain()
        answer = await reader.read(100)
        writer.close()
        assert answer.startswith(b"HTTP/1.0 400")
        async with (  # and it goes on serving
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/metrics") as response,
        ):
            assert response.status == 200
    finally:
        await server.stop()
        await reachability.close()
    logged = [record for record in caplog.records if record.name.startswith(("aiohttp", "bot"))]
    problems = [record for record in logged if record.levelno >= logging.WARNING]
    assert [record.levelno for record in problems] == [logging.WARNING]
    assert problems[0].exc_info is None
    assert "\n" not in problems[0].getMessage()
    assert "Invalid header token" in problems[0].getMessage()
