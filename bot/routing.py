"""Which front end carries out an outbox row: the one place that decides.

One outbox, one delivery loop; a row whose room or person is Discord's (``discord:…``, see
:mod:`bot.discord.ids`'s convention) goes to the Discord front end, every other row to Matrix.
Only Matrix joins short confirmations (its joining renders Matrix content).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.delivery import CarryOut, Joining, Record
from bot.discord.ids import is_discord
from bot.server import Dropped
from storage import OutboxItem, Store
from storage.outbox_kinds import OutboxKind


def is_discord_name(name: object) -> bool:
    return isinstance(name, str) and is_discord(name)


async def goes_to_discord(item: OutboxItem, store: Store) -> bool:
    """Whether the row is Discord's: its room, its person, the room to tell (a challenge's
    new room), or the challenge's room (its place in the Matrix Space)."""
    payload = item.payload
    if any(
        is_discord_name(name)
        for name in (item.room_id, payload.get("user_id"), payload.get("notify_room"))
    ):
        return True
    if item.kind == OutboxKind.SPACE_CHILD and isinstance(payload.get("challenge_id"), int):
        async with store.db.transaction():
            challenge = await store.challenges.get(payload["challenge_id"])
        return challenge is not None and is_discord_name(challenge.room_id)
    return False


@dataclass(frozen=True)
class FrontEnds:
    """The front ends running in this process; either may be absent."""

    store: Store
    matrix: CarryOut | None
    discord: CarryOut | None
    matrix_joining: Joining

    async def carry_out(self, item: OutboxItem, txn_id: str) -> Record | None:
        to_discord = await goes_to_discord(item, self.store)
        carry_out = self.discord if to_discord else self.matrix
        if carry_out is None:
            network = "Discord" if to_discord else "Matrix"
            raise Dropped(f"{network} is not configured: row {item.id} ({item.kind}) not sent")
        return await carry_out(item, txn_id)

    @property
    def joining(self) -> Joining:
        """Matrix's joining for Matrix lanes; a Discord lane's rows go one by one."""
        matrix = self.matrix_joining

        def run(items: list[OutboxItem]) -> list[OutboxItem]:
            if not items or is_discord_name(items[0].room_id):
                return []
            return matrix.run(items)

        return Joining(run=run, join=matrix.join, at_most=matrix.at_most)
