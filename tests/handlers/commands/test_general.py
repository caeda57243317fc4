"""Help and language (handlers/commands/general.py): ``!help``, help on one command, ``!lang``,
and the Dutch and English names of the commands."""

from __future__ import annotations

from tests.handler_support import ALICE, BOB, MODERATOR, Harness, new_challenge, says


async def test_language_choice_is_remembered(bot: Harness) -> None:
    await new_challenge(bot)

    assert await bot.ask(ALICE, "!lang en") == says("en", "lang.set")
    assert await bot.store.users.language(ALICE) == "en"
    assert (await bot.ask(ALICE, "!challenges")).startswith(
        says("en", "challenges.header", count=1)
    )
    assert await bot.ask(ALICE, "!vote 42") == says("en", "error.no_such_idea", id="#42")
    assert await bot.ask(BOB, "!vote 42") == says("nl", "error.no_such_idea", id="#42")

    assert await bot.ask(ALICE, "!taal NL") == says("nl", "lang.set")
    assert await bot.ask(ALICE, "!vote 42") == says("nl", "error.no_such_idea", id="#42")


async def test_help_lists_what_the_asker_may_run(bot: Harness) -> None:
    citizen = (await bot.ask(ALICE, "!help")).splitlines()
    moderator = (await bot.ask(MODERATOR, "!hulp", moderator=True)).splitlines()

    assert citizen[0] == says("nl", "help.header")
    assert citizen[-1] == says("nl", "help.footer", command="!hulp <commando>")
    assert f"!stem <idee-nummer> — {says('nl', 'help.vote')}" in citizen
    assert not any(
        line.startswith(("!aanvaard", "!wachtrij", "!uitdaging nieuw")) for line in citizen
    )
    assert set(citizen) < set(moderator)
    assert f"!weiger <idee-nummer> <reden> — {says('nl', 'help.reject')}" in moderator
    assert any(
        line.startswith("!uitdaging nieuw [--deadline=JJJJ-MM-DD[Tuu:mm]]") for line in moderator
    )


async def test_help_on_one_command(bot: Harness) -> None:
    await bot.say(ALICE, "!lang en")

    vote = await bot.ask(ALICE, "!help !vote")
    hidden = await bot.ask(ALICE, "!help challenge new")
    shown = await bot.ask(MODERATOR, "!help challenge new", moderator=True)

    assert vote.splitlines() == [
        says("en", "help.vote"),
        says("en", "help.usage", usage="!vote <idea-number>"),
        says("en", "help.aliases", aliases="stem"),
    ]
    assert hidden == says("en", "help.no_such_command", command="challenge new")
    assert shown.splitlines()[0] == says("nl", "help.challenge.new")


async def test_a_dutch_reader_sees_the_dutch_names_and_the_english_ones_work(bot: Harness) -> None:
    vote = await bot.ask(ALICE, "!hulp vote")
    ideas = await bot.ask(ALICE, "!help ideeën")
    new = await bot.ask(MODERATOR, "!hulp uitdaging nieuw", moderator=True)

    assert vote.splitlines()[1:] == [
        says("nl", "help.usage", usage="!stem <idee-nummer>"),
        says("nl", "help.aliases", aliases="vote"),
    ]
    assert ideas.splitlines()[2] == says("nl", "help.aliases", aliases="ideas, ideeen")
    assert new.splitlines()[1].startswith(says("nl", "help.usage", usage="!uitdaging nieuw ["))
    assert new.splitlines()[-1] == says("nl", "help.aliases", aliases="new")
    listing = (await bot.ask(ALICE, "!help")).splitlines()
    assert f"!uitdagingen — {says('nl', 'help.challenges')}" in listing
    assert not any(line.startswith(("!challenges ", "!vote ", "!idea ")) for line in listing)
    # The English names still work for a Dutch reader, and answer in Dutch.
    assert (await bot.ask(ALICE, "!challenges")) == (await bot.ask(ALICE, "!uitdagingen"))
