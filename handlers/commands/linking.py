"""Linking a Discord account to a Matrix account, so that the two are one person: one vote per
idea between them, one budget, and the Matrix account's verification for both.

``!link`` on Discord gives a one-time code (40 random bits, kept only as a hash, for
:data:`CODE_LIFETIME`, once); the person sends ``!link <code>`` to the bot from their Matrix
account, in their direct chat with it. ``!unlink`` on either side separates them again. Which
network an account is of, and which account's verification counts, is
``handlers/accounts.py``'s to say; how linked accounts count once, ``storage/links.py``'s.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from handlers.accounts import can_link, person_key
from handlers.context import Context
from handlers.effects import Outcome
from handlers.errors import BotError, Forbidden
from handlers.registry import CommandRouter, Kind, Param
from handlers.reply import Code, Reply

router = CommandRouter()

#: Letters and digits that are not mistaken for one another (no I, O, 0, 1).
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
CODE_LIFETIME = timedelta(minutes=15)


def new_code() -> str:
    """A code as the person sees it: ``ABCD-EFGH``."""
    letters = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return f"{letters[:4]}-{letters[4:]}"


def code_hash(typed: str) -> str | None:
    """The hash a code is kept as, from what the person typed (any case, with or without the
    dash); None for what cannot be a code."""
    letters = typed.upper().replace("-", "")
    if len(letters) != CODE_LENGTH or any(letter not in CODE_ALPHABET for letter in letters):
        return None
    return hashlib.sha256(letters.encode()).hexdigest()


def _minutes() -> int:
    return int(CODE_LIFETIME.total_seconds() // 60)


@router.command(
    "link",
    names={"nl": "koppel"},
    params=(Param("code", Kind.WORD, required=False),),
    needs_identity=True,
)
async def link(ctx: Context, code: str | None) -> Outcome:
    if can_link(ctx.sender):
        if code is not None:
            raise BotError("link.code_from_matrix", command=ctx.command("link"))
        return await _issue_code(ctx)
    if code is None:
        return await _explain(ctx)
    return await _use_code(ctx, code)


@router.command("unlink", names={"nl": "ontkoppel"})
async def unlink(ctx: Context) -> Outcome:
    undone = await ctx.store.links.unlink(ctx.sender)
    key = "link.not_linked" if undone is None else "link.undone"
    return Outcome(ctx.reply(key, command=ctx.command("link")), personal=True)


async def _issue_code(ctx: Context) -> Outcome:
    """A Discord account asks: a new code (an earlier one stops working), or, when it is
    linked already, which account it is linked to."""
    linked = await ctx.store.links.of(ctx.sender)
    if linked is not None:
        return Outcome(
            ctx.reply(
                "link.linked_to",
                account=Code(linked.matrix_account),
                command=ctx.command("unlink"),
            ),
            personal=True,
        )
    await ctx.store.links.drop_expired_codes(ctx.now)
    code = new_code()
    hashed = code_hash(code)
    assert hashed is not None
    await ctx.store.links.issue_code(ctx.sender, hashed, ctx.now + CODE_LIFETIME)
    return Outcome(
        ctx.reply(
            "link.code",
            code=Code(code),
            command=ctx.command("link", code),
            minutes=_minutes(),
        ),
        personal=True,
    )


async def _explain(ctx: Context) -> Outcome:
    """A Matrix account without a code: how linking goes, and what it is linked to."""
    how = ctx.t(
        "link.how",
        command=ctx.command("link"),
        command_code=ctx.command("link", f"<{ctx.label('code')}>"),
    )
    linked = await ctx.store.links.of(ctx.sender)
    if linked is None:
        return Outcome(Reply.of(how))
    if not ctx.is_direct:  # which account is theirs is no business of the room's
        return Outcome(ctx.reply("link.linked", command=ctx.command("unlink")))
    return Outcome(
        ctx.reply("link.linked_to", account=Code(linked.account), command=ctx.command("unlink")),
        personal=True,
    )


async def _use_code(ctx: Context, typed: str) -> Outcome:
    """A Matrix account sends a code: the two accounts become one person."""
    if not ctx.wrong_codes.may_try(ctx.sender, ctx.now):
        raise Forbidden("link.too_many_tries", minutes=_minutes())
    hashed = code_hash(typed)
    if not ctx.is_direct:
        # Others may have read it: it is used up, so that nobody else can link with it.
        if hashed is not None:
            await ctx.store.links.take_code(hashed, ctx.now)
        return Outcome(ctx.reply("link.only_direct", command=ctx.command("link")))
    account = None if hashed is None else await ctx.store.links.take_code(hashed, ctx.now)
    if account is None:
        ctx.wrong_codes.wrong(ctx.sender, ctx.now)
        return Outcome(
            ctx.reply("link.bad_code", command=ctx.command("link"), minutes=_minutes()),
            personal=True,
        )
    mine = await ctx.store.links.of(ctx.sender)
    theirs = await ctx.store.links.of(account)
    if mine is not None and mine.account == account:
        return Outcome(ctx.reply("link.already"), personal=True)
    if mine is not None:
        return Outcome(ctx.reply("link.matrix_taken", command=ctx.command("unlink")), personal=True)
    if theirs is not None:
        return Outcome(ctx.reply("link.discord_taken"), personal=True)
    # What the two share: the verified identity, if there is one (then they are one person
    # with any other account of it too, and stay so while the homeserver cannot be asked).
    key = ctx.identity.verified_key or person_key(
        await ctx.store.state.instance_secret(), ctx.sender
    )
    await ctx.store.links.link(account, ctx.sender, key, ctx.now)
    await ctx.store.links.drop_codes(account)
    dropped = await ctx.store.links.merge(account, ctx.sender, key)
    parts = [ctx.t("link.done", account=Code(account), command=ctx.command("unlink"))]
    if dropped:
        parts.append(ctx.t("link.dropped", count=dropped))
    return Outcome(Reply.of(*parts), personal=True)
