"""The guided submission: ``!idea`` alone asks for the challenge, the title and the description
one message at a time, shows a summary, and submits it as ``!idea <slug> <title>`` would.

The dialogue is a row of the ``dialogues`` table, one per person and room, so that it survives a
restart; it ends after ``dialogue_timeout_minutes`` without an answer. While it is open, the
dispatcher hands every message of that person in that room that does not start with the prefix
to :func:`answer`; a command with the prefix runs as usual and leaves the dialogue where it was,
and ``!cancel`` (``handlers/commands/dialogue.py``) ends it. A wrong answer is refused with its
reason and the question is asked again.

Right after the title, the titles of the challenge's ideas are compared with it (rapidfuzz); the
closest are offered for a vote instead of a near-duplicate.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, ValidationError
from rapidfuzz import fuzz, process, utils

from handlers.command_words import CommandWords
from handlers.context import Context
from handlers.effects import Outcome
from handlers.errors import BotError
from handlers.i18n import Catalogue
from handlers.registry import Kind, convert
from handlers.reply import Bold, Code, Inline, Items, Quote, Reply, Span, Text
from handlers.services.lookups import (
    check_length,
    find_challenge,
    idea_ref,
    require_not_blocked,
    require_submissions,
)
from handlers.services.submitting import check_submission_rate, submit_idea
from handlers.services.voting import vote_for_idea
from handlers.settings import BotSettings
from storage import Challenge, Dialogue

log = logging.getLogger(__name__)

#: The one flow so far; stored with each dialogue so that others can be told apart later.
IDEA_FLOW = "idea"
MIN_TITLE_LENGTH = 3
#: rapidfuzz's ``token_set_ratio`` (0 to 100) from which an existing title counts as similar.
#: It ignores word order and repeated words, and a title whose words all occur in the other
#: scores 100: "bike lanes Coupure" and "Safer bike lanes at the Coupure" are alike. At 75,
#: rewordings of one idea match while ideas that merely share a theme word do not.
SIMILARITY_CUTOFF = 75
MAX_SIMILAR = 3

# Answers are understood in both languages, whatever the person's language is.
CANCEL_WORDS = frozenset({"cancel", "annuleer", "annuleren", "stop"})
YES_WORDS = frozenset({"ja", "j", "yes", "y"})
NO_WORDS = frozenset({"nee", "n", "no"})
NEW_WORDS = frozenset({"nieuw", "new"})
SKIP_WORDS = frozenset({"-", "geen", "none"})


class Step(StrEnum):
    CHALLENGE = "challenge"
    TITLE = "title"
    SIMILAR = "similar"
    DESCRIPTION = "description"
    CONFIRM = "confirm"


class Draft(BaseModel):
    """The answers so far: what a dialogue keeps in its ``data``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: The challenges offered at the first step, by number: a number stays what it was shown as.
    choices: tuple[str, ...] = ()
    challenge: str | None = None
    title: str | None = None
    #: The similar ideas offered after the title, by number.
    matches: tuple[int, ...] = ()
    description: str | None = None  # "" once the person chose to leave it out


async def start_idea_dialogue(ctx: Context) -> Outcome:
    """``!idea`` alone: the first question. In a challenge's room the challenge is known."""
    await require_not_blocked(ctx)
    await check_submission_rate(ctx)
    intro = Reply.of(ctx.t("dialogue.start", cancel=ctx.command("cancel")))
    if ctx.room_challenge is not None:
        require_submissions(ctx.room_challenge, ctx)
        return await _ask(ctx, Step.TITLE, Draft(challenge=ctx.room_challenge.slug), intro)
    open_challenges = [
        challenge
        for challenge in await ctx.store.challenges.list(open_only=True)
        if _takes_ideas(ctx, challenge)
    ]
    if not open_challenges:
        return Outcome(ctx.reply("challenges.none"))
    draft = Draft(choices=tuple(challenge.slug for challenge in open_challenges))
    return await _ask(ctx, Step.CHALLENGE, draft, intro)


async def answer(ctx: Context, dialogue: Dialogue, text: str) -> Outcome:
    """The person's answer to the open dialogue's question (a message without the prefix)."""
    if _word(text) in CANCEL_WORDS:
        await ctx.store.dialogues.delete(ctx.sender, ctx.room_id)
        return Outcome(ctx.reply("dialogue.cancelled"))
    try:
        if dialogue.flow != IDEA_FLOW:
            raise ValueError(dialogue.flow)
        step = Step(dialogue.step)
        draft = Draft.model_validate(dialogue.data)
    except (ValueError, ValidationError):
        # Only a dialogue kept by another version of the bot can look like this.
        log.warning("Ending a dialogue this version cannot continue: %s", dialogue.step)
        await ctx.store.dialogues.delete(ctx.sender, ctx.room_id)
        return Outcome(ctx.reply("dialogue.lost", command=ctx.command("idea")))
    try:
        async with ctx.store.db.savepoint("dialogue_step"):
            return await _STEPS[step](ctx, draft, text)
    except BotError as error:
        return await _ask(ctx, step, draft, ctx.reply(error.key, **error.params))


def expiry_note(
    catalogue: Catalogue, locale: str, settings: BotSettings, words: CommandWords
) -> Reply:
    """What a person hears when their dialogue ended for want of an answer."""
    return Reply.of(
        catalogue.span(
            locale,
            "dialogue.expired",
            count=settings.dialogue_timeout_minutes,
            command=words.typed(locale, "idea"),
        )
    )


def similar_titles(title: str, ideas: list[tuple[int, str, int]]) -> list[int]:
    """The ideas whose titles resemble ``title`` most, best first, at most ``MAX_SIMILAR``.

    ``ideas`` is (id, title, votes); at an equal score the one listed first wins.
    """
    found = process.extract(
        title,
        {idea_id: idea_title for idea_id, idea_title, _votes in ideas},
        scorer=fuzz.token_set_ratio,
        processor=utils.default_process,
        score_cutoff=SIMILARITY_CUTOFF,
        limit=MAX_SIMILAR,
    )
    return [idea_id for _title, _score, idea_id in found]


# --- the steps: each takes an answer and asks the next question, or raises BotError ----------


async def _challenge_step(ctx: Context, draft: Draft, text: str) -> Outcome:
    word = _word(text)
    number = _number(word)
    if number is not None:
        if not 1 <= number <= len(draft.choices):
            raise BotError("dialogue.bad_choice", value=_shown(text), count=len(draft.choices))
        slug = draft.choices[number - 1]
    else:
        try:
            slug = convert(Kind.SLUG, word)
        except ValueError:
            raise BotError(
                "dialogue.bad_choice", value=_shown(text), count=len(draft.choices)
            ) from None
    challenge = await find_challenge(ctx, slug)
    require_submissions(challenge, ctx)
    return await _ask(ctx, Step.TITLE, draft.model_copy(update={"challenge": challenge.slug}))


async def _title_step(ctx: Context, draft: Draft, text: str) -> Outcome:
    title = " ".join(text.split())  # one line, as !idea takes it
    if len(title) < MIN_TITLE_LENGTH:
        raise BotError("dialogue.title_too_short", minimum=MIN_TITLE_LENGTH)
    check_length(ctx, "title", title, ctx.settings.max_title_length)
    challenge = await find_challenge(ctx, draft.challenge)
    draft = draft.model_copy(update={"title": title})
    matches = similar_titles(title, await ctx.store.ideas.visible_titles(challenge.id))
    if matches:
        return await _ask(ctx, Step.SIMILAR, draft.model_copy(update={"matches": tuple(matches)}))
    return await _ask(ctx, Step.DESCRIPTION, draft)


async def _similar_step(ctx: Context, draft: Draft, text: str) -> Outcome:
    word = _word(text)
    if word in NEW_WORDS:
        return await _ask(ctx, Step.DESCRIPTION, draft)
    number = _number(word)
    if number is None or not 1 <= number <= len(draft.matches):
        raise BotError("dialogue.bad_similar", value=_shown(text), count=len(draft.matches))
    voted = await vote_for_idea(
        ctx, draft.matches[number - 1]
    )  # the rules of !vote, refusals included
    await ctx.store.dialogues.delete(ctx.sender, ctx.room_id)
    reply = (voted.reply or Reply()) + ctx.reply("dialogue.voted_instead")
    return Outcome(reply, effects=voted.effects)


async def _description_step(ctx: Context, draft: Draft, text: str) -> Outcome:
    description = "" if _word(text) in SKIP_WORDS else text.strip()
    check_length(ctx, "description", description, ctx.settings.max_description_length)
    return await _ask(ctx, Step.CONFIRM, draft.model_copy(update={"description": description}))


async def _confirm_step(ctx: Context, draft: Draft, text: str) -> Outcome:
    word = _word(text)
    if word in NO_WORDS:
        await ctx.store.dialogues.delete(ctx.sender, ctx.room_id)
        return Outcome(ctx.reply("dialogue.cancelled"))
    if word not in YES_WORDS:
        raise BotError("dialogue.bad_confirm", value=_shown(text))
    if draft.title is None:
        raise ValueError("a dialogue at the confirmation has a title")
    await ctx.store.dialogues.delete(ctx.sender, ctx.room_id)
    try:
        async with ctx.store.db.savepoint("dialogue_submit"):
            return await submit_idea(ctx, draft.challenge, draft.title, draft.description or None)
    except BotError as error:
        # Something changed since the dialogue began (the challenge closed, a block, the hourly
        # limit): asking again would not help, so the dialogue ends with the reason.
        return Outcome(ctx.reply(error.key, **error.params) + ctx.reply("dialogue.not_submitted"))


_STEPS = {
    Step.CHALLENGE: _challenge_step,
    Step.TITLE: _title_step,
    Step.SIMILAR: _similar_step,
    Step.DESCRIPTION: _description_step,
    Step.CONFIRM: _confirm_step,
}


# --- the questions ------------------------------------------------------------------------------


async def _ask(ctx: Context, step: Step, draft: Draft, lead: Reply | None = None) -> Outcome:
    """Keep the dialogue at ``step``, with a fresh expiry, and ask that step's question."""
    await ctx.store.dialogues.save(
        user_id=ctx.sender,
        room_id=ctx.room_id,
        flow=IDEA_FLOW,
        step=step.value,
        data=draft.model_dump(mode="json"),
        expires_at=ctx.now + timedelta(minutes=ctx.settings.dialogue_timeout_minutes),
        now=ctx.now,
    )
    return Outcome((lead or Reply()) + await _question(ctx, step, draft))


async def _question(ctx: Context, step: Step, draft: Draft) -> Reply:
    if step is Step.CHALLENGE:
        lines: list[Inline] = []
        for number, slug in enumerate(draft.choices, start=1):
            challenge = await ctx.store.challenges.by_slug(slug)
            if challenge is not None:
                lines.append(
                    ctx.t(
                        "dialogue.challenge_line",
                        number=number,
                        title=Bold(Text(challenge.title)),
                        slug=Code(slug),
                    )
                )
        return Reply.of(ctx.t("dialogue.ask_challenge"), Items(tuple(lines)))
    challenge = await find_challenge(ctx, draft.challenge)
    if step is Step.TITLE:
        return ctx.reply(
            "dialogue.ask_title",
            challenge=Bold(Text(challenge.title)),
            minimum=MIN_TITLE_LENGTH,
            limit=ctx.settings.max_title_length,
        )
    if step is Step.SIMILAR:
        similar: list[Inline] = []
        for number, idea_id in enumerate(draft.matches, start=1):
            idea = await ctx.store.ideas.get(idea_id)
            if idea is not None:
                similar.append(
                    ctx.t(
                        "dialogue.similar_line",
                        number=number,
                        id=idea_ref(idea.id),
                        title=Bold(Text(idea.title)),
                        count=idea.votes,
                    )
                )
        return Reply.of(
            ctx.t("dialogue.similar_header"), Items(tuple(similar)), ctx.t("dialogue.ask_similar")
        )
    if step is Step.DESCRIPTION:
        return ctx.reply("dialogue.ask_description", limit=ctx.settings.max_description_length)
    summary: list[Span | Items | Quote] = [
        ctx.t("dialogue.summary"),
        Items(
            (
                ctx.t(
                    "dialogue.summary_challenge",
                    title=Bold(Text(challenge.title)),
                    slug=Code(challenge.slug),
                ),
                ctx.t("dialogue.summary_title", title=Bold(Text(draft.title or ""))),
            )
        ),
    ]
    if draft.description:
        summary += [ctx.t("dialogue.summary_description"), Quote(draft.description)]
    else:
        summary.append(ctx.t("dialogue.summary_no_description"))
    summary.append(ctx.t("dialogue.ask_confirm"))
    return Reply.of(*summary)


# --- reading answers -------------------------------------------------------------------------


_AROUND_A_WORD = " \t\n.,!?()\"'“”„‘’«»"


def _takes_ideas(ctx: Context, challenge: Challenge) -> bool:
    try:
        require_submissions(challenge, ctx)
    except BotError:
        return False
    return True


def _word(text: str) -> str:
    """An answer as a word to compare: ``Ja!`` is ``ja``, ``2.`` is ``2``, ``“nieuw”`` is ``nieuw``."""
    return text.strip().lower().strip(_AROUND_A_WORD)


def _number(word: str) -> int | None:
    if word.isascii() and word.isdigit() and len(word) <= 4:
        return int(word)
    return None


def _shown(text: str) -> Text:
    """An answer quoted back in a refusal: its first line, cut short."""
    line = text.strip().split("\n")[0]
    return Text(line if len(line) <= 40 else line[:39] + "…")
