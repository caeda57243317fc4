"""``!link``/``!koppel`` and ``!unlink``/``!ontkoppel`` (handlers/commands/linking.py): a
Discord account gets a one-time code, the Matrix account sends it in its direct chat, and the
two are one person (eligibility, one vote per idea, one budget, their data) until either side
unlinks. The Discord account is driven as the Discord front end drives the dispatcher: with its
``discord:<snowflake>`` account and the verification of the Matrix account it is linked to."""

from __future__ import annotations

import hashlib
import json
import re

from handlers.accounts import identity_account
from handlers.dispatch import Sender
from handlers.effects import Outcome, SendDirect, SendDirectFile
from storage import Standing
from tests.handler_support import (
    ALICE,
    BOB,
    CAROL,
    MODERATOR,
    effects_of,
    new_challenge,
    says,
    submit,
    text,
)
from tests.identity_support import CITY, City, verification

DISCORD = "discord:81234567890123456"
OTHER_DISCORD = "discord:81234567890123999"
CHANNEL = "discord:91234567890123456"
CODE = re.compile(r"[A-Z2-9]{4}-[A-Z2-9]{4}")


async def discord(
    city: City, account: str, body: str, *, room: str = CHANNEL, private: bool = True
) -> Outcome:
    """A command from a Discord account, as the Discord front end hands it to the dispatcher:
    with the verification of the Matrix account it is linked to, if any. ``private``: a slash
    command, whose answer only the asker sees (not a prefix command typed in a channel)."""
    async with city.bot.db.snapshot():
        counted = await identity_account(city.bot.store, account)
    sender = Sender(
        user_id=account,
        room_id=room,
        is_direct=private,
        is_moderator=False,
        verification=None if counted is None else city.known.get(counted),
    )
    async with city.bot.store.db.transaction():
        outcome = await city.bot.dispatcher.handle_message(sender, body)
    assert outcome is not None
    return outcome


async def code_for(city: City, account: str = DISCORD) -> str:
    outcome = await discord(city, account, "!link")
    found = CODE.search(text(outcome.reply))
    assert found is not None, text(outcome.reply)
    return found.group()


async def linked(city: City, account: str = DISCORD, matrix: str = ALICE) -> str:
    code = await code_for(city, account)
    reply = await city.ask(matrix, f"!koppel {code}")
    assert reply.startswith(says("nl", "link.done", account=account, command="!ontkoppel"))
    return reply


async def test_a_code_asked_for_where_others_read_along_goes_to_the_direct_chat(
    city: City,
) -> None:
    outcome = await discord(city, DISCORD, "!koppel", private=False)  # typed in a channel

    assert not CODE.search(text(outcome.reply))
    assert text(outcome.reply) == says("nl", "link.sent_elsewhere")
    (sent,) = effects_of(outcome, SendDirect)
    assert sent.user_id == DISCORD and CODE.search(text(sent.reply))


async def test_a_discord_account_gets_a_personal_one_time_code_kept_only_as_a_hash(
    city: City,
) -> None:
    outcome = await discord(city, DISCORD, "!koppel")

    assert outcome.personal
    code = CODE.search(text(outcome.reply))
    assert code is not None
    assert text(outcome.reply) == says(
        "nl", "link.code", code=code.group(), command=f"!koppel {code.group()}", minutes=15
    )
    rows = await city.bot.db.fetch_all("SELECT * FROM link_codes")
    assert [row["account"] for row in rows] == [DISCORD]
    hashed = hashlib.sha256(code.group().replace("-", "").encode()).hexdigest()
    assert rows[0]["code_hash"] == hashed
    assert code.group().replace("-", "") not in json.dumps([dict(row) for row in rows])

    # A second request replaces the first code.
    again = await code_for(city)
    assert again != code.group()
    assert await city.bot.db.fetch_value("SELECT COUNT(*) FROM link_codes") == 1
    assert (await city.ask(ALICE, f"!koppel {code.group()}")).startswith(
        says("nl", "link.bad_code", command="!koppel", minutes=15)
    )


async def test_the_matrix_account_links_with_the_code_in_its_direct_chat(city: City) -> None:
    code = await code_for(city)

    outcome = await city.say(ALICE, f"!koppel {code.lower()}")  # any case works

    assert outcome.personal
    assert text(outcome.reply) == says("nl", "link.done", account=DISCORD, command="!ontkoppel")
    link = await city.bot.store.links.of(DISCORD)
    assert link is not None and link.matrix_account == ALICE
    assert await city.bot.store.links.of(ALICE) == link
    assert await city.bot.db.fetch_value("SELECT COUNT(*) FROM link_codes") == 0
    # Both sides now say what they are linked to.
    asked = await discord(city, DISCORD, "!link")
    assert text(asked.reply) == says("nl", "link.linked_to", account=ALICE, command="!ontkoppel")
    assert await city.ask(ALICE, "!link") == says(
        "nl", "link.linked_to", account=DISCORD, command="!ontkoppel"
    )


async def test_a_wrong_expired_or_used_code_changes_nothing(city: City) -> None:
    bad = says("nl", "link.bad_code", command="!koppel", minutes=15)
    assert await city.ask(ALICE, "!koppel ABCD-EFGH") == bad
    assert await city.ask(ALICE, "!koppel not-a-code!") == bad

    code = await code_for(city)
    city.bot.clock.advance(minutes=15)
    assert await city.ask(ALICE, f"!koppel {code}") == bad  # expired

    code = await code_for(city)
    await city.ask(ALICE, f"!koppel {code}")
    await city.ask(ALICE, "!ontkoppel")
    assert await city.ask(BOB, f"!koppel {code}") == bad  # once only
    assert await city.bot.store.links.of(BOB) is None
    assert await city.bot.store.links.of(DISCORD) is None


async def test_guessing_codes_is_cut_off_after_five_wrong_ones(city: City) -> None:
    for guess in ("AAAA-AAAA", "BBBB-BBBB", "CCCC-CCCC", "DDDD-DDDD", "EEEE-EEEE"):
        await city.ask(BOB, f"!koppel {guess}")
    code = await code_for(city)

    refused = await city.ask(BOB, f"!koppel {code}")

    assert refused == says("nl", "link.too_many_tries", minutes=15)
    assert await city.bot.store.links.of(DISCORD) is None
    # Others are not held up, and the code still works for the person it was meant for.
    await linked(city)
    # After the window, Bob may try again.
    city.bot.clock.advance(minutes=16)
    assert await city.ask(BOB, "!koppel AAAA-AAAA") == says(
        "nl", "link.bad_code", command="!koppel", minutes=15
    )


async def test_a_code_sent_where_others_read_it_is_used_up(city: City) -> None:
    code = await code_for(city)

    reply = await city.bot.ask(
        ALICE, f"!koppel {code}", room="!mobility:city.example", direct=False
    )

    assert reply == says("nl", "link.only_direct", command="!koppel")
    assert await city.bot.store.links.of(ALICE) is None
    # Whoever read it in the room cannot use it either.
    assert await city.ask(BOB, f"!koppel {code}") == says(
        "nl", "link.bad_code", command="!koppel", minutes=15
    )


async def test_a_code_is_sent_from_matrix_not_from_another_discord_account(city: City) -> None:
    code = await code_for(city)

    outcome = await discord(city, OTHER_DISCORD, f"!link {code}")

    assert text(outcome.reply) == says("nl", "link.code_from_matrix", command="!koppel")
    assert await city.bot.store.links.of(OTHER_DISCORD) is None
    await linked(city)  # the code was not used up by the attempt


async def test_an_account_is_linked_to_one_other_at_a_time(city: City) -> None:
    await linked(city)
    other = await code_for(city, OTHER_DISCORD)

    assert await city.ask(ALICE, f"!koppel {other}") == says(
        "nl", "link.matrix_taken", command="!ontkoppel"
    )
    assert await city.bot.store.links.of(OTHER_DISCORD) is None

    # A linked Discord account gets no new code: it is told what it is linked to.
    again = await discord(city, DISCORD, "!link")
    assert CODE.search(text(again.reply)) is None

    # Linking the same two again is a no-op that says so.
    await city.ask(ALICE, "!unlink")
    code = await code_for(city)
    await city.ask(ALICE, f"!koppel {code}")
    code_for_same = await code_for(city, OTHER_DISCORD)
    assert "!ontkoppel" in await city.ask(ALICE, f"!koppel {code_for_same}")


async def test_a_discord_account_is_told_how_to_link_where_it_cannot_take_part(
    city: City,
) -> None:
    await city.ask(MODERATOR, "!challenge new --eligibility=verified parks Parks", moderator=True)
    await city.ask(MODERATOR, "!challenge new --eligibility=listed lanes Lanes", moderator=True)
    await city.ask(MODERATOR, "!challenge new --eligibility=anyone squares Squares", moderator=True)

    parks = await discord(city, DISCORD, "!idea parks Benches")
    lanes = await discord(city, DISCORD, "!idea lanes Benches")

    assert text(parks.reply) == says(
        "nl", "identity.link_to_verified", slug="parks", server=CITY, command="!koppel"
    )
    assert text(lanes.reply) == says(
        "nl", "identity.link_to_listed", slug="lanes", servers=CITY, command="!koppel"
    )
    # In English, the command in English.
    await discord(city, DISCORD, "!lang en")
    parks = await discord(city, DISCORD, "!idea parks Benches")
    assert text(parks.reply) == says(
        "en", "identity.link_to_verified", slug="parks", server=CITY, command="!link"
    )
    # Open to anyone: a Discord account takes part as it is, as "other".
    await discord(city, DISCORD, "!idea squares Benches")
    (idea,) = await city.bot.store.ideas.by_author(DISCORD)
    assert idea.title == "Benches"


async def test_linked_accounts_are_one_verified_person_until_unlinked(city: City) -> None:
    await city.ask(
        MODERATOR, "!challenge new --eligibility=verified --budget=2 parks Parks", moderator=True
    )
    city.known = {ALICE: verification(ALICE, "jana"), CAROL: verification(CAROL, "piet")}
    first = int(re.findall(r"#(\d+)", await city.ask(CAROL, "!idea parks Benches"))[0])
    second = int(re.findall(r"#(\d+)", await city.ask(CAROL, "!idea parks Trees"))[0])
    third = int(re.findall(r"#(\d+)", await city.ask(CAROL, "!idea parks Swings"))[0])
    await linked(city)

    voted = await discord(city, DISCORD, f"!stem {first}")
    assert "geteld" in text(voted.reply)
    assert await city.ask(ALICE, f"!stem {first}") == says(
        "nl", "identity.linked_vote", id=f"#{first}"
    )
    assert "geteld" in await city.ask(ALICE, f"!stem {second}")
    budget = await discord(city, DISCORD, f"!stem {third}")
    assert text(budget.reply) == says("nl", "vote.budget_spent", count=2, slug="parks")
    assert (await city.bot.idea(first)).votes == 1
    async with city.bot.db.snapshot():
        standing = await city.bot.store.votes.by_standing(idea_id=first)
    assert standing[Standing.VERIFIED] == 1

    # Unlinked from the Discord side: the Discord account is on its own again, and may not
    # vote in a challenge for verified people; the votes cast while linked stay.
    undone = await discord(city, DISCORD, "!unlink")
    assert text(undone.reply) == says("nl", "link.undone", command="!koppel")
    assert await city.bot.store.links.of(ALICE) is None
    refused = await discord(city, DISCORD, f"!stem {third}")
    assert text(refused.reply) == says(
        "nl", "identity.link_to_verified", slug="parks", server=CITY, command="!koppel"
    )
    assert (await city.bot.idea(first)).votes == 1
    assert await city.ask(ALICE, "!unlink") == says("nl", "link.not_linked", command="!koppel")


async def test_linked_unverified_accounts_vote_once_per_idea(city: City) -> None:
    """Without a verification, the link itself makes the two one person."""
    await new_challenge(city.bot, options="--deadline=2099-12-31 --budget=5")
    idea = await submit(city.bot, CAROL, "Bike lanes")
    await linked(city, matrix=BOB)

    assert "geteld" in await city.ask(BOB, f"!vote {idea}")
    refused = await discord(city, DISCORD, f"!vote {idea}")
    assert text(refused.reply) == says("nl", "identity.linked_vote", id=f"#{idea}")
    assert (await city.bot.idea(idea)).votes == 1


async def test_votes_from_before_the_link_count_once(city: City) -> None:
    await new_challenge(city.bot)
    both = await submit(city.bot, CAROL, "Bike lanes")
    only_discord = await submit(city.bot, CAROL, "Bike parking")
    await city.ask(BOB, f"!vote {both}")
    await discord(city, DISCORD, f"!vote {both}")
    await discord(city, DISCORD, f"!vote {only_discord}")
    assert (await city.bot.idea(both)).votes == 2

    reply = await linked(city, matrix=BOB)

    assert says("nl", "link.dropped", count=1) in reply
    assert (await city.bot.idea(both)).votes == 1
    assert (await city.bot.idea(only_discord)).votes == 1
    refused = await city.ask(BOB, f"!vote {only_discord}")
    assert refused == says("nl", "identity.linked_vote", id=f"#{only_discord}")


async def test_mydata_and_forget_cover_both_accounts(city: City) -> None:
    await new_challenge(city.bot)
    idea = await submit(city.bot, CAROL, "Bike lanes")
    await discord(city, DISCORD, f"!vote {idea}")
    await linked(city, matrix=BOB)

    outcome = await city.say(BOB, "!mijngegevens")
    (sent,) = effects_of(outcome, SendDirectFile)
    data = json.loads(sent.data)
    assert data["user_id"] == BOB
    assert data["link"]["account"] == DISCORD and data["link"]["matrix_account"] == BOB
    assert data["linked_account"]["user_id"] == DISCORD
    assert [vote["idea_id"] for vote in data["linked_account"]["votes"]] == [idea]
    # From the Discord side, the same person's data: its own, and Bob's as the linked account.
    theirs = await discord(city, DISCORD, "!mydata")
    (file,) = effects_of(theirs, SendDirectFile)
    assert json.loads(file.data)["linked_account"]["user_id"] == BOB

    await city.ask(BOB, "!vergeet")
    done = await city.ask(BOB, "!vergeet bevestig")

    assert done == says("nl", "forget.done", votes=1, deleted=0, anonymised=0)
    assert await city.bot.store.links.of(DISCORD) is None
    assert await city.bot.db.fetch_value("SELECT COUNT(*) FROM votes") == 0
    for table, column in (("account_links", "account"), ("users", "user_id")):
        left = await city.bot.db.fetch_value(
            f"SELECT COUNT(*) FROM {table} WHERE {column} IN (?, ?)", (DISCORD, BOB)
        )
        assert left == 0


async def test_the_link_command_explains_itself_on_matrix(city: City) -> None:
    assert await city.ask(ALICE, "!koppel") == says(
        "nl", "link.how", command="!koppel", command_code="!koppel <code>"
    )
    await linked(city)
    in_room = await city.bot.ask(ALICE, "!koppel", room="!mobility:city.example", direct=False)
    assert in_room == says("nl", "link.linked", command="!ontkoppel")
    assert DISCORD not in in_room


async def test_a_verified_link_shares_the_identity_also_while_the_homeserver_is_away(
    city: City,
) -> None:
    """Linked by a verified account, the two share its identity: with the other accounts of
    that person too, and when the homeserver cannot be asked (no verification at hand), the
    Discord account still counts as that same person in a challenge open to anyone."""
    await new_challenge(city.bot)
    idea = await submit(city.bot, CAROL, "Bike lanes")
    city.known = {ALICE: verification(ALICE, "jana"), BOB: verification(BOB, "jana")}
    await linked(city)
    link = await city.bot.store.links.of(DISCORD)
    assert link is not None and link.person_key == "jana"

    assert "geteld" in await city.ask(BOB, f"!vote {idea}")  # Alice's other account
    del city.known[ALICE]  # the homeserver is away: no verification for Alice's accounts
    refused = await discord(city, DISCORD, f"!vote {idea}")

    assert text(refused.reply) == says("nl", "identity.linked_vote", id=f"#{idea}")
    assert (await city.bot.idea(idea)).votes == 1
