"""Following challenges and ideas, and how often to hear of them: ``!follow``, ``!unfollow``,
``!notifications``. What is said to followers: :mod:`handlers.services.notifications`."""

from __future__ import annotations

from handlers.context import Context
from handlers.effects import Outcome, SendDirect
from handlers.errors import NotFound
from handlers.registry import SLUG_PATTERN, CommandRouter, Kind, Param
from handlers.reply import Bold, Code, Inline, Items, Reply, Span, Text
from handlers.services.lookups import find_challenge, find_idea, idea_ref
from handlers.services.notifications import FREQUENCY_WORDS, frequency_word
from storage import Frequency

router = CommandRouter()

#: Every word for every choice, in either language.
CHOICES = {
    word: frequency for words in FREQUENCY_WORDS.values() for frequency, word in words.items()
}

#: Why a listed idea is followed (:meth:`storage.follow_records.FollowRepository.followed_ideas`).
REASON_TEXT = {"asked": "follow.idea_asked", "own": "follow.idea_own", "voted": "follow.idea_voted"}
#: How often one hears now, in words; and what changing to it says.
FREQUENCY_TEXT = {
    Frequency.DIRECT: "notifications.direct",
    Frequency.DAILY: "notifications.daily",
    Frequency.WEEKLY: "notifications.weekly",
    Frequency.OFF: "notifications.off",
}
SET_TEXT = {
    Frequency.DIRECT: "notifications.set_direct",
    Frequency.DAILY: "notifications.set_daily",
    Frequency.WEEKLY: "notifications.set_weekly",
    Frequency.OFF: "notifications.set_off",
}

#: How many followed ideas ``!follow`` alone lists.
LISTED_IDEAS = 50


def _idea_number(what: str) -> int | None:
    digits = what.removeprefix("#")
    if digits.isascii() and digits.isdigit() and len(digits) <= 18:
        return int(digits)
    return None


def _slug(what: str) -> str:
    slug = what.lower().lstrip("#")
    if not SLUG_PATTERN.fullmatch(slug):
        raise NotFound("error.no_such_challenge", slug=Code(what))
    return slug


@router.command(
    "follow",
    names={"nl": "volg"},
    params=(Param("followed", Kind.WORD, required=False),),
)
async def follow(ctx: Context, followed: str | None) -> Outcome:
    """Follow a challenge (by its slug) or an idea (by its number); alone: what one follows."""
    if followed is None:
        return await _listing(ctx)
    return await _change(ctx, followed, on=True)


@router.command(
    "unfollow",
    names={"nl": "ontvolg"},
    params=(Param("followed", Kind.WORD),),
)
async def unfollow(ctx: Context, followed: str) -> Outcome:
    return await _change(ctx, followed, on=False)


async def _change(ctx: Context, followed: str, *, on: bool) -> Outcome:
    number = _idea_number(followed)
    frequency = await ctx.store.following.frequency(ctx.sender)
    if number is not None:
        idea, _challenge = await find_idea(ctx, number)
        await ctx.store.following.follow_idea(ctx.sender, idea.id, ctx.now, on=on)
        what: Inline = ctx.t("follow.idea", id=idea_ref(idea.id), title=Bold(Text(idea.title)))
    else:
        challenge = await find_challenge(ctx, _slug(followed))
        await ctx.store.following.follow_challenge(ctx.sender, challenge.id, ctx.now, on=on)
        what = ctx.t(
            "follow.challenge", slug=Code(challenge.slug), title=Bold(Text(challenge.title))
        )
    if not on:
        return Outcome(
            ctx.reply("follow.stopped", what=what, command=ctx.command("follow", followed))
        )
    return Outcome(Reply.of(ctx.t("follow.started", what=what), _how_often(ctx, frequency)))


def _how_often(ctx: Context, frequency: Frequency) -> Span:
    return ctx.t(
        "notifications.current",
        frequency=ctx.t(FREQUENCY_TEXT[frequency]),
        command=ctx.command("notifications", f"<{'|'.join(FREQUENCY_WORDS[ctx.locale].values())}>"),
    )


async def _listing(ctx: Context) -> Outcome:
    """What the person follows: theirs alone, so it goes to their direct chat."""
    following = ctx.store.following
    challenges = await following.followed_challenges(ctx.sender)
    ideas = await following.followed_ideas(ctx.sender, LISTED_IDEAS)
    frequency = await following.frequency(ctx.sender)
    if not challenges and not ideas:
        listing = Reply.of(
            ctx.t(
                "follow.none",
                challenge=ctx.command("follow", f"<{ctx.label('challenge')}>"),
                idea=ctx.command("follow", f"<{ctx.label('idea')}>"),
            )
        )
    else:
        lines: list[Inline] = [
            ctx.t("follow.challenge", slug=Code(item.slug), title=Bold(Text(item.title)))
            for item in challenges
        ]
        lines += [
            ctx.t(
                REASON_TEXT[item.reason],
                id=idea_ref(item.idea_id),
                title=Bold(Text(item.title)),
                slug=Code(item.slug),
            )
            for item in ideas
        ]
        listing = Reply.of(
            ctx.t("follow.header"),
            Items(tuple(lines)),
            ctx.t(
                "follow.unfollow_hint",
                command=ctx.command("unfollow", f"<{ctx.label('followed')}>"),
            ),
        )
    listing += Reply.of(_how_often(ctx, frequency))
    if ctx.is_direct:
        return Outcome(listing)
    return Outcome(ctx.reply("follow.sent_elsewhere"), effects=(SendDirect(ctx.sender, listing),))


@router.command(
    "notifications",
    names={"nl": "meldingen"},
    params=(Param("frequency", Kind.CHOICE, required=False, choices=tuple(CHOICES)),),
)
async def notifications(ctx: Context, frequency: str | None) -> Outcome:
    """How often to hear of what one follows; alone: how often now."""
    if frequency is None:
        current = await ctx.store.following.frequency(ctx.sender)
        return Outcome(Reply.of(_how_often(ctx, current)))
    chosen = CHOICES[frequency]
    await ctx.store.following.set_frequency(ctx.sender, chosen, ctx.now)
    return Outcome(
        ctx.reply(
            SET_TEXT[chosen],
            hour=ctx.programme.digest_hour,
            command=ctx.command("notifications", frequency_word(ctx.locale, Frequency.DAILY)),
        )
    )
