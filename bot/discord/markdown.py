"""Turns a ``Reply`` into a Discord message: Markdown in which every value a person typed is
escaped, and the mentions Discord may act on (only the Discord accounts the reply names;
never ``@everyone``, ``@here`` or a role)."""

from __future__ import annotations

import re

import discord

from bot.discord.ids import snowflake_of
from handlers.reply import (
    Block,
    Bold,
    Code,
    Inline,
    Italic,
    Items,
    Link,
    Mention,
    Para,
    Reply,
    Text,
)

#: Discord refuses a message's text longer than this.
MAX_CONTENT = 2000
#: An embed's description.
MAX_DESCRIPTION = 4096
_ZERO_WIDTH_SPACE = "\u200b"
_LINE_START = re.compile(r"^(\s*)([#>+-])")


def escape(text: str) -> str:
    """Text a person typed, shown as typed: no Markdown, no mention, no masked link."""
    text = discord.utils.escape_markdown(text, as_needed=False, ignore_links=False)
    text = discord.utils.escape_mentions(text)
    # A user, role or channel mention typed as <@123>: shown, never acted on.
    text = text.replace("<", "<" + _ZERO_WIDTH_SPACE)
    # A heading, quote or list that a line would start.
    return "\n".join(_LINE_START.sub(r"\1\\\2", line) for line in text.split("\n"))


def markdown(reply: Reply, *, limit: int = MAX_CONTENT) -> str:
    text = "\n".join(_block(block) for block in reply.blocks)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def allowed_mentions(reply: Reply | None = None) -> discord.AllowedMentions:
    """Who a message may notify: the Discord accounts its reply names, nobody else."""
    users = [] if reply is None else [snowflake_of(user) for user in reply.mentions]
    return discord.AllowedMentions(
        everyone=False,
        roles=False,
        replied_user=False,
        users=[discord.Object(user) for user in users if user is not None],
    )


NOBODY = discord.AllowedMentions.none()


def _block(block: Block) -> str:
    if isinstance(block, Para):
        return _inline(block.content)
    if isinstance(block, Items):
        return "\n".join(f"• {_inline(item)}" for item in block.items)
    return "\n".join(f"> {escape(line)}" for line in block.value.split("\n"))


def _inline(node: Inline) -> str:
    if isinstance(node, Text):
        return escape(node.value)
    if isinstance(node, Code):
        return _code(node.value)
    if isinstance(node, Bold):
        return f"**{_inline(node.child)}**"
    if isinstance(node, Italic):
        return f"*{_inline(node.child)}*"
    if isinstance(node, Mention):
        user = snowflake_of(node.user_id)
        return f"<@{user}>" if user is not None else escape(node.user_id)
    if isinstance(node, Link):
        # The address is the configuration's (the public report), never typed by a person;
        # angle brackets keep Discord from showing a preview of it.
        return f"[{_inline(node.child)}](<{_link_address(node.url)}>)"
    return "".join(_inline(child) for child in node.children)


def _link_address(url: str) -> str:
    """An address as Markdown's link target: the characters that would end it, escaped."""
    return url.replace(" ", "%20").replace(">", "%3E").replace(")", "%29")


def _code(value: str) -> str:
    """Inline code; a backtick inside is shown with a longer fence (Markdown's own rule)."""
    fence = "``" if "`" in value else "`"
    value = value.replace("\n", " ")
    return f"{fence} {value} {fence}" if fence == "``" else f"`{value}`"
