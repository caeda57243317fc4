"""Voting (handlers/services/voting.py). Reactions, redactions and cards as an attacker uses them:
someone else's redaction, a flood of 👍, the same refusal asked for again and again, an idea
shown over and over. One person, one vote: linked accounts and their budget, bursts of new
accounts, eligibility at !challenge new/edit, what moderators see."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from handlers.dispatch import Sender
from handlers.effects import Announce, CardChanged, SendDirect, SendRoom
from handlers.programme import fire_due
from handlers.services.voting import unvote_by_redaction, vote_by_reaction
from storage import Eligibility, Standing
from tests.handler_support import (
    ALICE,
    BOB,
    CAROL,
    MODERATOR,
    Harness,
    effects_of,
    new_challenge,
    open_harness,
    says,
    submit,
    text,
)
from tests.identity_support import CITY, City, verification

ROOM = "!mobility:city.example"


async def _idea_with_card(bot: Harness, card: str = "$card") -> int:
    await new_challenge(bot)
    outcome = await bot.say(ALICE, "!idea mobility Protected lanes")
    (posted,) = effects_of(outcome, SendRoom)
    assert posted.card is not None
    await bot.card_posted(posted, card)
    return posted.card


async def test_only_the_voter_takes_a_vote_back_by_redaction(bot: Harness) -> None:
    idea = await _idea_with_card(bot)
    reaction = await bot.react(BOB, "$card", ROOM)

    # A room admin, a moderator, anyone else: their redaction of Bob's 👍 changes nothing.
    assert await bot.redact(CAROL, reaction, ROOM) is None
    assert await bot.store.votes.has_voted(idea, BOB)
    moderator = Sender(user_id=MODERATOR, room_id=ROOM, is_direct=False, is_moderator=True)
    async with bot.store.db.transaction():
        moderated = await bot.dispatcher.run(
            moderator, lambda ctx: unvote_by_redaction(ctx, reaction)
        )
    assert moderated is None
    assert await bot.store.votes.count(idea) == 1
    # Bob's own !unvote still takes it back.
    assert await bot.ask(BOB, f"!unvote {idea}") == says(
        "nl", "vote.removed", id=f"#{idea}", count=0
    )


async def test_reactions_count_against_the_limit_of_commands(tmp_path: Path) -> None:
    async with open_harness(tmp_path, commands_per_minute=5) as bot:
        ideas = [await _idea_with_card(bot)]
        for n, author in enumerate((CAROL, CAROL, MODERATOR, MODERATOR, MODERATOR)):
            other = await submit(bot, author, f"Idea {n}")
            async with bot.store.db.transaction():
                await bot.store.cards.add(f"$card{n}", other, ROOM)
            ideas.append(other)
        # Five 👍 on five cards use up Bob's five actions a minute; the sixth is ignored.
        for n in range(6):
            await bot.react(BOB, f"$card{n}" if n < 5 else "$card", ROOM)
        voted = [await bot.store.votes.has_voted(idea, BOB) for idea in ideas]
        assert voted == [False, True, True, True, True, True]
        # So is a redaction: Bob's 👍 on the first of them stays.
        assert await bot.redact(BOB, "$reaction1", ROOM) is None
        assert await bot.store.votes.has_voted(ideas[1], BOB)
        # A command after the flood of reactions is told why it is refused, not ignored.
        assert await bot.ask(BOB, "!challenges") == says("nl", "limit.commands", count=5)
        # Moderators are not limited, their actions neither.
        moderator = Sender(user_id=MODERATOR, room_id=ROOM, is_direct=False, is_moderator=True)
        cards = ["$card", *(f"$card{n}" for n in range(5))]
        for n, card in enumerate(cards):  # after the moderator's own three !idea, too
            async with bot.store.db.transaction():
                await bot.dispatcher.run(
                    moderator, lambda ctx, card=card, n=n: vote_by_reaction(ctx, card, f"$m{n}")
                )
        assert [await bot.store.votes.has_voted(idea, MODERATOR) for idea in ideas] == [True] * 6


async def test_a_refused_thumb_is_explained_once_per_idea(tmp_path: Path) -> None:
    async with open_harness(tmp_path) as bot:
        idea = await _idea_with_card(bot)
        await bot.say(MODERATOR, "!challenge close mobility", moderator=True)
        told: list[SendDirect] = []
        for n in range(10):
            outcome = await bot.run(
                BOB, lambda ctx, n=n: vote_by_reaction(ctx, "$card", f"$storm{n}"), room=ROOM
            )
            told.extend(effects_of(outcome, SendDirect) if outcome else [])
        assert len(told) == 1 and told[0].user_id == BOB
        # Someone else is told too, once.
        outcome = await bot.run(CAROL, lambda ctx: vote_by_reaction(ctx, "$card", "$c"), room=ROOM)
        assert [effect.user_id for effect in effects_of(outcome, SendDirect)] == [CAROL]
        assert await bot.store.votes.count(idea) == 0


async def test_explanations_are_a_few_a_minute_across_ideas(tmp_path: Path) -> None:
    async with open_harness(tmp_path) as bot:
        await _idea_with_card(bot)
        cards = ["$card"]
        for n in range(6):
            other = await submit(bot, ALICE, f"Idea {n}")
            async with bot.store.db.transaction():
                await bot.store.cards.add(f"$card{n}", other, ROOM)
            cards.append(f"$card{n}")
        await bot.say(MODERATOR, "!challenge close mobility", moderator=True)
        told = 0
        for n, card in enumerate(cards):
            outcome = await bot.run(
                BOB, lambda ctx, card=card, n=n: vote_by_reaction(ctx, card, f"$r{n}"), room=ROOM
            )
            told += len(effects_of(outcome, SendDirect)) if outcome else 0
        assert told == 3  # of seven ideas, in one minute


async def test_the_live_card_is_the_latest_in_the_room(bot: Harness) -> None:
    idea = await _idea_with_card(bot, "$first")
    async with bot.store.db.transaction():
        for n in range(8):
            await bot.store.cards.add(f"$shown{n}", idea, ROOM)
        await bot.store.cards.add("$elsewhere", idea, "!dm:city.example")
        assert await bot.store.cards.live_in_room(idea, ROOM) == "$shown7"
        assert await bot.store.cards.live_in_room(idea, "!other:city.example") is None
        # Every card still takes a 👍.
        assert await bot.store.cards.idea_for("$first") == idea
    await bot.react(BOB, "$first", ROOM)
    assert await bot.store.votes.has_voted(idea, BOB)


async def test_linked_accounts_vote_once_per_idea_and_share_one_budget(city: City) -> None:
    await new_challenge(city.bot, options="--budget=1")
    first = await submit(city.bot, CAROL, "Bike lanes")
    second = await submit(city.bot, CAROL, "Bike parking")
    # Alice and her second account Bob: the same person for the city's homeserver.
    city.known = {ALICE: verification(ALICE, "jana"), BOB: verification(BOB, "jana")}

    assert "geteld" in await city.ask(ALICE, f"!vote {first}")
    assert await city.ask(BOB, f"!vote {first}") == says(
        "nl", "identity.linked_vote", id=f"#{first}"
    )
    assert await city.ask(BOB, f"!vote {second}") == says(
        "nl", "vote.budget_spent", count=1, slug="mobility"
    )
    assert (await city.bot.idea(first)).votes == 1
    assert (await city.bot.idea(second)).votes == 0

    # Taken back by the account that cast it, the vote is free for the person again.
    await city.ask(ALICE, f"!unvote {first}")
    assert "geteld" in await city.ask(BOB, f"!vote {second}")
    async with city.bot.db.snapshot():
        standing = await city.bot.store.votes.by_standing(idea_id=second)
    assert standing[Standing.VERIFIED] == 1


async def test_a_merge_keeps_one_vote_per_identity(city: City) -> None:
    await new_challenge(city.bot)
    original = await submit(city.bot, CAROL, "Bike lanes")
    duplicate = await submit(city.bot, CAROL, "More bike lanes")
    city.known = {ALICE: verification(ALICE, "jana"), BOB: verification(BOB, "jana")}
    await city.ask(ALICE, f"!vote {original}")
    await city.ask(BOB, f"!vote {duplicate}")  # before anyone linked the two ideas

    await city.ask(MODERATOR, f"!duplicate {duplicate} {original}", moderator=True)

    assert (await city.bot.idea(original)).votes == 1


async def test_a_burst_of_votes_from_new_accounts_is_flagged_once(city: City) -> None:
    await new_challenge(city.bot)
    idea = await submit(city.bot, CAROL, "Bike lanes")
    young = city.bot.clock.now - timedelta(minutes=10)
    voters = [f"@new{n}:{CITY}" for n in range(8)]
    city.known = {v: verification(v, None, created=young) for v in voters}
    city.known[ALICE] = verification(ALICE, None, created=young - timedelta(days=300))

    flags = []
    for voter in [*voters[:2], ALICE, *voters[2:4]]:  # an old account in between counts not
        outcome = await city.say(voter, f"!vote {idea}")
        flags.append(len(effects_of(outcome, Announce)))
    assert flags == [0, 0, 0, 1, 0]  # the third new account's vote; the burst, flagged once
    (flag,) = effects_of(await city.say(voters[0], f"!vote {idea}"), Announce) or [None]
    assert flag is None  # a repeated vote adds nothing

    # An hour later, a new burst is flagged again.
    city.bot.clock.advance(minutes=61)
    for voter in voters[4:8]:
        city.known[voter] = verification(voter, None, created=city.bot.clock.now)
    outcomes = [await city.say(voter, f"!vote {idea}") for voter in voters[4:7]]
    announced = [effects_of(outcome, Announce) for outcome in outcomes]
    assert [len(found) for found in announced] == [0, 0, 1]
    assert "3 stemmen in 60 minuten" in text(announced[2][0].reply)


async def test_eligibility_is_set_at_new_and_edit_and_shown(city: City) -> None:
    created = await city.ask(
        MODERATOR, "!challenge new --eligibility=verified parks Parks", moderator=True
    )
    assert "parks" in created
    async with city.bot.db.snapshot():
        parks = await city.bot.store.challenges.by_slug("parks")
    assert parks is not None and parks.eligibility is Eligibility.VERIFIED
    shown = await city.ask(ALICE, "!challenge parks")
    assert says("nl", "identity.open_to_verified", server=CITY) in shown

    async with city.bot.db.transaction():
        await city.bot.store.challenges.set_room(parks.id, "!parks:city.example", city.bot.clock())
    edit = await city.say(MODERATOR, "!challenge edit parks --eligibility=listed", moderator=True)
    assert "eligibility" in text(edit.reply)
    # The room hears who may take part now, in the bot's language.
    (told,) = effects_of(edit, SendRoom)
    assert told.room_id == "!parks:city.example"
    assert text(told.reply) == says(
        "nl",
        "challenge.eligibility_changed",
        title="Parks",
        who=says("nl", "identity.open_to_listed", servers=CITY),
    )
    same = await city.say(MODERATOR, "!challenge edit parks --eligibility=listed", moderator=True)
    assert effects_of(same, SendRoom) == []  # nothing changed: nothing said
    shown = await city.ask(ALICE, "!challenge parks")
    assert says("nl", "identity.open_to_listed", servers=CITY) in shown

    # Alice is on the bot's own server, the one listed by default; someone elsewhere is not.
    assert "Bedankt" in await city.ask(ALICE, "!idea parks Benches")
    stranger = "@visitor:elsewhere.example"
    assert await city.ask(stranger, "!idea parks Trees") == says(
        "nl", "identity.not_listed", slug="parks", servers=CITY
    )


async def test_verified_only_needs_a_bot_that_can_verify(tmp_path: Path) -> None:
    async with open_harness(tmp_path) as bot:  # no admin token configured
        reply = await bot.ask(
            MODERATOR, "!challenge new --eligibility=verified parks Parks", moderator=True
        )
        assert reply == says("nl", "identity.cannot_verify")
        assert await bot.store.challenges.by_slug("parks") is None


async def test_a_refused_thumbs_up_is_explained_in_a_direct_message(city: City) -> None:
    await city.ask(MODERATOR, "!challenge new --eligibility=verified parks Parks", moderator=True)
    async with city.bot.db.transaction():
        parks = await city.bot.store.challenges.by_slug("parks")
        assert parks is not None
        await city.bot.store.challenges.set_room(parks.id, "!parks:city.example", city.bot.clock())
    city.known[ALICE] = verification(ALICE, "jana")
    idea_reply = await city.say(ALICE, "!idea parks Benches")
    (card,) = [e for e in idea_reply.effects if getattr(e, "card", None) is not None]
    await city.bot.card_posted(card, "$card")

    from handlers.services.voting import vote_by_reaction

    outcome = await city.bot.run(
        BOB, lambda ctx: vote_by_reaction(ctx, "$card", "$reaction"), room="!parks:city.example"
    )

    assert outcome is not None and outcome.reply is None
    (told,) = effects_of(outcome, SendDirect)
    assert told.user_id == BOB
    reason = says("nl", "identity.not_verified", slug="parks", server=CITY)
    assert text(told.reply) == says(
        "nl", "vote.reaction_refused", id=f"#{card.card}", reason=reason
    )
    assert effects_of(outcome, CardChanged) == []


async def test_audit_and_the_closing_summary_count_votes_by_standing(city: City) -> None:
    await new_challenge(city.bot, options="--deadline=2026-03-05")
    idea = await submit(city.bot, CAROL, "Bike lanes")
    city.known = {ALICE: verification(ALICE, "jana")}
    await city.ask(ALICE, f"!vote {idea}")  # verified
    await city.ask(BOB, f"!vote {idea}")  # on the listed (own) server
    await city.ask("@visitor:elsewhere.example", f"!vote {idea}")  # neither

    counts = says("nl", "identity.votes_by_standing", verified=1, listed=1, other=1)
    audit = await city.ask(MODERATOR, "!audit", moderator=True)
    assert f"mobility: {counts}" in audit
    assert f"#{idea}: {counts}" in await city.ask(MODERATOR, f"!audit {idea}", moderator=True)

    later = datetime(2026, 3, 6, tzinfo=UTC)
    async with city.bot.db.transaction():
        outcomes = await fire_due(
            city.bot.store, city.bot.dispatcher.catalogue, city.bot.settings,
            city.bot.dispatcher.programme, later, words=city.bot.dispatcher.words,
        )  # fmt: skip
    (closing,) = outcomes
    (moderators,) = effects_of(closing, Announce)
    assert counts in text(moderators.reply)
