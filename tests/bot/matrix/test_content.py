"""Untrusted event content: parsed into typed values or refused, never an exception; and the
real event handler, on a real database, handles the next event whatever came before it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nio import Event

from bot.bot_clock import BotClock, judged_at
from bot.matrix.content import (
    Membership,
    Message,
    PollEnd,
    PollResponse,
    PowerLevels,
    Reaction,
    Redaction,
    parse,
)
from bot.matrix.events import EventHandler
from bot.matrix.roles import ModeratorRoles
from bot.matrix.rooms import invited_as_direct
from handlers import build_registry
from handlers.dispatch import Dispatcher
from handlers.i18n import Catalogue
from handlers.settings import BotSettings
from storage import Database, Store

BOT = "@bot:test.example"
ROOM = "!dm:test.example"
NOW_MS = 1_800_000_000_000


def event(kind: str, content: Any, **extra: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "event_id": f"${abs(hash((kind, repr(content), repr(extra))))}",
        "sender": "@citizen:test.example",
        "origin_server_ts": NOW_MS,
        "content": content,
        **extra,
    }


HOSTILE_RELATIONS: list[Any] = [None, "m.thread", ["$x"], 5, {"rel_type": 5}, {"event_id": 7}]


@pytest.mark.parametrize("relation", HOSTILE_RELATIONS)
def test_a_message_with_a_broken_relation_is_still_a_message(relation: Any) -> None:
    parsed = parse(
        event("m.room.message", {"msgtype": "m.text", "body": "!help", "m.relates_to": relation})
    )
    assert isinstance(parsed, Message)
    assert parsed.body == "!help" and parsed.thread_root is None and not parsed.is_edit


@pytest.mark.parametrize(
    "content",
    [
        None,
        "text",
        {"msgtype": "m.text"},
        {"msgtype": "m.text", "body": 5},
        {"msgtype": 5, "body": "x"},
        {"msgtype": "m.text", "body": ["!help"]},
    ],
)
def test_a_message_without_a_text_body_is_not_for_the_bot(content: Any) -> None:
    assert parse(event("m.room.message", content)) is None


def test_thread_edit_and_mentions() -> None:
    thread = {"rel_type": "m.thread", "event_id": "$root", "m.in_reply_to": "oops"}
    parsed = parse(
        event(
            "m.room.message",
            {"msgtype": "m.text", "body": "x", "m.relates_to": thread, "m.mentions": "all"},
        )
    )
    assert isinstance(parsed, Message) and parsed.thread_root == "$root"
    edit = {"rel_type": "m.replace", "event_id": "$old"}
    edited = parse(
        event("m.room.message", {"msgtype": "m.text", "body": "x", "m.relates_to": edit})
    )
    assert isinstance(edited, Message) and edited.is_edit


@pytest.mark.parametrize(
    "relation",
    [
        None,
        {"rel_type": "m.annotation", "event_id": "$card"},  # no key
        {"rel_type": "m.annotation", "event_id": 5, "key": "👍"},
        {"rel_type": "m.annotation", "event_id": "$card", "key": 1},
        {"rel_type": "m.reference", "event_id": "$card", "key": "👍"},
        "👍",
    ],
)
def test_a_reaction_that_breaks_the_spec_is_not_a_vote(relation: Any) -> None:
    assert parse(event("m.reaction", {"m.relates_to": relation})) is None


def test_a_reaction_and_both_kinds_of_redaction() -> None:
    good = {"rel_type": "m.annotation", "event_id": "$card", "key": "👍"}
    assert parse(event("m.reaction", {"m.relates_to": good})) == Reaction(
        event_id=parse(event("m.reaction", {"m.relates_to": good})).event_id,  # type: ignore[union-attr]
        sender="@citizen:test.example",
        sent_at=datetime.fromtimestamp(NOW_MS / 1000, UTC),
        reacts_to="$card",
        key="👍",
    )
    old_style = parse(event("m.room.redaction", {}, redacts="$r"))
    new_style = parse(event("m.room.redaction", {"redacts": "$r"}))
    assert isinstance(old_style, Redaction) and old_style.redacts == "$r"
    assert isinstance(new_style, Redaction) and new_style.redacts == "$r"
    assert parse(event("m.room.redaction", {"redacts": 5}, redacts=["$r"])) is None


def test_huge_numbers_and_wrong_envelopes_are_refused() -> None:
    assert (
        parse(event("m.room.message", {"msgtype": "m.text", "body": "x"}, origin_server_ts=10**300))
        is None
    )
    assert (
        parse(event("m.room.message", {"msgtype": "m.text", "body": "x"}, origin_server_ts="1"))
        is None
    )
    assert parse(event("m.room.message", {"msgtype": "m.text", "body": "x"}, event_id=5)) is None
    assert parse({"type": "m.room.message"}) is None
    assert parse("not an event") is None


def test_power_levels_keep_the_good_entries() -> None:
    content = {
        "users": {"@a:x": 50, "@b:x": "100", "@c:x": 10**300, "@d:x": True},
        "users_default": "x",
    }
    parsed = parse(event("m.room.power_levels", content, state_key=""))
    assert isinstance(parsed, PowerLevels)
    assert parsed.users == {"@a:x": 50} and parsed.users_default == 0
    assert isinstance(
        parse(event("m.room.power_levels", {"users": None}, state_key="")), PowerLevels
    )


def test_memberships_and_direct_invites() -> None:
    invite = event("m.room.member", {"membership": "invite", "is_direct": True}, state_key=BOT)
    parsed = parse(invite)
    assert isinstance(parsed, Membership) and parsed.is_direct and parsed.member == BOT
    assert (
        parse(event("m.room.member", {"membership": "invite", "is_direct": "yes"}, state_key=BOT))
        is None
    )
    stripped = SimpleNamespace(state_key=BOT, content={"membership": "invite", "is_direct": True})
    assert invited_as_direct([stripped], BOT) is True
    broken = SimpleNamespace(state_key=BOT, content={"membership": "invite", "is_direct": "1"})
    assert invited_as_direct([broken], BOT) is None
    other = SimpleNamespace(state_key="@x:y", content={"membership": "invite", "is_direct": True})
    assert invited_as_direct([other], BOT) is None


def test_a_command_is_judged_when_it_was_sent_within_a_day() -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert judged_at(now - timedelta(hours=3), now) == now - timedelta(hours=3)
    assert judged_at(now + timedelta(minutes=5), now) == now  # from the future: not believed
    assert judged_at(now - timedelta(days=2), now) == now  # too old to believe


def test_moderator_levels_follow_the_timeline() -> None:
    roles = ModeratorRoles(BotSettings(moderation_room="!mod:x", moderator_power_level=50))
    start = datetime(2026, 12, 1, tzinfo=UTC)

    def levels(level: int, at: datetime) -> PowerLevels:
        return PowerLevels(
            event_id=f"$pl{level}",
            sender="@owner:x",
            sent_at=at,
            users={"@helper:x": level},
            users_default=0,
        )

    roles.seed_members({"@helper:x"})
    roles.start_batch(levels(50, start))
    roles.changed(levels(0, start + timedelta(seconds=10)))
    assert roles.is_moderator("@helper:x", start + timedelta(seconds=5))  # before the demotion
    assert not roles.is_moderator("@helper:x", start + timedelta(seconds=11))
    roles.start_batch(None)  # the next batch starts from the last change
    assert not roles.is_moderator("@helper:x", start + timedelta(seconds=5))


def _membership(member: str, membership: str, at: datetime) -> Membership:
    return Membership(
        event_id=f"$m{member}{membership}{at.timestamp()}",
        sender="@owner:x",
        sent_at=at,
        member=member,
        membership=membership,
        previous="join",
        is_direct=False,
    )


def test_a_moderator_by_power_level_must_be_a_joined_member() -> None:
    settings_ = BotSettings(
        moderation_room="!mod:x", moderator_power_level=50, moderators=("@listed:x",)
    )
    roles = ModeratorRoles(settings_)
    start = datetime(2026, 12, 1, tzinfo=UTC)
    state = PowerLevels(
        event_id="$pl",
        sender="@owner:x",
        sent_at=start,
        users={"@helper:x": 50, "@gone:x": 50, "@listed:x": 0},
        users_default=0,
    )
    assert roles.needs_members
    roles.start_batch(state)
    # Before the members are read, a power level alone makes nobody a moderator.
    assert not roles.is_moderator("@helper:x", start)
    roles.seed_members({"@helper:x", "@listed:x"})
    assert not roles.needs_members
    assert roles.is_moderator("@helper:x", start)
    assert not roles.is_moderator("@gone:x", start)  # level 50, but not in the room
    assert roles.current() == frozenset({"@helper:x", "@listed:x"})

    # Banned ten seconds in: a moderator before, none from then on, with the level untouched.
    roles.member_changed(_membership("@helper:x", "ban", start + timedelta(seconds=10)))
    assert roles.is_moderator("@helper:x", start + timedelta(seconds=5))
    assert not roles.is_moderator("@helper:x", start + timedelta(seconds=11))
    assert roles.current() == frozenset({"@listed:x"})  # the config list needs no membership
    roles.start_batch(None)
    assert not roles.is_moderator("@helper:x", start + timedelta(seconds=5))

    # A kick or a leave is the same; joining again (still at level 50) makes them one again.
    roles.member_changed(_membership("@helper:x", "join", start + timedelta(seconds=20)))
    assert roles.is_moderator("@helper:x", start + timedelta(seconds=21))
    roles.start_batch(None, [_membership("@helper:x", "leave", start + timedelta(seconds=30))])
    assert not roles.is_moderator("@helper:x", start + timedelta(seconds=31))
    assert roles.is_moderator("@listed:x", start + timedelta(seconds=31))

    roles.forget_members()  # the bot joined again: members are read anew
    assert roles.needs_members


POLL = {"rel_type": "m.reference", "event_id": "$poll"}


@pytest.mark.parametrize(
    ("kind", "content", "answers"),
    [
        # Element Web and Element X: the unstable type and block.
        (
            "org.matrix.msc3381.poll.response",
            {"m.relates_to": POLL, "org.matrix.msc3381.poll.response": {"answers": ["a"]}},
            ("a",),
        ),
        # The stable form of MSC3381, and the draft's block that matrix-js-sdk reads.
        ("m.poll.response", {"m.relates_to": POLL, "m.selections": ["b", "a"]}, ("b", "a")),
        ("m.poll.response", {"m.relates_to": POLL, "m.poll.response": {"answers": []}}, ()),
        ("org.matrix.msc3381.poll.response", {"m.relates_to": POLL, "m.selections": []}, ()),
    ],
)
def test_poll_responses_under_every_name(
    kind: str, content: dict[str, Any], answers: tuple[str, ...]
) -> None:
    parsed = parse(event(kind, content))
    assert isinstance(parsed, PollResponse)
    assert (parsed.poll, parsed.answers, parsed.sent_ms) == ("$poll", answers, NOW_MS)


@pytest.mark.parametrize("kind", ["org.matrix.msc3381.poll.end", "m.poll.end"])
def test_poll_ends_under_both_names(kind: str) -> None:
    parsed = parse(event(kind, {"m.relates_to": POLL, "m.text": [{"body": "Ended"}]}))
    assert isinstance(parsed, PollEnd) and parsed.poll == "$poll"


RESPONSE = "org.matrix.msc3381.poll.response"


@pytest.mark.parametrize(
    ("kind", "content"),
    [
        (RESPONSE, {RESPONSE: {"answers": ["a"]}}),  # no relation
        (RESPONSE, {"m.relates_to": None, RESPONSE: {"answers": ["a"]}}),
        (RESPONSE, {"m.relates_to": "$poll", RESPONSE: {"answers": ["a"]}}),
        (
            RESPONSE,
            {"m.relates_to": {**POLL, "rel_type": "m.annotation"}, RESPONSE: {"answers": ["a"]}},
        ),
        (RESPONSE, {"m.relates_to": {**POLL, "event_id": 5}, RESPONSE: {"answers": ["a"]}}),
        (RESPONSE, {"m.relates_to": POLL, RESPONSE: {"answers": "a"}}),
        (RESPONSE, {"m.relates_to": POLL, RESPONSE: {"answers": [1]}}),
        (RESPONSE, {"m.relates_to": POLL, RESPONSE: {"answers": None}}),
        (RESPONSE, {"m.relates_to": POLL, RESPONSE: []}),
        (RESPONSE, {"m.relates_to": POLL}),  # no answers at all
        ("m.poll.response", {"m.relates_to": POLL, "m.selections": {"a": 1}}),
        ("m.poll.end", {"m.relates_to": {"event_id": "$poll"}}),
        ("org.matrix.msc3381.poll.end", {"org.matrix.msc3381.poll.end": {}}),
    ],
)
def test_a_malformed_poll_event_is_logged_and_skipped(
    kind: str, content: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="bot.matrix.content"):
        assert parse(event(kind, content)) is None
    assert any(kind in record.getMessage() for record in caplog.records)


# -- the real event handler, fed whatever a room member could send ---------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**200), max_value=10**200)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
known_keys = st.sampled_from(
    [
        "msgtype",
        "body",
        "m.relates_to",
        "rel_type",
        "event_id",
        "key",
        "m.in_reply_to",
        "m.mentions",
        "redacts",
        "membership",
        "is_direct",
        "users",
        "org.matrix.msc3381.poll.response",
        "m.poll.response",
        "m.selections",
        "answers",
    ]
)
contents = st.dictionaries(
    known_keys,
    json_values
    | st.just("m.annotation")
    | st.just("m.reference")
    | st.just("👍")
    | st.just("!vote 1"),
    max_size=5,
)
kinds = st.sampled_from(
    [
        "m.room.message",
        "m.reaction",
        "m.room.redaction",
        "m.room.member",
        "m.room.power_levels",
        "org.matrix.msc3381.poll.response",
        "m.poll.response",
        "org.matrix.msc3381.poll.end",
        "m.poll.end",
    ]
)


class _Room:
    room_id = ROOM
    member_count = 2
    encrypted = False


class _Client:
    user_id = BOT
    rooms: ClassVar[dict[str, Any]] = {}

    async def room_typing(self, *_args: Any, **_kwargs: Any) -> None:
        return None


class _Rooms:
    async def is_direct(self, room: Any, user_id: str) -> bool:
        return True


@pytest.fixture
async def handler(tmp_path: Path) -> Any:
    db = Database(tmp_path / "bot.sqlite3")
    await db.open()
    store = Store(db)
    settings_ = BotSettings()
    dispatcher = Dispatcher(build_registry(), store, Catalogue(), settings_)
    client: Any = _Client()
    rooms: Any = _Rooms()
    yield EventHandler(
        client, store, dispatcher, rooms, ModeratorRoles(settings_), wake_outbox=lambda: None
    )
    await db.close()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(kind=kinds, content=contents | json_values)
async def test_no_content_stops_the_next_command(handler: Any, kind: str, content: Any) -> None:
    source = {
        "type": kind,
        "event_id": f"$hostile{uuid.uuid4().hex}",
        "sender": "@mallory:test.example",
        "origin_server_ts": NOW_MS,
        "content": content,
        "state_key": "",
    }
    await handler.handle(_Room(), Event.parse_event(source))
    await handler.handle(_Room(), SimpleNamespace(source=source))  # as we read it, nio aside
    follow = {
        "type": "m.room.message",
        "event_id": f"$next{uuid.uuid4().hex}",
        "sender": f"@citizen{uuid.uuid4().hex[:8]}:test.example",
        "origin_server_ts": NOW_MS,
        "content": {"msgtype": "m.text", "body": "!help"},
    }
    assert await handler.handle(_Room(), Event.parse_event(follow)) is True
    async with handler.store.db.transaction():
        assert await handler.store.state.is_handled(follow["event_id"])


async def test_on_a_moved_clock_a_command_sent_now_is_judged_now(tmp_path: Path) -> None:
    """A test that moves the bot's clock moves the homeserver's timestamps with it: a command
    sent a second ago counts as sent a second before the bot's "now", not as a day earlier."""
    db = Database(tmp_path / "bot.sqlite3")
    await db.open()
    try:
        store = Store(db)
        settings_ = BotSettings()
        clock = BotClock()
        clock.set(datetime(2030, 6, 30, 21, 30, tzinfo=UTC))
        assert abs(clock() - datetime(2030, 6, 30, 21, 30, tzinfo=UTC)) < timedelta(seconds=1)
        dispatcher = Dispatcher(build_registry(), store, Catalogue(), settings_, clock)
        judged: list[datetime | None] = []

        async def judge(sender: Any, _body: str) -> None:
            judged.append(sender.sent_at)

        dispatcher.handle_message = judge  # type: ignore[method-assign]
        client: Any = _Client()
        rooms: Any = _Rooms()
        handler = EventHandler(
            client,
            store,
            dispatcher,
            rooms,
            ModeratorRoles(settings_),
            wake_outbox=lambda: None,
            clock=clock,
        )
        sent = datetime.now(UTC) - timedelta(seconds=1)
        source = {
            "type": "m.room.message",
            "event_id": "$sent-a-second-ago",
            "sender": "@citizen:test.example",
            "origin_server_ts": int(sent.timestamp() * 1000),
            "content": {"msgtype": "m.text", "body": "!challenges"},
        }
        await handler.handle(_Room(), Event.parse_event(source))
        (at,) = judged
        assert at is not None
        assert abs(at - (sent + clock.offset)) < timedelta(milliseconds=2)
        assert BotClock().of_homeserver(sent) == sent  # unmoved, as the bot runs
    finally:
        await db.close()
