"""A challenge with ideas, written straight into a bot's database as the bot would have stored
them: for tests and benchmarks that need something to vote for before the bot starts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from storage import Database, Store


async def seed_challenge(
    db_path: Path, slug: str, idea_titles: list[str], *, author: str, title: str | None = None
) -> list[int]:
    """Create challenge ``slug`` (migrating the database first) with one idea per title by
    ``author``; returns the ideas' numbers."""
    db = Database(db_path)
    await db.open()
    store = Store(db)
    now = datetime.now(UTC)
    try:
        async with db.transaction():
            challenge = await store.challenges.create(
                slug=slug, title=title or slug, description="", created_by=author, now=now
            )
            return [
                (
                    await store.ideas.add(
                        challenge_id=challenge.id,
                        title=idea_title,
                        description="",
                        author=author,
                        now=now,
                    )
                ).id
                for idea_title in idea_titles
            ]
    finally:
        await db.close()
