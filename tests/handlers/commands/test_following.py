"""``!follow`` / ``!volg``, ``!unfollow`` / ``!ontvolg`` and ``!notifications`` /
``!meldingen``: following challenges and ideas (authors and voters follow by themselves,
unless they said otherwise), listing them in the direct chat only, and choosing how often."""

from __future__ import annotations

from handlers.effects import SendDirect
from storage import Frequency
from tests.handler_support import (
    ALICE,
    BOB,
    CAROL,
    Harness,
    effects_of,
    new_challenge,
    says,
    submit,
    text,
)

ROOM = "!mobility:city.example"


async def test_following_a_challenge_and_an_idea_and_listing_them(bot: Harness) -> None:
    await new_challenge(bot)
    mine = await submit(bot, ALICE, "Protected lanes")
    other = await submit(bot, BOB, "Bike parking")
    voted = await submit(bot, CAROL, "Night buses")
    await bot.say(ALICE, f"!vote {voted}")

    followed = await bot.ask(ALICE, "!volg mobility")
    assert followed.startswith(
        says("nl", "follow.started", what="uitdaging Safer bike lanes (mobility)")
    )
    assert "dagelijks overzicht" in followed  # daily by default
    assert (await bot.ask(ALICE, f"!follow #{other}")).startswith(
        says("nl", "follow.started", what=f"idee #{other} Bike parking")
    )

    listing = await bot.ask(ALICE, "!volg")
    assert listing.splitlines()[:5] == [
        says("nl", "follow.header"),
        says("nl", "follow.challenge", slug="mobility", title="Safer bike lanes"),
        says("nl", "follow.idea_voted", id=f"#{voted}", title="Night buses", slug="mobility"),
        says("nl", "follow.idea_asked", id=f"#{other}", title="Bike parking", slug="mobility"),
        says("nl", "follow.idea_own", id=f"#{mine}", title="Protected lanes", slug="mobility"),
    ]
    assert await bot.store.following.follows_idea(ALICE, mine)
    assert await bot.store.following.follows_idea(ALICE, voted)


async def test_unfollowing_ones_own_idea_and_one_voted_for(bot: Harness) -> None:
    await new_challenge(bot)
    mine = await submit(bot, ALICE, "Protected lanes")
    await bot.say(BOB, f"!vote {mine}")
    assert await bot.store.following.idea_followers(mine) == [ALICE, BOB]

    stopped = await bot.ask(BOB, f"!ontvolg {mine}")
    assert stopped == says(
        "nl",
        "follow.stopped",
        what=f"idee #{mine} Protected lanes",
        command=f"!volg {mine}",
    )
    await bot.say(ALICE, f"!unfollow {mine}")
    assert await bot.store.following.idea_followers(mine) == []
    assert await bot.ask(ALICE, "!volg") == "\n".join(
        [
            says("nl", "follow.none", challenge="!volg <uitdaging>", idea="!volg <idee-nummer>"),
            says(
                "nl",
                "notifications.current",
                frequency=says("nl", "notifications.daily"),
                command="!meldingen <direct|dagelijks|wekelijks|uit>",
            ),
        ]
    )
    # Following it again undoes it.
    await bot.say(BOB, f"!volg {mine}")
    assert await bot.store.following.idea_followers(mine) == [BOB]


async def test_the_list_is_sent_to_the_direct_chat_when_asked_in_a_room(bot: Harness) -> None:
    await new_challenge(bot)
    await bot.say(ALICE, "!follow mobility")
    outcome = await bot.say(ALICE, "!follow", room=ROOM, direct=False)
    assert text(outcome.reply) == says("nl", "follow.sent_elsewhere")
    (sent,) = effects_of(outcome, SendDirect)
    assert sent.user_id == ALICE and "mobility" in text(sent.reply)


async def test_what_cannot_be_followed_is_refused_politely(bot: Harness) -> None:
    await new_challenge(bot, options="--deadline=2099-12-31 --premoderated")
    hidden = await submit(bot, ALICE, "Not let through yet")
    before = await bot.counts()
    assert await bot.ask(BOB, f"!volg {hidden}") == says(
        "nl", "error.no_such_idea", id=f"#{hidden}"
    )
    assert await bot.ask(BOB, "!volg nowhere") == says(
        "nl", "error.no_such_challenge", slug="nowhere"
    )
    assert await bot.ask(BOB, "!volg <b>?!") == says("nl", "error.no_such_challenge", slug="<b>?!")
    assert await bot.counts() == before
    assert await bot.store.following.idea_followers(hidden) == [ALICE]
    assert await bot.store.following.followed_challenges(BOB) == []


async def test_how_often_in_either_language(bot: Harness) -> None:
    assert await bot.store.following.frequency(ALICE) is Frequency.DAILY
    for word, frequency in (
        ("direct", Frequency.DIRECT),
        ("wekelijks", Frequency.WEEKLY),
        ("weekly", Frequency.WEEKLY),
        ("uit", Frequency.OFF),
        ("OFF", Frequency.OFF),
        ("dagelijks", Frequency.DAILY),
        ("daily", Frequency.DAILY),
    ):
        await bot.say(ALICE, f"!meldingen {word}")
        assert await bot.store.following.frequency(ALICE) is frequency
    assert await bot.ask(ALICE, "!notifications weekly") == says(
        "nl", "notifications.set_weekly", hour=18
    )
    await bot.say(BOB, "!lang en")
    assert await bot.ask(BOB, "!meldingen uit") == says(
        "en", "notifications.set_off", command="!notifications daily"
    )
    assert await bot.ask(BOB, "!notifications") == says(
        "en",
        "notifications.current",
        frequency=says("en", "notifications.off"),
        command="!notifications <direct|daily|weekly|off>",
    )
    refused = await bot.ask(BOB, "!notifications sometimes")
    assert "!notifications" in refused
    assert await bot.store.following.frequency(BOB) is Frequency.OFF
