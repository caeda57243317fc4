"""Each room's state kept by the bot: rebuilt at start, kept current after each batch, gone when
the bot leaves. A fake client, a real database."""

from __future__ import annotations

from dataclasses import dataclass, field

from nio import MatrixRoom

from bot.matrix.room_state import RoomStateKeeper
from storage import Store
from storage.room_state_records import RoomStateRecord

BOT = "@bot:city.example"
DM = "!dm:city.example"
CHALLENGE = "!mobility:city.example"


@dataclass
class Client:
    user_id: str = BOT
    rooms: dict[str, MatrixRoom] = field(default_factory=dict)
    encrypted_rooms: set[str] = field(default_factory=set)


async def saved(store: Store) -> dict[str, RoomStateRecord]:
    async with store.db.transaction():
        return {record.room_id: record for record in await store.room_state.all()}


async def test_rooms_are_kept_and_rebuilt_at_the_next_start(store: Store) -> None:
    client = Client()
    keeper = RoomStateKeeper(client, store)  # type: ignore[arg-type]
    assert await keeper.restore() == 0
    assert not keeper.complete  # nothing kept yet: the next sync asks for full state
    dm = MatrixRoom(DM, BOT, encrypted=True)
    dm.history_visibility = "joined"
    challenge = MatrixRoom(CHALLENGE, BOT)
    challenge.join_rule, challenge.history_visibility = "public", "world_readable"
    challenge.name = "Mobiliteit"
    client.rooms = {DM: dm, CHALLENGE: challenge}
    async with store.db.transaction():
        await keeper.save([DM, CHALLENGE], [], full=True)

    again = Client()
    restarted = RoomStateKeeper(again, store)  # type: ignore[arg-type]
    assert await restarted.restore() == 2
    assert restarted.complete
    rebuilt = again.rooms[DM]
    assert rebuilt.encrypted and DM in again.encrypted_rooms
    assert (rebuilt.join_rule, rebuilt.history_visibility) == ("invite", "joined")
    public = again.rooms[CHALLENGE]
    assert not public.encrypted and CHALLENGE not in again.encrypted_rooms
    assert (public.join_rule, public.history_visibility) == ("public", "world_readable")
    assert public.name == "Mobiliteit"


async def test_only_a_change_is_written_and_a_room_left_is_forgotten(store: Store) -> None:
    client = Client()
    keeper = RoomStateKeeper(client, store)  # type: ignore[arg-type]
    await keeper.restore()
    client.rooms[DM] = MatrixRoom(DM, BOT)
    async with store.db.transaction():
        await keeper.save([DM], [], full=False)
    assert not keeper.complete  # an incremental batch does not show every room
    writes: list[RoomStateRecord] = []
    save = store.room_state.save

    async def counted(record: RoomStateRecord) -> None:
        writes.append(record)
        await save(record)

    store.room_state.save = counted  # type: ignore[method-assign]
    async with store.db.transaction():
        await keeper.save([DM], [], full=False)
    assert writes == []  # nothing changed, nothing written
    client.rooms[DM].join_rule = "public"  # the room is made public
    async with store.db.transaction():
        await keeper.save([DM], [], full=False)
    assert [record.join_rule for record in writes] == ["public"]
    assert (await saved(store))[DM].join_rule == "public"

    async with store.db.transaction():
        await keeper.save([], [DM], full=False)
    assert await saved(store) == {}
