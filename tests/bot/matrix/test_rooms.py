"""Whose direct chat a room is (:func:`bot.matrix.rooms.not_direct_because`, the one rule), and how
often the bot may open a new one for someone who declines them. No homeserver here."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import pytest
from nio import DirectRoomsResponse, MatrixRoom, RoomCreateResponse

from bot.matrix.rooms import NotDirect, RoomFacts, Rooms, not_direct_because
from bot.server import Dropped
from handlers.settings import BotSettings
from storage import Store

BOT = "@bot:city.example"
EVE = "@eve:city.example"
CAROL = "@carol:city.example"
ROOM = "!dm:city.example"
MODERATION = "!moderation:city.example"

JOIN_RULES = ("invite", "private", "public", "knock", "restricted", "knock_restricted")
HISTORY = ("invited", "joined", "shared", "world_readable")
MEMBER_SETS = (
    frozenset(),
    frozenset({BOT}),
    frozenset({CAROL}),
    frozenset({BOT, CAROL}),
    frozenset({BOT, EVE}),
    frozenset({BOT, CAROL, EVE}),
)


def facts(
    members: frozenset[str] = frozenset({BOT, CAROL}),
    *,
    count: int | None = None,
    join_rule: str = "invite",
    history: str = "shared",
    room_id: str = ROOM,
) -> RoomFacts:
    return RoomFacts(
        room_id=room_id,
        members=members,
        member_count=len(members) if count is None else count,
        join_rule=join_rule,
        history_visibility=history,
    )


def test_the_rule_on_every_combination() -> None:
    """Direct exactly when: recorded for the person, not the moderation room, the person in it
    with nobody but the bot, invite-only, and history not world-readable."""
    checked = 0
    for owner, members, extra, join_rule, history, room_id in itertools.product(
        (CAROL, EVE, None),
        MEMBER_SETS,
        (0, 1),  # members the sync has not loaded (lazy loading), counted in the summary
        JOIN_RULES,
        HISTORY,
        (ROOM, MODERATION),
    ):
        room = facts(
            members,
            count=len(members) + extra,
            join_rule=join_rule,
            history=history,
            room_id=room_id,
        )
        expected = (
            owner == CAROL
            and room_id != MODERATION
            and CAROL in members
            and members <= {CAROL, BOT}
            and len(members) + extra <= 2
            and join_rule in ("invite", "private")
            and history != "world_readable"
        )
        found = not_direct_because(
            room, CAROL, owner=owner, bot_user=BOT, moderation_room=MODERATION
        )
        assert (found is None) == expected, (owner, members, extra, join_rule, history, room_id)
        checked += 1
    assert checked == 3 * 6 * 2 * 6 * 4 * 2


@pytest.mark.parametrize(
    ("room", "owner", "reason"),
    [
        (None, CAROL, NotDirect.UNKNOWN),
        (facts(room_id=MODERATION), CAROL, NotDirect.MODERATION_ROOM),
        (facts(), EVE, NotDirect.NOT_THEIRS),  # Eve's borrowed room, Carol left in it
        (facts(), None, NotDirect.NOT_THEIRS),
        (facts(frozenset({BOT})), CAROL, NotDirect.GONE),  # declined or left
        (facts(frozenset({BOT, CAROL, EVE})), CAROL, NotDirect.OTHERS),
        (facts(count=3), CAROL, NotDirect.OTHERS),
        (facts(join_rule="public"), CAROL, NotDirect.JOINABLE),
        (facts(join_rule="knock"), CAROL, NotDirect.JOINABLE),
        (facts(join_rule="restricted"), CAROL, NotDirect.JOINABLE),
        (facts(history="world_readable"), CAROL, NotDirect.WORLD_READABLE),
        (facts(frozenset({CAROL})), CAROL, None),  # the bot's own membership not loaded
        (facts(frozenset({BOT, CAROL}), join_rule="private"), CAROL, None),
        (facts(history="joined"), CAROL, None),
    ],
)
def test_why_a_room_is_not_a_direct_chat(
    room: RoomFacts | None, owner: str | None, reason: NotDirect | None
) -> None:
    found = not_direct_because(room, CAROL, owner=owner, bot_user=BOT, moderation_room=MODERATION)
    assert found is reason


# -- the rule in use: Rooms against a fake client ------------------------------------------


@dataclass
class FakeClient:
    user_id: str = BOT
    rooms: dict[str, MatrixRoom] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    olm: Any = None
    access_token: str = "token"
    asked_members: int = 0
    #: The members as the homeserver has them, where the sync did not load them (a restart).
    server_members: dict[str, dict[str, str]] = field(default_factory=dict)

    async def room_create(self, **options: Any) -> RoomCreateResponse:
        room_id = f"!new{len(self.created)}:city.example"
        self.created.append(room_id)
        room = MatrixRoom(room_id, BOT)
        room.add_member(BOT, None, None)
        for user in options["invite"]:
            room.add_member(user, None, None, invited=True)
        self.rooms[room_id] = room
        return RoomCreateResponse(room_id)

    async def list_direct_rooms(self) -> object:
        return object()  # none listed: an error response, as for an account without any

    async def send(self, method: str, path: str, *_args: Any, **_kwargs: Any) -> Any:
        """``/members``, from the rooms as this fake keeps them; the rest (``m.direct``, a
        courtesy) fails."""
        if method != "GET" or not path.endswith("/members?not_membership=leave"):
            raise ConnectionError("not answered by this fake")
        self.asked_members += 1
        room_id = unquote(path.split("/rooms/")[1].split("/")[0])
        members = self.server_members.get(room_id) or {
            user.user_id: "invite" if user.invited else "join"
            for user in self.rooms[room_id].users.values()
        }
        chunk = [
            {
                "type": "m.room.member",
                "event_id": f"$member{index}",
                "sender": user_id,
                "state_key": user_id,
                "origin_server_ts": 1,
                "content": {"membership": membership},
            }
            for index, (user_id, membership) in enumerate(members.items())
        ]
        return FakeResponse({"chunk": chunk})


@dataclass
class FakeResponse:
    body: dict[str, Any]
    status: int = 200

    async def json(self) -> dict[str, Any]:
        return self.body

    def release(self) -> None:
        pass


def matrix_room(room_id: str, *members: str) -> MatrixRoom:
    room = MatrixRoom(room_id, BOT)
    for member in members:
        room.add_member(member, None, None)
    return room


@dataclass
class Clock:
    now: datetime = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def make_rooms(store: Store, client: FakeClient, clock: Clock) -> Rooms:
    rooms = Rooms(client, store, BotSettings(moderation_room=MODERATION), clock)  # type: ignore[arg-type]
    await rooms.load()
    return rooms


async def test_a_borrowed_direct_chat_is_only_its_inviters(store: Store) -> None:
    """Eve marks a room direct, invites the bot and Carol, and leaves: it is nobody's DM."""
    client, clock = FakeClient(), Clock()
    rooms = await make_rooms(store, client, clock)
    borrowed = matrix_room(ROOM, BOT, EVE, CAROL)
    client.rooms[ROOM] = borrowed
    await rooms.joined(ROOM, EVE, direct=True)
    assert not await rooms.is_direct(borrowed, EVE)  # three in it
    borrowed.remove_member(EVE)
    assert not await rooms.is_direct(borrowed, CAROL)  # two left, but Carol's it never was
    assert not await rooms.is_direct(borrowed, EVE)  # and Eve is gone

    # Personal data for Carol goes to a new room of her own, never to Eve's.
    room_id = await rooms.direct_room_for(CAROL)
    assert room_id != ROOM and client.created == [room_id]
    assert await rooms.is_direct(client.rooms[room_id], CAROL)


async def test_a_direct_chat_that_turns_public_is_replaced(store: Store) -> None:
    client, clock = FakeClient(), Clock()
    rooms = await make_rooms(store, client, clock)
    dm = matrix_room(ROOM, BOT, CAROL)
    client.rooms[ROOM] = dm
    await rooms.joined(ROOM, CAROL, direct=True)
    assert await rooms.is_direct(dm, CAROL)
    assert await rooms.direct_room_for(CAROL) == ROOM

    dm.history_visibility = "world_readable"
    assert not await rooms.is_direct(dm, CAROL)
    replacement = await rooms.direct_room_for(CAROL)
    assert replacement != ROOM and client.created == [replacement]
    async with store.db.transaction():
        assert await store.users.direct_room(CAROL) == replacement
    assert await rooms.direct_room_for(CAROL) == replacement  # and it stays the one


async def test_a_room_recorded_for_two_people_is_nobodys(store: Store) -> None:
    """An older version could record a borrowed room for its inviter and its last writer."""
    async with store.db.transaction():
        await store.users.set_direct_room(EVE, ROOM)
        await store.users.set_direct_room(CAROL, ROOM)
    client = FakeClient()
    client.rooms[ROOM] = matrix_room(ROOM, BOT, CAROL)
    rooms = await make_rooms(store, client, Clock())
    assert not await rooms.is_direct(client.rooms[ROOM], CAROL)


async def test_someone_who_declines_gets_no_new_room_for_a_day(store: Store) -> None:
    client, clock = FakeClient(), Clock()
    rooms = await make_rooms(store, client, clock)
    first = await rooms.direct_room_for(EVE)
    rooms.awaiting_sync.discard(first)
    assert await rooms.direct_room_for(EVE) == first  # invited, not yet answered: the same
    client.rooms[first].remove_member(EVE)  # she declines

    for _ in range(8):
        with pytest.raises(Dropped):
            await rooms.direct_room_for(EVE)
        clock.now += timedelta(hours=2)
    assert client.created == [first]

    # A restart forgets nothing.
    rooms = await make_rooms(store, client, clock)
    with pytest.raises(Dropped):
        await rooms.direct_room_for(EVE)
    clock.now += timedelta(hours=9)  # a day after she declined: one new room
    second = await rooms.direct_room_for(EVE)
    assert client.created == [first, second]
    rooms.awaiting_sync.discard(second)
    client.rooms[second].remove_member(EVE)  # declined again: another day
    clock.now += timedelta(hours=23)
    with pytest.raises(Dropped):
        await rooms.direct_room_for(EVE)
    assert client.created == [first, second]


async def test_at_most_one_new_room_an_hour(store: Store) -> None:
    """A room that stops being private is replaced, but not more than once an hour."""
    client, clock = FakeClient(), Clock()
    rooms = await make_rooms(store, client, clock)
    first = await rooms.direct_room_for(CAROL)
    rooms.awaiting_sync.discard(first)
    client.rooms[first].join_rule = "public"
    clock.now += timedelta(minutes=30)
    with pytest.raises(Dropped):
        await rooms.direct_room_for(CAROL)
    clock.now += timedelta(minutes=31)
    second = await rooms.direct_room_for(CAROL)
    assert client.created == [first, second]


async def test_after_a_restart_the_members_are_asked_for_once(store: Store) -> None:
    """The sync loads members lazily, and after a restart Synapse does not send them again: a
    direct chat must not look empty (nor declined) for that."""
    async with store.db.transaction():
        await store.users.set_direct_room(CAROL, ROOM)
        await store.users.set_direct_room(EVE, "!opened:city.example")
    client, clock = FakeClient(), Clock()
    client.rooms[ROOM] = matrix_room(ROOM)  # nothing loaded
    client.rooms["!opened:city.example"] = matrix_room("!opened:city.example")
    client.server_members[ROOM] = {BOT: "join", CAROL: "join"}
    client.server_members["!opened:city.example"] = {BOT: "join", EVE: "invite"}
    rooms = await make_rooms(store, client, clock)

    assert not await rooms.is_direct(client.rooms[ROOM], EVE)  # not hers: nothing asked
    assert client.asked_members == 0
    assert await rooms.is_direct(client.rooms[ROOM], CAROL)
    assert await rooms.is_direct(client.rooms[ROOM], CAROL)
    assert client.asked_members == 1
    # Eve has not answered the bot's invite yet: still her direct chat, no new one.
    assert await rooms.direct_room_for(EVE) == "!opened:city.example"
    assert client.created == []


@dataclass
class DirectListClient(FakeClient):
    """A fake whose ``m.direct`` is kept, counting its reads and writes; rooms it leaves and
    forgets are noted."""

    direct: dict[str, list[str]] = field(default_factory=dict)
    reads: int = 0
    writes: int = 0
    left: list[str] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)

    async def list_direct_rooms(self) -> object:
        self.reads += 1
        return DirectRoomsResponse(dict(self.direct))

    async def send(self, method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        if method == "PUT" and path.endswith("/account_data/m.direct"):
            self.writes += 1
            self.direct = json.loads(args[0])
            return FakeResponse({})
        return await super().send(method, path, *args, **kwargs)

    async def room_leave(self, room_id: str) -> None:
        self.left.append(room_id)

    async def room_forget(self, room_id: str) -> None:
        self.forgotten.append(room_id)


async def test_direct_chats_joined_are_published_in_one_read_and_one_write(store: Store) -> None:
    client, clock = DirectListClient(direct={"@old:city.example": ["!old:city.example"]}), Clock()
    rooms = await make_rooms(store, client, clock)
    people = [f"@person{number}:city.example" for number in range(50)]
    for number, person in enumerate(people):
        await rooms.joined(f"!dm{number}:city.example", person, direct=True)
    await rooms.joined("!group:city.example", EVE, direct=False)  # not a direct chat
    assert (client.reads, client.writes) == (0, 0)  # recorded, not yet published
    async with store.db.transaction():
        assert await store.users.direct_room(people[7]) == "!dm7:city.example"

    await rooms.publish_direct_list()
    assert (client.reads, client.writes) == (1, 1)
    assert client.direct["@old:city.example"] == ["!old:city.example"]  # kept
    assert client.direct[people[49]] == ["!dm49:city.example"]
    assert EVE not in client.direct and len(client.direct) == 51
    await rooms.publish_direct_list()  # nothing new: nothing read or written
    assert (client.reads, client.writes) == (1, 1)


async def test_a_failed_publication_is_tried_again_with_the_next(store: Store) -> None:
    client, clock = DirectListClient(), Clock()
    rooms = await make_rooms(store, client, clock)
    await rooms.joined("!dm1:city.example", CAROL, direct=True)
    failing = client.list_direct_rooms

    async def unreachable() -> object:
        raise ConnectionError("down")

    client.list_direct_rooms = unreachable  # type: ignore[method-assign]
    await rooms.publish_direct_list()
    client.list_direct_rooms = failing  # type: ignore[method-assign]
    await rooms.joined("!dm2:city.example", EVE, direct=True)
    await rooms.publish_direct_list()
    assert client.direct == {CAROL: ["!dm1:city.example"], EVE: ["!dm2:city.example"]}
    assert client.writes == 1


async def test_a_direct_chat_its_person_left_is_left_and_forgotten(store: Store) -> None:
    client, clock = DirectListClient(), Clock()
    rooms = await make_rooms(store, client, clock)
    client.rooms[ROOM] = matrix_room(ROOM, BOT, CAROL)
    await rooms.joined(ROOM, CAROL, direct=True)
    await rooms.publish_direct_list()
    assert client.direct == {CAROL: [ROOM]}

    assert not await rooms.person_left(ROOM, EVE)  # not hers: nothing happens
    client.server_members[ROOM] = {BOT: "join", EVE: "join"}
    assert not await rooms.person_left(ROOM, CAROL)  # Eve is still in it: it stays
    assert client.left == []
    client.server_members[ROOM] = {BOT: "join"}
    assert await rooms.person_left(ROOM, CAROL)
    assert client.left == [ROOM] and client.forgotten == [ROOM]
    assert client.direct == {}  # out of m.direct too
    assert rooms.owner_of(ROOM) is None
    async with store.db.transaction():
        assert await store.users.direct_room(CAROL) is None
    # As after declining: no new direct chat for her for a day.
    with pytest.raises(Dropped):
        await rooms.direct_room_for(CAROL)
    assert client.created == []
