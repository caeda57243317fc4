"""Who reads a reply where it is sent, and so what it may say.

Two rules live here, and every command follows them instead of deciding on its own:

* What only moderators (or an idea's author) may see is answered only where no one else reads
  along: a direct chat with the bot, or the moderation room. Elsewhere the reply says where to
  ask, and reveals nothing.
* Who wrote an idea is shown as ``bot.show_authors`` says: ``"moderators"`` (the default) gives
  the Matrix ID to moderators and "you" to the author, both only where no one else reads along;
  ``"everyone"`` gives the Matrix ID to all; ``"nobody"`` shows no author at all. The moderation
  room's announcements and the audit log are for moderators, and name people whatever the key.
"""

from __future__ import annotations

from typing import Literal

from handlers.context import Context
from handlers.errors import Forbidden
from storage import Idea

AuthorShown = Literal["id", "you", "none"]


def read_only_by_asker_or_moderators(ctx: Context) -> bool:
    """Whether the reply is read only by the asker (a direct chat) or by moderators."""
    moderation_room = ctx.settings.moderation_room
    return ctx.is_direct or (moderation_room is not None and ctx.room_id == moderation_room)


def require_private_room(ctx: Context) -> None:
    """Refuse, saying where to ask, when others than the asker and moderators read along."""
    if not read_only_by_asker_or_moderators(ctx):
        raise Forbidden("moderation.ask_elsewhere")


def author_shown(ctx: Context, idea: Idea) -> AuthorShown:
    """How the reply names the idea's author: by Matrix ID, as "you", or not at all."""
    rule = ctx.settings.show_authors
    if rule == "everyone":
        return "id"
    if rule == "nobody" or not read_only_by_asker_or_moderators(ctx):
        return "none"
    if idea.author == ctx.sender:
        return "you"
    return "id" if ctx.is_moderator else "none"
