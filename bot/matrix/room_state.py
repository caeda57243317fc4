"""Each room's state as the bot needs it, kept in its own database so that a restart costs the
same at 5,000 rooms as at 50.

matrix-nio keeps rooms in memory only; before this, the first sync of every run asked for the
full state of every joined room (Synapse's time for it grows with every room: about 5 s at
2,000). Now the bot keeps what it reads of a room (whether it is encrypted, its join rule, its
history visibility, its name) in ``room_state``, rebuilds matrix-nio's rooms from those rows at
start, and syncs from its saved position like any other sync; each batch's state block and
timeline keep the rows current (matrix-nio applies them to its rooms, and what changed is
written in the batch's own transaction, with its checkpoint).

What is not kept, and why:

- Members. A direct chat's members are asked for once per run when it is first needed
  (:meth:`bot.matrix.rooms.Rooms._know_members`); an encrypted room's joined members are asked
  for by matrix-nio itself before it first shares a room key there (``room_send`` checks
  ``members_synced``). The moderation room's members and levels are read from the homeserver
  at start (:class:`bot.matrix.sync.SyncLoop`): authoritative, one request each.
- Who a direct chat belongs to: that is ``direct_rooms`` (:mod:`storage.people`) already.

A database from before this (no rows yet) asks for full state once more, at the first sync of
the next run, and records every room from it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from nio import AsyncClient, MatrixRoom

from storage import Store
from storage.room_state_records import RoomStateRecord

log = logging.getLogger(__name__)

#: Set once the rows hold every room the bot is in (after one full-state sync, or the first).
COMPLETE_KEY = "room_state_complete"


def record_of(room: MatrixRoom) -> RoomStateRecord:
    return RoomStateRecord(
        room_id=room.room_id,
        encrypted=bool(room.encrypted),
        join_rule=str(room.join_rule),
        history_visibility=str(room.history_visibility),
        name=room.name,
    )


class RoomStateKeeper:
    def __init__(self, client: AsyncClient, store: Store) -> None:
        self.client = client
        self.store = store
        #: What the database holds, so that only a change is written (a few dozen bytes a room).
        self._saved: dict[str, RoomStateRecord] = {}
        #: Whether the rows hold every room: without, the next sync asks for full state.
        self.complete = False

    async def restore(self) -> int:
        """matrix-nio's rooms as the database keeps them; returns how many."""
        async with self.store.db.transaction():
            self.complete = await self.store.state.get(COMPLETE_KEY) == "1"
            records = await self.store.room_state.all()
        for record in records:
            room = self.client.rooms.get(record.room_id)
            if room is None:
                room = MatrixRoom(record.room_id, self.client.user_id, record.encrypted)
                self.client.rooms[record.room_id] = room
            room.encrypted = room.encrypted or record.encrypted
            room.join_rule = record.join_rule
            room.history_visibility = record.history_visibility
            room.name = record.name
            if record.encrypted:
                self.client.encrypted_rooms.add(record.room_id)
            self._saved[record.room_id] = record
        log.info("Restored %d rooms from the database", len(records))
        return len(records)

    async def save(self, joined: Iterable[str], left: Iterable[str], *, full: bool) -> None:
        """After a batch, inside its transaction: the state of the rooms it showed, as
        matrix-nio now has it, where it changed; the rooms the bot left, gone. ``full``: the
        batch held every joined room (a full-state or first sync)."""
        for room_id in joined:
            room = self.client.rooms.get(room_id)
            if room is None:
                continue
            record = record_of(room)
            if self._saved.get(room_id) != record:
                await self.store.room_state.save(record)
                self._saved[room_id] = record
        for room_id in left:
            await self.forget(room_id)
        if full and not self.complete:
            await self.store.state.set(COMPLETE_KEY, "1")
            self.complete = True

    async def forget(self, room_id: str) -> None:
        """The bot is no longer in the room; call inside a transaction."""
        if self._saved.pop(room_id, None) is not None:
            await self.store.room_state.forget(room_id)
