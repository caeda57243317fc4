"""The Discord journey through the real discord.py client against simcord's in-memory Discord:
a moderator opens a challenge, students submit through the modal (similar ideas offered first),
vote by button and by 👍, moderators triage from the review channel, authors are told."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import discord
import pytest
import simcord

from bot.discord.ids import ref
from bot.outcomes import enqueue_outcome
from handlers.programme import fire_due
from tests.discord_support import World, discord_world


async def open_challenge(
    world: World, slug: str = "parks", **options: object
) -> simcord.ChannelHandle:
    """A challenge created with /challenge new by a moderator; its channel."""
    mod = world.member(f"mod-{slug}", moderator=True)
    result = await mod.slash(
        world.general,
        "challenge new",
        slug=slug,
        title="Greener parks",
        description="Where would you like more green?",
        **options,
    )
    assert result.acknowledged and result.ephemeral
    await world.flush()
    async with world.store.db.transaction():
        challenge = await world.store.challenges.by_slug(slug)
    assert challenge is not None and challenge.room_id is not None
    return world.channel_of(challenge.room_id)


async def submit(
    world: World,
    member: simcord.MemberActor,
    title: str,
    description: str = "",
    slug: str = "parks",
) -> simcord.InteractionResult:
    shown = await member.slash(world.general, "idea", challenge=slug)
    assert shown.modal is not None
    result = await member.submit_modal(shown, {"title": title, "description": description})
    await world.flush()
    return result


async def join(world: World, *members: simcord.MemberActor, slug: str = "parks") -> None:
    """/doe-mee: the challenge's channel opens to them."""
    for member in members:
        joined = await member.slash(world.general, "join", challenge=slug)
        assert joined.acknowledged
        await world.flush()


def answer(result: simcord.InteractionResult) -> str:
    """What the asker was answered (the deferred response's follow-up)."""
    assert result.response is not None, result
    shown = [result.response.content]
    shown += [embed.description or "" for embed in result.response.embeds]
    return "\n".join(shown)


async def idea_count(world: World) -> int:
    value = await world.store.db.fetch_value("SELECT COUNT(*) FROM ideas")
    return int(value or 0)


async def votes_for(world: World, idea_id: int) -> int:
    async with world.store.db.transaction():
        return await world.store.votes.count(idea_id)


def cards(channel: simcord.ChannelHandle) -> list[discord.Message]:
    return [message for message in channel.history() if message.embeds]


async def test_an_idea_through_the_modal_gets_a_card_a_thread_and_a_review(tmp_path: Path) -> None:
    async with discord_world(tmp_path) as world:
        channel = await open_challenge(world)
        alice = world.member("alice")

        result = await submit(world, alice, "More trees in the parks", "Shade in summer")

        assert result.acknowledged and result.ephemeral
        assert "#1" in answer(result)
        (card,) = cards(channel)
        assert "More trees in the parks" in (card.embeds[0].description or "")
        assert [thread.name for thread in channel.threads] == ["#1 More trees in the parks"]
        review = world.review.last_message
        assert review is not None and "#1" in review.content
        labels = [c["label"] for row in review.components for c in row.to_dict()["components"]]
        assert labels == ["✅ Aanvaarden", "❌ Weigeren", "❓ Meer info vragen", "🔁 Dubbel"]


async def test_similar_ideas_are_offered_before_a_new_one_is_submitted(tmp_path: Path) -> None:
    async with discord_world(tmp_path) as world:
        await open_challenge(world)
        await submit(world, world.member("alice"), "More trees in the parks")
        bob = world.member("bob")

        offered = await submit(world, bob, "More trees in parks please")

        assert offered.ephemeral
        prompt = offered.response
        assert prompt is not None and "#1" in prompt.content
        assert await idea_count(world) == 1
        voted = await bob.click(prompt, custom_id=next(_ids(prompt, "similar", "1")))
        await world.flush()
        assert voted.ephemeral
        assert await votes_for(world, 1) == 1
        assert await idea_count(world) == 1

        carol = world.member("carol")
        offered = await submit(world, carol, "Trees in the parks, more")
        prompt = offered.response
        assert prompt is not None
        await carol.click(prompt, custom_id=next(_ids(prompt, "similar", "0")))
        await world.flush()
        assert await idea_count(world) == 2


def _ids(message: object, kind: str, idea: str) -> Iterator[str]:
    """The custom ids of a message's buttons of ``kind`` for ``idea``."""
    rows = getattr(message, "components", [])
    for row in rows:
        for component in (row if isinstance(row, dict) else row.to_dict())["components"]:
            custom_id = str(component.get("custom_id", ""))
            if custom_id.startswith(f"cb:{kind}:") and custom_id.endswith(f":{idea}"):
                yield custom_id


async def test_the_vote_button_toggles_and_a_thumb_counts_the_same(tmp_path: Path) -> None:
    async with discord_world(tmp_path) as world:
        channel = await open_challenge(world, budget=1)
        await submit(world, world.member("alice"), "More trees")
        await submit(world, world.member("alan"), "Benches by the pond")
        first, second = cards(channel)
        bob, carol = world.member("bob"), world.member("carol")
        outsider = world.member("outsider")
        with pytest.raises(simcord.SetupError):  # the channel is theirs who joined
            await outsider.click(first, custom_id="cb:vote:1")
        await join(world, bob, carol)

        await bob.click(first, custom_id="cb:vote:1")
        await world.flush()
        assert await votes_for(world, 1) == 1
        refreshed = next(m for m in cards(channel) if m.id == first.id)
        assert refreshed.embeds[0].description != first.embeds[0].description  # edited live

        spent = await bob.click(second, custom_id="cb:vote:2")  # the budget is one vote
        await world.flush()
        assert await votes_for(world, 2) == 0
        assert "parks" in answer(spent)  # the budget of parks is spent

        await bob.click(first, custom_id="cb:vote:1")  # again: the vote is taken back
        await world.flush()
        assert await votes_for(world, 1) == 0

        await carol.react(second, "👍")
        await world.flush()
        assert await votes_for(world, 2) == 1
        await carol.unreact(second, "👍")
        await world.flush()
        assert await votes_for(world, 2) == 0
        await carol.react(second, "👍🏽")  # any skin tone
        await world.flush()
        assert await votes_for(world, 2) == 1
        await carol.click(second, custom_id="cb:vote:2")  # the button sees the 👍's vote
        await world.flush()
        assert await votes_for(world, 2) == 0


async def test_moderators_triage_from_the_review_channel_and_the_author_is_told(
    tmp_path: Path,
) -> None:
    async with discord_world(tmp_path) as world:
        channel = await open_challenge(world)
        alice = world.member("alice")
        await submit(world, alice, "More trees")
        review = world.review.last_message
        assert review is not None
        student = world.member("student")
        refused = await student.click(review, custom_id="cb:review:reject:1")
        assert refused.ephemeral and refused.modal is None

        mod = world.member("mod", moderator=True)
        shown = await mod.click(review, custom_id="cb:review:reject:1")
        assert shown.modal is not None
        done = await mod.submit_modal(shown, {"text": "Not in a park we manage"})
        await world.flush()
        assert done.acknowledged and done.ephemeral

        async with world.store.db.transaction():
            idea = await world.store.ideas.get(1)
        assert idea is not None and idea.status == "rejected"
        (thread,) = channel.threads
        assert thread.name == "[afgewezen] #1 More trees"  # the status, as a forum's tag
        (news,) = alice.user.dm_channel.history()
        assert "#1" in news.content and "Not in a park we manage" in news.content


async def test_an_author_who_takes_no_direct_messages_is_told_in_the_idea_thread(
    tmp_path: Path,
) -> None:
    async with discord_world(tmp_path) as world:
        channel = await open_challenge(world)
        alice = world.member("alice")
        await submit(world, alice, "More trees")
        await join(world, alice)
        await alice.slash(channel, "show", idea=1)  # a second card, without a thread
        await world.flush()
        assert len(cards(channel)) == 2
        review = world.review.last_message
        assert review is not None
        mod = world.member("mod", moderator=True)
        shown = await mod.click(review, custom_id="cb:review:needinfo:1")
        world.env.inject_error(
            "POST",
            "/channels/*/messages",
            status=403,
            code=50007,
            message="Cannot send messages to this user",
        )
        await mod.submit_modal(shown, {"text": "Which park?"})
        await world.flush()
        (thread,) = channel.threads
        told = thread.last_message
        assert told is not None
        assert told.content.startswith(f"<@{alice.id}>")
        assert "Which park?" in told.content
        assert [user.id for user in told.mentions] == [alice.id]


async def test_hostile_titles_are_shown_as_typed_and_notify_nobody(tmp_path: Path) -> None:
    async with discord_world(tmp_path) as world:
        channel = await open_challenge(world)
        mallory = world.member("mallory")
        title = "**Free** @everyone @here <@&1> # big [link](https://evil.example)"

        await submit(world, mallory, title, "> quoted\n@everyone")

        (card,) = cards(channel)
        assert not card.mention_everyone and not card.role_mentions and not card.mentions
        shown = card.embeds[0].description or ""
        assert "\\*\\*Free\\*\\*" in shown and "\\[link](" in shown  # no masked link
        assert "@everyone" not in shown.replace("@\u200beveryone", "")
        review = world.review.last_message
        assert review is not None and not review.mention_everyone
        assert "@everyone" not in review.content.replace("@\u200beveryone", "")
        assert ref(mallory.id) in review.content  # the author, as an account, never a mention


async def _accept(world: World, mod: simcord.MemberActor, idea: int) -> None:
    result = await mod.slash(world.general, "accept", idea=idea)
    assert result.acknowledged
    await world.flush()


async def test_the_final_poll_is_native_and_counted_by_the_core_rules(tmp_path: Path) -> None:
    async with discord_world(tmp_path) as world:
        channel = await open_challenge(world)
        await submit(world, world.member("alice"), "More trees")
        await submit(world, world.member("alan"), "Benches by the pond")
        mod = world.member("mod", moderator=True)
        await _accept(world, mod, 1)
        await _accept(world, mod, 2)
        started = await mod.slash(world.general, "poll show", challenge="parks")
        assert started.acknowledged
        await world.flush()
        poll = next(message for message in channel.history() if message.poll is not None)
        assert poll.poll is not None
        assert [answer.text for answer in poll.poll.answers] == [
            "#1 More trees",
            "#2 Benches by the pond",
        ]
        bob, carol, mallory = world.member("bob"), world.member("carol"), world.member("mallory")
        await join(world, bob, carol, mallory)
        async with world.store.db.transaction():
            await world.store.blocks.block(
                ref(mallory.id), by=ref(mod.id), reason="spam", now=world.clock()
            )

        await bob.vote(poll, answer=1)
        await world.flush()
        await bob.remove_vote(poll, answer=1)  # changed their mind: one answer a person
        await bob.vote(poll, answer=2)
        await carol.vote(poll, answer=2)
        await mallory.vote(poll, answer=1)  # blocked: not counted
        await world.flush()

        async with world.store.db.transaction():
            running = await world.store.polls.latest(1)
            assert running is not None
            result = await world.store.polls.result(running.id)
        assert result is not None
        assert result.voters == 2
        assert [(a.idea_id, a.count) for a in result.answers] == [(1, 0), (2, 2)]

        async def away(*_args: object) -> None:
            """The gateway delivers nothing while the bot is down."""

        world.front.on_raw_poll_vote_add = away  # type: ignore[method-assign]
        dora = world.member("dora")
        await join(world, dora)
        await dora.vote(poll, answer=1)  # while the bot is away
        await world.restart()
        await world.flush()
        await world.restart()  # read back once
        await world.flush()
        async with world.store.db.transaction():
            result = await world.store.polls.result(running.id)
        assert result is not None and result.voters == 3
        assert [(a.idea_id, a.count) for a in result.answers] == [(1, 1), (2, 2)]

        ended = await mod.slash(world.general, "poll end", challenge="parks")
        assert ended.acknowledged
        await world.flush()
        closed = next(message for message in channel.history() if message.id == poll.id)
        assert closed.poll is not None and closed.poll.is_finalised()
        summary = channel.last_message
        assert summary is not None and "Benches by the pond" in summary.content


async def test_what_was_typed_while_the_bot_was_away_is_read_back_once(tmp_path: Path) -> None:
    async with discord_world(tmp_path) as world:
        channel = await open_challenge(world)
        await submit(world, world.member("alice"), "More trees")
        (card,) = cards(channel)
        bob, carol = world.member("bob"), world.member("carol")
        await join(world, bob, carol)

        async def away(*_args: object) -> None:
            """The gateway delivers nothing while the bot is down."""

        world.front.on_message = away  # type: ignore[method-assign]
        world.front.on_raw_reaction_add = away  # type: ignore[method-assign]
        typed = await bob.send(channel, "!stem 1")
        await carol.react(card, "👍")
        (thread,) = channel.threads
        dave = world.member("dave")
        await join(world, dave)
        await dave.send(thread, "!stem 1")  # in the idea's thread
        await world.flush()
        assert await votes_for(world, 1) == 0

        await world.restart()
        await world.flush()
        assert await votes_for(world, 1) == 3
        replies = [
            m for m in channel.history() if m.reference and m.reference.message_id == typed.id
        ]
        assert len(replies) == 1

        await world.restart()  # a second start reads nothing twice
        await world.flush()
        assert await votes_for(world, 1) == 3

        world.front.on_raw_reaction_remove = away  # type: ignore[method-assign]
        await carol.unreact(card, "👍")  # taken away while the bot is down
        await world.restart()
        await world.flush()
        assert await votes_for(world, 1) == 2
        replies = [
            m for m in channel.history() if m.reference and m.reference.message_id == typed.id
        ]
        assert len(replies) == 1


async def test_the_programme_reaches_the_challenge_channel(tmp_path: Path) -> None:
    async with discord_world(tmp_path) as world:
        channel = await open_challenge(world, deadline="2026-03-10")
        await submit(world, world.member("alice"), "More trees")
        world.clock.advance(days=9)
        async with world.store.db.transaction():
            outcomes = await fire_due(
                world.store,
                world.dispatcher.catalogue,
                world.dispatcher.settings,
                world.dispatcher.programme,
                world.clock(),
                words=world.dispatcher.words,
            )
            for outcome in outcomes:
                await enqueue_outcome(
                    world.store,
                    outcome,
                    room_id="",
                    event_id=None,
                    settings=world.dispatcher.settings,
                    now=world.clock(),
                )
        assert outcomes
        await world.flush()
        said = "\n".join(message.content for message in channel.history())
        assert "Greener parks" in said and "1" in said


async def test_slash_commands_carry_dutch_names_and_descriptions(tmp_path: Path) -> None:
    async with discord_world(tmp_path) as world:
        synced = {
            command.name: command
            for command in await world.front.tree.fetch_commands(guild=world.front.guild_object)
        }
        assert {"vote", "idea", "challenges", "mydata", "forget", "stats"} <= set(synced)
        vote = synced["vote"].to_dict()
        assert vote["name_localizations"]["nl"] == "stem"
        assert vote["description_localizations"]["nl"]
        assert synced["idea"].to_dict()["name_localizations"]["nl"] == "idee"


async def test_the_persons_discord_locale_picks_the_language_until_they_choose(
    tmp_path: Path,
) -> None:
    async with discord_world(tmp_path) as world:
        await open_challenge(world)
        alice = world.member("alice")
        english = await alice.slash(world.general, "challenges")
        await world.flush()
        chosen = await alice.slash(world.general, "lang", language="nl")
        await world.flush()
        dutch = await alice.slash(world.general, "challenges")
        await world.flush()
        assert answer(english) != answer(dutch)
        assert "parks" in answer(english) and "parks" in answer(dutch)
        assert chosen.ephemeral


async def test_an_answer_whose_interaction_is_gone_after_a_restart_is_sent_directly(
    tmp_path: Path,
) -> None:
    async with discord_world(tmp_path) as world:
        await open_challenge(world)
        alice = world.member("alice")
        asked = await alice.slash(world.general, "challenges")
        assert asked.acknowledged  # deferred at once; its answer waits in the outbox
        await world.restart()
        await world.flush()

        (answer_by_dm,) = alice.user.dm_channel.history()
        assert "parks" in answer_by_dm.content
        assert asked.response is None or "parks" not in asked.response.content  # not twice


async def test_a_moderator_blocks_a_discord_account_picked_in_the_command(tmp_path: Path) -> None:
    async with discord_world(tmp_path) as world:
        channel = await open_challenge(world)
        await submit(world, world.member("alice"), "More trees")
        mallory = world.member("mallory")
        await join(world, mallory)
        mod = world.member("mod", moderator=True)
        blocked = await mod.slash(world.general, "block", user=mallory, reason="spam")
        await world.flush()
        assert blocked.acknowledged
        async with world.store.db.transaction():
            assert await world.store.blocks.is_blocked(ref(mallory.id))
        (card,) = cards(channel)
        refused = await mallory.click(card, custom_id="cb:vote:1")
        await world.flush()
        assert await votes_for(world, 1) == 0
        assert answer(refused)  # told why, in their own ephemeral answer


async def test_a_direct_message_to_the_bot_needs_no_prefix(tmp_path: Path) -> None:
    async with discord_world(tmp_path) as world:
        await open_challenge(world)
        alice = world.member("alice")
        await alice.send_dm("ideeen parks")
        await world.flush()
        history = alice.user.dm_channel.history()
        assert len(history) == 2  # the command and the answer
        assert history[-1].author.bot and "parks" in history[-1].content


async def test_in_a_challenge_channel_the_idea_form_needs_no_challenge(tmp_path: Path) -> None:
    async with discord_world(tmp_path) as world:
        channel = await open_challenge(world)
        alice = world.member("alice")
        await join(world, alice)
        shown = await alice.slash(channel, "idea")
        assert shown.modal is not None
        done = await alice.submit_modal(shown, {"title": "Water fountains", "description": ""})
        await world.flush()
        assert "#1" in answer(done)
        assert len(cards(channel)) == 1


async def test_personal_data_and_the_export_go_only_to_the_asker(tmp_path: Path) -> None:
    async with discord_world(tmp_path) as world:
        await open_challenge(world)
        alice = world.member("alice")
        await submit(world, alice, "More trees")
        before = len(world.general.history())

        mine = await alice.slash(world.general, "mydata")
        await world.flush()
        assert mine.ephemeral
        files = [a.filename for m in alice.user.dm_channel.history() for a in m.attachments]
        assert files == ["challenge-bot-data.json"]

        mod = world.member("mod", moderator=True)
        exported = await mod.slash(world.general, "export", challenge="parks")
        await world.flush()
        assert exported.ephemeral
        files = [a.filename for m in mod.user.dm_channel.history() for a in m.attachments]
        assert len(files) == 1
        assert len(world.general.history()) == before  # nothing of it in the channel


async def test_an_idea_is_picked_with_autocomplete(tmp_path: Path) -> None:
    async with discord_world(tmp_path) as world:
        await open_challenge(world)
        await submit(world, world.member("alice"), "More trees")
        await submit(world, world.member("alan"), "Benches by the pond")
        mod = world.member("mod", moderator=True)
        offered = await mod.autocomplete(world.general, "duplicate", "original", "ben")
        assert offered == [{"name": "#2 Benches by the pond", "value": 2}]


async def test_a_poll_open_to_listed_accounts_counts_a_linked_one_and_tells_the_other_why(
    tmp_path: Path,
) -> None:
    """A challenge for listed accounts: a Discord account counts only through the Matrix
    account it is linked to; an unlinked one is told why, and how to link, in its DM."""
    async with discord_world(tmp_path) as world:
        channel = await open_challenge(world, eligibility="listed")
        mod = world.member("mod", moderator=True)
        async with world.store.db.transaction():  # ideas from an account that may take part
            await world.store.links.link(
                ref(mod.id), "@mod:city.example", "link:mod", world.clock()
            )
        await submit(world, mod, "More trees")
        await submit(world, mod, "Benches by the pond")
        await _accept(world, mod, 1)
        await _accept(world, mod, 2)
        await mod.slash(world.general, "poll show", challenge="parks")
        await world.flush()
        poll = next(message for message in channel.history() if message.poll is not None)
        linked, unlinked = world.member("linked"), world.member("unlinked")
        await join(world, linked, unlinked)
        async with world.store.db.transaction():
            await world.store.links.link(
                ref(linked.id), "@linked:city.example", "link:linked", world.clock()
            )

        await linked.vote(poll, answer=1)
        await unlinked.vote(poll, answer=2)
        await unlinked.remove_vote(poll, answer=2)
        await unlinked.vote(poll, answer=2)  # told once a poll, however often they answer
        await world.flush()

        async with world.store.db.transaction():
            running = await world.store.polls.latest(1)
            assert running is not None
            result = await world.store.polls.result(running.id)
        assert result is not None and result.voters == 1
        assert [(a.idea_id, a.count) for a in result.answers] == [(1, 1), (2, 0)]
        (told,) = unlinked.user.dm_channel.history()
        assert "`!koppel`" in told.content  # how to link, in the programme's language (Dutch)
        assert linked.user.dm_channel is None or not linked.user.dm_channel.history()
