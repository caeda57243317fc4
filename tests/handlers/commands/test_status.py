"""``!status`` and the dispatcher's command observer, at handler level: no Matrix, no metrics
library. The figures come from a provider the test hands the dispatcher, as the bot does."""

from __future__ import annotations

from dataclasses import replace

import pytest

from handlers.health import StatusFigures
from tests.handler_support import ALICE, MODERATION_ROOM, MODERATOR, Harness, new_challenge, says

WELL = StatusFigures(
    sync_lag_seconds=3.4,
    sync_current=True,
    homeserver_up=True,
    failed_tasks=(),
    events_handled=120,
    commands=80,
    command_errors=1,
    mean_latency_ms=4.25,
    outbox_pending=2,
    outbox_oldest_seconds=1.6,
    send_failures=5,
    gap_fills=3,
    undecryptable=4,
    database_bytes=1_500_000,
)


def provide(bot: Harness, figures: StatusFigures) -> None:
    async def status() -> StatusFigures:
        return figures

    bot.dispatcher.status = status


async def test_a_moderator_sees_the_figures_in_dutch_in_the_moderation_room(bot: Harness) -> None:
    provide(bot, WELL)

    reply = await bot.ask(MODERATOR, "!status", room=MODERATION_ROOM, direct=False, moderator=True)

    assert reply.split("\n") == [
        says("nl", "health.ok"),
        says("nl", "health.sync", seconds=3),
        says("nl", "health.events", count=120, latency="4,2"),
        says("nl", "health.commands", count=80, errors=1),
        says("nl", "health.outbox", count=2, seconds=2),
        says("nl", "health.send_failures", count=5),
        says("nl", "health.gaps", gaps=3, undecryptable=4),
        says("nl", "health.database", megabytes="1,5"),
    ]


async def test_the_dutch_alias_and_english_for_a_moderator_who_chose_it(bot: Harness) -> None:
    provide(bot, replace(WELL, outbox_pending=0, outbox_oldest_seconds=None))
    await bot.ask(MODERATOR, "!lang en", moderator=True)

    reply = await bot.ask(MODERATOR, "!toestand", moderator=True)  # in a direct chat

    lines = reply.split("\n")
    assert lines[0] == says("en", "health.ok")
    assert says("en", "health.outbox_empty") in lines
    assert says("en", "health.events", count=120, latency="4.2") in lines
    assert says("en", "health.database", megabytes="1.5") in lines


async def test_what_is_wrong_comes_first(bot: Harness) -> None:
    provide(
        bot,
        replace(
            WELL,
            sync_lag_seconds=95.0,
            sync_current=False,
            homeserver_up=False,
            failed_tasks=("cards",),
        ),
    )

    reply = await bot.ask(MODERATOR, "!status", moderator=True)

    assert reply.split("\n")[:4] == [
        says("nl", "health.not_ok"),
        says("nl", "health.homeserver_down"),
        says("nl", "health.sync_stale", seconds=95),
        says("nl", "health.task_failed", task="cards"),
    ]


async def test_before_the_first_sync(bot: Harness) -> None:
    provide(bot, replace(WELL, sync_lag_seconds=None, sync_current=False, mean_latency_ms=None))

    reply = await bot.ask(MODERATOR, "!status", moderator=True)

    lines = reply.split("\n")
    assert lines[:2] == [says("nl", "health.not_ok"), says("nl", "health.no_sync")]
    assert says("nl", "health.events", count=120, latency=None) in lines


async def test_only_for_moderators_and_only_where_no_one_else_reads(bot: Harness) -> None:
    provide(bot, WELL)
    await new_challenge(bot)

    citizen = await bot.ask(ALICE, "!status")
    in_public = await bot.ask(
        MODERATOR, "!status", room="!mobility:city.example", direct=False, moderator=True
    )

    assert citizen == says("nl", "error.moderators_only", command="!toestand")
    assert in_public == says("nl", "moderation.ask_elsewhere")


async def test_a_bot_without_figures_says_so(bot: Harness) -> None:
    reply = await bot.ask(MODERATOR, "!status", moderator=True)

    assert reply == says("nl", "health.unavailable")


async def test_every_command_is_observed_with_its_outcome(bot: Harness) -> None:
    seen: list[tuple[str, str]] = []

    def observe(command: str, outcome: str, seconds: float) -> None:
        assert seconds >= 0
        seen.append((command, outcome))

    bot.dispatcher.observe = observe
    await new_challenge(bot)
    await bot.ask(ALICE, "!challenges")
    await bot.ask(ALICE, "!vote")
    await bot.ask(ALICE, "!vote 999")
    await bot.ask(ALICE, "!queue")
    await bot.ask(ALICE, "!frobnicate")
    assert await bot.send(ALICE, "just chatting", direct=False) is None

    assert seen == [
        ("challenge.new", "ok"),
        ("challenges", "ok"),
        ("vote", "usage"),
        ("vote", "refused"),
        ("queue", "refused"),
        ("unknown", "unknown"),
    ]


async def test_an_unexpected_failure_is_observed_as_an_error(
    bot: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, str]] = []
    bot.dispatcher.observe = lambda command, outcome, _seconds: seen.append((command, outcome))

    async def broken(_user_id: str) -> list[object]:
        raise RuntimeError("the disk is gone")

    monkeypatch.setattr(bot.store.ideas, "by_author", broken)
    await bot.ask(ALICE, "!mine")

    assert seen == [("mine", "error")]
