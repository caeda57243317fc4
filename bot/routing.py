"""Which front end carries out an outbox row: the one place that decides.

One outbox, one delivery loop; a row whose room or person is Discord's (``discord:…``, see
:mod:`bot.discord.ids`'s convention) goes to the Discord front end, every other row to Matrix.
Only Matrix joins short confirmations (its joining renders Matrix content).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.delivery import CarryOut, Joining, Record
from bot.discord.ids import is_discord
from bot.outbox import CreateChallengeRoomPayload, enqueue
from bot.server import Dropped
from handlers.accounts import Network, network_of
from handlers.clock import system_clock
from storage import OutboxItem, Store
from storage.outbox_kinds import OutboxKind


def is_discord_name(name: object) -> bool:
    return isinstance(name, str) and is_discord(name)


async def goes_to_discord(item: OutboxItem, store: Store) -> bool:
    """Whether the row is Discord's: its room, its person, the room to tell (a challenge's
    new room), or the challenge's room (its place in the Matrix Space)."""
    payload = item.payload
    if item.kind == OutboxKind.CREATE_CHALLENGE_ROOM and payload.get("network") in tuple(Network):
        return bool(payload["network"] == Network.DISCORD)  # the challenge's place on that network
    if any(
        is_discord_name(name)
        for name in (item.room_id, payload.get("user_id"), payload.get("notify_room"))
    ):
        return True
    if item.kind == OutboxKind.SPACE_CHILD and isinstance(payload.get("challenge_id"), int):
        async with store.db.transaction():
            rooms = await store.challenges.rooms_of(payload["challenge_id"])
        # A challenge with a Matrix room has its place in the Space; Discord ignores the row.
        return bool(rooms) and all(is_discord(room) for room in rooms)
    return False


@dataclass(frozen=True)
class FrontEnds:
    """The front ends running in this process; either may be absent."""

    store: Store
    matrix: CarryOut | None
    discord: CarryOut | None
    matrix_joining: Joining
    #: The time a mirrored row is queued at.
    clock: Callable[[], datetime] = system_clock

    async def carry_out(self, item: OutboxItem, txn_id: str) -> Record | None:
        to_discord = await goes_to_discord(item, self.store)
        carry_out = self.discord if to_discord else self.matrix
        if carry_out is None:
            network = "Discord" if to_discord else "Matrix"
            raise Dropped(f"{network} is not configured: row {item.id} ({item.kind}) not sent")
        record = await carry_out(item, txn_id)
        if item.kind != OutboxKind.CREATE_CHALLENGE_ROOM or "network" in item.payload:
            return record
        if self.matrix is None or self.discord is None:
            return record
        # Both networks: the challenge gets its place on the other one too, queued in the
        # transaction that records this one.
        other = Network.MATRIX if to_discord else Network.DISCORD
        request = CreateChallengeRoomPayload.model_validate(item.payload)
        invite = tuple(user for user in request.invite if network_of(user) == other)
        mirror = request.model_copy(update={"network": other, "invite": invite})
        store, clock = self.store, self.clock

        async def record_and_mirror() -> None:
            if record is not None:
                await record()
            await enqueue(store, mirror, clock(), lane=f"create:{mirror.challenge_id}:{other}")

        return record_and_mirror

    @property
    def joining(self) -> Joining:
        """Matrix's joining for Matrix lanes; a Discord lane's rows go one by one."""
        matrix = self.matrix_joining

        def run(items: list[OutboxItem]) -> list[OutboxItem]:
            if not items or is_discord_name(items[0].room_id):
                return []
            return matrix.run(items)

        return Joining(run=run, join=matrix.join, at_most=matrix.at_most)

    async def create_missing_places(self, locale: str) -> int:
        """With both networks configured, each challenge made before (or on one network while
        the other was not configured) gets its place on the other network; returns how many
        were queued. The room-ready notice goes to the challenge's room."""
        if self.matrix is None or self.discord is None:
            return 0
        queued = 0
        async with self.store.db.transaction():
            for challenge in await self.store.challenges.list(open_only=False):
                rooms = await self.store.challenges.rooms_of(challenge.id)
                if not rooms:
                    continue  # its first room is still to come; that creation mirrors it
                networks = {network_of(room) for room in rooms}
                for other in Network:
                    lane = f"create:{challenge.id}:{other}"
                    if other in networks or await self.store.outbox.next_in_lane(lane):
                        continue
                    request = CreateChallengeRoomPayload(
                        challenge_id=challenge.id,
                        slug=challenge.slug,
                        name=challenge.title,
                        topic=challenge.description,
                        invite=(),
                        notify_room=rooms[0],
                        locale=locale,
                        network=other,
                    )
                    await enqueue(self.store, request, self.clock(), lane=lane)
                    queued += 1
        return queued
