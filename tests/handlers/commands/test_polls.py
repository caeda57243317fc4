"""The final poll without a homeserver: who may start one and with which answers, the counting
rule (against a simple model, for any order of arrival), the end by hand and by the schedule
(once, across restarts), and where the result shows: !stats, the export, !forget."""

from __future__ import annotations

import csv
import io
import itertools
import json
import random
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.matrix.events import EventHandler
from bot.matrix.poll_events import end_content, start_content
from bot.matrix.roles import ModeratorRoles
from bot.matrix.sync import handled_ids_horizon
from bot.sweeper import Sweeper
from handlers.dispatch import Dispatcher
from handlers.effects import Announce, EndPoll, SendRoom, StartPoll
from handlers.export import export_data, to_csv
from handlers.programme import to_instant
from storage import Database, PollResult, Store
from storage.timestamps import to_ms
from tests.handler_support import (
    ALICE,
    BOB,
    CAROL,
    MODERATION_ROOM,
    MODERATOR,
    START,
    Harness,
    catalogue,
    effects_of,
    new_challenge,
    open_harness,
    says,
    submit,
    text,
)
from tests.poll_support import POLL_EVENT, ROOM, answer, start, verified, verifying

SCHEMA = json.loads((Path(__file__).parents[3] / "docs" / "export.schema.json").read_text())
T0 = to_ms(START)


class _Waker:
    def wake(self) -> None:
        pass


async def accepted(bot: Harness, author: str, title: str, slug: str = "mobility") -> int:
    idea = await submit(bot, author, title, slug=slug)
    await bot.say(MODERATOR, f"!accept {idea}", moderator=True)
    return idea


async def latest(bot: Harness, challenge_id: int = 1) -> PollResult:
    async with bot.db.transaction():
        found = await bot.store.polls.latest_result(challenge_id)
    assert found is not None
    return found


def counts(result: PollResult) -> dict[int, int]:
    return {answer.idea_id: answer.count for answer in result.answers}


async def test_a_poll_starts_among_the_accepted_ideas_that_everyone_sees(tmp_path: Path) -> None:
    async with open_harness(tmp_path) as bot:
        await new_challenge(bot)
        first = await accepted(bot, ALICE, "Protected lanes")
        await submit(bot, BOB, "Not triaged yet")
        hidden = await accepted(bot, CAROL, "Accepted, then hidden")
        await bot.say(MODERATOR, f"!hide {hidden} checking", moderator=True)
        second = await accepted(bot, BOB, "Bike parking")
        outcome = await bot.say(MODERATOR, "!peiling mobility", moderator=True)
        (effect,) = effects_of(outcome, StartPoll)
        assert effect.room_id == ROOM
        assert effect.question == says("nl", "poll.question", title="Safer bike lanes")
        assert effect.answers == (
            (f"idea-{first}", f"#{first} Protected lanes"),
            (f"idea-{second}", f"#{second} Bike parking"),
        )
        assert "2" in text(outcome.reply)
        async with bot.db.transaction():
            running = await bot.store.polls.running(1)
        assert running is not None and running.start_event_id is None  # not sent yet
        # Named ideas, in the order named, each once.
        await bot.say(MODERATOR, "!poll end mobility", moderator=True)
        named = await bot.say(
            MODERATOR, f"!poll mobility #{second} {first} {second}", moderator=True
        )
        (effect,) = effects_of(named, StartPoll)
        assert [answer_id for answer_id, _text in effect.answers] == [
            f"idea-{second}",
            f"idea-{first}",
        ]


async def test_a_poll_is_refused_politely_and_changes_nothing(tmp_path: Path) -> None:
    async with open_harness(tmp_path) as bot:
        await new_challenge(bot)
        await new_challenge(bot, "climate", title="Cooler streets")
        none = await bot.ask(MODERATOR, "!poll mobility", moderator=True)
        assert none == says("nl", "poll.no_ideas", slug="mobility")
        first = await accepted(bot, ALICE, "Protected lanes")
        new = await submit(bot, BOB, "Not triaged yet")
        elsewhere = await accepted(bot, CAROL, "Shade", slug="climate")
        refused = await bot.ask(
            MODERATOR, f"!poll mobility {first} {new} {elsewhere} 999", moderator=True
        )
        assert refused == says(
            "nl", "poll.not_accepted", slug="mobility", ids=f"#{new}, #{elsewhere}, #999"
        )
        bad = await bot.ask(MODERATOR, "!poll mobility first", moderator=True)
        assert says("nl", "error.bad_idea", value="first") in bad
        citizen = await bot.say(ALICE, "!poll mobility")
        assert not citizen.effects
        async with bot.db.transaction():
            assert await bot.store.polls.latest(1) is None
        for index in range(20):
            await accepted(bot, f"@citizen{index}:city.example", f"Idea {index}")
        too_many = await bot.ask(MODERATOR, "!poll mobility", moderator=True)
        assert too_many == says("nl", "poll.too_many", count=21, limit=20)
        await start(bot, str(first))
        twice = await bot.ask(MODERATOR, "!poll mobility", moderator=True)
        assert twice == says(
            "nl", "poll.running", slug="mobility", command="!peiling einde mobility"
        )
        no_room = await bot.say(
            MODERATOR,
            "!challenge new --deadline=2099-12-31 parks Parks\nMore green",
            moderator=True,
        )
        assert no_room.effects
        assert await bot.ask(MODERATOR, "!poll parks", moderator=True) == says(
            "nl", "poll.no_room", slug="parks"
        )
        await bot.say(MODERATOR, "!challenge close climate", moderator=True)
        closed = await bot.ask(MODERATOR, f"!poll climate {elsewhere}", moderator=True)
        assert closed == says("nl", "poll.closed", slug="climate")


async def test_one_response_per_person_the_latest_counts_and_the_end_freezes_it(
    tmp_path: Path,
) -> None:
    async with open_harness(tmp_path) as bot:
        await new_challenge(bot)
        first = await accepted(bot, ALICE, "Protected lanes")
        second = await accepted(bot, BOB, "Bike parking")
        one, two = f"idea-{first}", f"idea-{second}"
        await start(bot)
        await answer(bot, ALICE, (one,), T0 + 1)
        await answer(bot, BOB, (two,), T0 + 5)
        await answer(bot, BOB, (one,), T0 + 3)  # arrives later, was sent earlier: not counted
        await answer(bot, CAROL, (two,), T0 + 1)
        await answer(bot, CAROL, (), T0 + 2)  # withdrawn
        await answer(bot, MODERATOR, (two, one), T0 + 1)  # one answer each: the first
        await answer(bot, "@dave:city.example", ("idea-999",), T0 + 1)  # not in the poll
        await answer(bot, "@erin:city.example", (one,), T0 + 1, room="!other:city.example")
        await answer(bot, "@mallory:city.example", (one,), T0 + 1)
        await bot.say(MODERATOR, "!block @mallory:city.example spam", moderator=True)
        running = await latest(bot)
        assert running.ended_at is None
        assert (running.voters, counts(running)) == (3, {first: 1, second: 2})

        bot.clock.advance(minutes=5)
        outcome = await bot.say(
            MODERATOR, "!poll einde mobility", room=MODERATION_ROOM, direct=False, moderator=True
        )
        (end,) = effects_of(outcome, EndPoll)
        (posted,) = effects_of(outcome, SendRoom)
        assert effects_of(outcome, Announce) == []  # the reply is in the moderation room
        assert end.room_id == posted.room_id == ROOM
        reply = text(outcome.reply)
        assert says("nl", "poll.result_header", title="Safer bike lanes", count=3) in reply
        assert says("nl", "poll.result_top", title="Bike parking") in reply
        assert reply.index("Bike parking") < reply.index("Protected lanes")

        await answer(bot, CAROL, (one,), to_ms(bot.clock()) - 1000)  # too late, however sent
        await bot.say(MODERATOR, "!unblock @mallory:city.example", moderator=True)
        final = await latest(bot)
        assert final.ended_at == bot.clock()
        assert (final.voters, counts(final)) == (3, {first: 1, second: 2})
        again = await bot.ask(MODERATOR, "!poll end mobility", moderator=True)
        assert again == says("nl", "poll.none_running", slug="mobility")


@dataclass(frozen=True)
class Sent:
    voter: int  # an account: see ACCOUNTS
    at: int  # ms after the start
    answer: int | None  # index into the answers, or None for an empty response
    spoiled: bool  # names an answer the poll does not have


#: (account, keyed hash of its verified identity): Alice and Bob are one verified person with
#: two accounts; Carol is on the listed server, unverified; Dave is elsewhere, unverified.
ACCOUNTS = (
    (ALICE, "jana"),
    (BOB, "jana"),
    (CAROL, None),
    ("@dave:elsewhere.example", None),
)
#: Which accounts may take part in a challenge open to each.
ELIGIBLE = {"anyone": {0, 1, 2, 3}, "listed": {0, 1, 2}, "verified": {0, 1}}


def person_of(voter: int) -> str:
    account, identity = ACCOUNTS[voter]
    return identity or account


SENT = st.builds(
    Sent,
    voter=st.integers(0, 3),
    at=st.integers(0, 40),
    answer=st.none() | st.integers(0, 2),
    spoiled=st.booleans(),
)


def model(
    responses: list[Sent], end: int, blocked: set[int], eligibility: str
) -> tuple[int, list[int]]:
    """MSC3381 as plainly as possible, with people for accounts: per person (linked accounts
    are one), the latest response sent by the end (ties by arrival, which the arrivals below do
    not depend on: each is unique per person and time); an empty or spoiled one chooses
    nothing; one from a blocked account, or from an account that may not take part in the
    challenge, counts for nothing."""
    latest: dict[str, Sent] = {}
    for response in sorted(responses, key=lambda r: r.at):
        if response.at <= end:
            latest[person_of(response.voter)] = response
    chosen = [
        r.answer
        for r in latest.values()
        if r.voter not in blocked
        and r.voter in ELIGIBLE[eligibility]
        and not r.spoiled
        and r.answer is not None
    ]
    return len(chosen), [chosen.count(index) for index in range(3)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    responses=st.lists(SENT, max_size=14, unique_by=lambda r: (person_of(r.voter), r.at)),
    order=st.randoms(use_true_random=False),
    end=st.integers(0, 40),
    blocked=st.sets(st.integers(0, 3), max_size=2),
    eligibility=st.sampled_from(sorted(ELIGIBLE)),
)
async def test_the_counting_rule_matches_a_simple_model_in_any_order(
    responses: list[Sent], order: random.Random, end: int, blocked: set[int], eligibility: str
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        # The poll ends by itself at the challenge's deadline, ``end`` ms after the start.
        deadline = START + timedelta(milliseconds=end)
        async with open_harness(Path(directory)) as bot:
            verifying(bot)
            await new_challenge(bot)
            ideas = [await accepted(bot, ALICE, f"Idea {index}") for index in range(3)]
            await start(bot)
            async with bot.db.transaction():
                await bot.db.execute(
                    "UPDATE challenges SET submission_deadline_at = ?, eligibility = ?",
                    (deadline.isoformat(), eligibility),
                )
            for account in blocked:
                await bot.say(MODERATOR, f"!block {ACCOUNTS[account][0]} spam", moderator=True)
            arrivals = list(responses)
            order.shuffle(arrivals)
            for sent in arrivals:
                answers: tuple[str, ...] = ()
                if sent.spoiled:
                    answers = ("idea-999",)
                elif sent.answer is not None:
                    answers = (f"idea-{ideas[sent.answer]}",)
                account, identity = ACCOUNTS[sent.voter]
                await answer(
                    bot, account, answers, T0 + sent.at, verification=verified(account, identity)
                )
            async with bot.db.transaction():
                poll = await bot.store.polls.running(1)
                assert poll is not None
                ended = await bot.store.polls.end(poll.id, deadline)
            assert ended is not None
            voters, by_answer = model(responses, end, blocked, eligibility)
            assert ended.voters == voters
            assert [counts(ended)[idea] for idea in ideas] == by_answer
            assert await latest(bot) == ended  # kept as it was at the end


async def test_the_deadline_ends_the_poll_once_also_across_restarts(tmp_path: Path) -> None:
    deadline = to_instant(START.date() + timedelta(days=3), ZoneInfo("Europe/Brussels"))
    async with open_harness(tmp_path) as bot:
        await new_challenge(bot, options="--deadline=2026-03-05")
        first = await accepted(bot, ALICE, "Protected lanes")
        second = await accepted(bot, BOB, "Bike parking")
        await start(bot)
        await answer(bot, ALICE, (f"idea-{first}",), to_ms(deadline) - 10)
        await answer(bot, BOB, (f"idea-{second}",), to_ms(deadline) - 5)
        await answer(bot, BOB, (f"idea-{first}",), to_ms(deadline) + 5)  # after the deadline
        settings_, registry = bot.settings, bot.dispatcher.registry

    async def sweep_at(moment_offset: timedelta) -> tuple[int, int]:
        """A fresh start of the bot on the same database: what its sweep fires, and how many
        ends of polls the outbox holds then."""
        db = Database(tmp_path / "bot.sqlite3")
        store = Store(db)
        dispatcher = Dispatcher(
            registry, store, catalogue(), settings_, clock=lambda: deadline + moment_offset
        )
        await db.open()
        try:
            fired = await Sweeper(
                dispatcher, _Waker(), handled_horizon=handled_ids_horizon
            ).fire_schedule()  # type: ignore[arg-type]
            ends = int(await db.fetch_value("SELECT COUNT(*) FROM outbox WHERE kind = 'poll_end'"))
            return fired, ends
        finally:
            await db.close()

    assert await sweep_at(timedelta(seconds=-1)) == (1, 0)  # only the reminder
    assert await sweep_at(timedelta(seconds=3)) == (2, 1)  # the closing and the poll's end
    assert await sweep_at(timedelta(seconds=4)) == (0, 1)
    assert await sweep_at(timedelta(days=2)) == (0, 1)
    db = Database(tmp_path / "bot.sqlite3")
    await db.open()
    try:
        async with db.transaction():
            result = await Store(db).polls.latest_result(1)
            rows = [
                row["kind"]
                for row in await db.fetch_all(
                    "SELECT kind FROM outbox WHERE kind LIKE 'poll_%' ORDER BY id"
                )
            ]
    finally:
        await db.close()
    assert result is not None and result.ended_at == deadline
    assert (result.voters, counts(result)) == (2, {first: 1, second: 1})
    assert rows == ["poll_start", "poll_end"]


async def test_stats_export_and_forget_know_the_poll(tmp_path: Path) -> None:
    async with open_harness(tmp_path) as bot:
        await new_challenge(bot)
        first = await accepted(bot, ALICE, "Protected lanes")
        second = await accepted(bot, BOB, "=Bike parking")
        await start(bot)
        await answer(bot, ALICE, (f"idea-{first}",), T0 + 1)
        await answer(bot, BOB, (f"idea-{second}",), T0 + 1)
        stats = await bot.ask(CAROL, "!stats mobility")
        assert says("nl", "stats.poll", count=2) in stats
        async with bot.db.transaction():
            data = await export_data(bot.store)
        jsonschema.validate(data, SCHEMA)
        poll = data["challenges"][0]["poll"]
        assert poll["ended_at"] is None and poll["voters"] == 2
        assert poll["answers"] == [
            {"idea_id": first, "title": "Protected lanes", "count": 1},
            {"idea_id": second, "title": "=Bike parking", "count": 1},
        ]
        rows = list(csv.DictReader(io.StringIO(to_csv(data))))
        assert [row["poll_votes"] for row in rows] == ["1", "1"]

        await bot.say(ALICE, "!forget")
        await bot.say(ALICE, "!forget confirm")
        assert (await latest(bot)).voters == 1
        assert (
            await bot.db.fetch_value(
                "SELECT COUNT(*) FROM poll_responses WHERE voter = ?", (ALICE,)
            )
            == 0
        )
        bot.clock.advance(seconds=1)
        await bot.say(MODERATOR, "!poll end mobility", moderator=True)
        async with bot.db.transaction():
            data = await export_data(bot.store)
        jsonschema.validate(data, SCHEMA)
        assert data["challenges"][0]["poll"]["ended_at"] is not None
        assert says("nl", "stats.poll", count=1) in await bot.ask(
            MODERATOR, "!stats mobility", moderator=True
        )


class _Room:
    room_id = ROOM
    member_count = 3
    encrypted = False


class _Client:
    user_id = "@bot:city.example"

    async def room_typing(self, *_args: object, **_kwargs: object) -> None:
        return None


class _Rooms:
    async def is_direct(self, room: object, user_id: str) -> bool:
        return False


_events = itertools.count(1)


def poll_event(kind: str, sender: str, content: dict[str, object], at: int) -> SimpleNamespace:
    """An event as nio hands it over (decrypted or not): its source is what the bot reads."""
    return SimpleNamespace(
        source={
            "type": kind,
            "event_id": f"$event{next(_events)}",
            "sender": sender,
            "origin_server_ts": at,
            "content": content,
        }
    )


async def test_only_the_bots_own_poll_end_ends_its_poll(tmp_path: Path) -> None:
    async with open_harness(tmp_path) as bot:
        await new_challenge(bot)
        first = await accepted(bot, ALICE, "Protected lanes")
        await start(bot)
        client: Any = _Client()
        rooms: Any = _Rooms()
        handler = EventHandler(
            client,
            bot.store,
            bot.dispatcher,
            rooms,
            ModeratorRoles(bot.settings),
            wake_outbox=lambda: None,
        )
        relation = {"rel_type": "m.reference", "event_id": POLL_EVENT}
        response = {"m.relates_to": relation, "m.selections": [f"idea-{first}"]}
        end = {"m.relates_to": relation, "org.matrix.msc3381.poll.end": {}}
        room: Any = _Room()
        assert await handler.handle(room, poll_event("m.poll.response", ALICE, response, T0 + 1))
        # Anyone else's end, a moderator's too, is not the poll's end.
        for sender in (ALICE, MODERATOR):
            await handler.handle(
                room, poll_event("org.matrix.msc3381.poll.end", sender, end, T0 + 2)
            )
        assert (await latest(bot)).ended_at is None
        assert await handler.handle(room, poll_event("m.poll.end", client.user_id, end, T0 + 3))
        ended = await latest(bot)
        assert ended.ended_at == START + timedelta(milliseconds=3)
        assert (ended.voters, counts(ended)) == (1, {first: 1})
        # The result is said in the room and to the moderators; no second end is sent.
        kinds = [
            (row["kind"], row["room_id"])
            for row in await bot.db.fetch_all("SELECT kind, room_id FROM outbox ORDER BY id")
        ]
        assert ("poll_end", ROOM) not in kinds
        assert kinds[-2:] == [("message", ROOM), ("message", MODERATION_ROOM)]


def test_the_poll_events_have_the_shape_element_reads() -> None:
    content = start_content("Which idea?", [("idea-1", "#1 Lanes"), ("idea-2", "#2 Parking")])
    block = content["org.matrix.msc3381.poll.start"]
    assert block["question"] == {"org.matrix.msc1767.text": "Which idea?"}
    assert block["answers"][1] == {"id": "idea-2", "org.matrix.msc1767.text": "#2 Parking"}
    assert block["kind"] == "org.matrix.msc3381.poll.disclosed" and block["max_selections"] == 1
    assert content["org.matrix.msc1767.text"] == "Which idea?\n1. #1 Lanes\n2. #2 Parking"
    end = end_content("$start", "Ended: #2 Parking")
    assert end["m.relates_to"] == {"rel_type": "m.reference", "event_id": "$start"}
    assert end["org.matrix.msc1767.text"] == "Ended: #2 Parking"
    assert "org.matrix.msc3381.poll.end" in end
