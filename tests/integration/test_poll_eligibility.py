"""Who takes part counts in the final poll, against the real Synapse: in a verified-only
challenge the bot looks each responder up through the admin API (identities set there as a
single sign-on login would leave them), counts only verified people, two accounts of one person
once (the latest answer of either), and tells an unverified person in their direct chat."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from devtools.homeserver import Homeserver
from handlers.settings import IdentitySettings
from storage import Standing
from tests.handler_support import says
from tests.integration.test_polls_on_synapse import (
    START,
    accepted_idea,
    counts,
    join,
    respond,
    result,
    wait_until_handled,
)
from tests.matrix_support import Person, Seen, start_moderated_bot, unique

pytestmark = pytest.mark.integration

ITSME = "oidc-itsme"
EID = "oidc-eid"


async def test_a_verified_only_poll_counts_verified_people_once_each(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    identity = IdentitySettings(
        admin_token=SecretStr(homeserver.admin_token()),
        auth_providers=(ITSME, EID),
        hash_key=SecretStr("a test key of the identity hash"),
    )
    world = await start_moderated_bot(homeserver, tmp_path, identity=identity)
    names = ("jana", "jana_again", "pieter", "someone")
    people = {name: await Person.create(homeserver, name) for name in names}
    try:
        # Jana logged in with itsme on one account and with her eID on another: one person.
        # Pieter is verified too; "someone" never is.
        jana = unique("85.07.31-")
        homeserver.set_external_ids(people["jana"].user_id, [(ITSME, jana)])
        homeserver.set_external_ids(people["jana_again"].user_id, [(EID, jana)])
        homeserver.set_external_ids(people["pieter"].user_id, [(ITSME, unique("90.02.14-"))])
        direct = await people["someone"].direct_chat_with(world.bot.user_id)

        slug, room = await world.open_challenge("verified-poll-", "Parks")
        first = await accepted_idea(world, slug, "Shade on the Vrijdagmarkt")
        second = await accepted_idea(world, slug, "Benches along the Leie")
        await world.moderator.ask(
            world.moderation_room, f"!challenge edit {slug} --eligibility=verified"
        )
        for person in people.values():
            await join(person, room, world)
        await world.moderator.ask(world.moderation_room, f"!poll {slug}")
        poll: Seen = await people["jana"].wait_for(lambda s: s.room_id == room and s.type == START)
        one, two = [f"idea-{first}"], [f"idea-{second}"]

        await respond(people["jana"], room, poll.event_id, one)
        await respond(people["pieter"], room, poll.event_id, one)
        await respond(people["someone"], room, poll.event_id, one)
        last = await respond(people["jana_again"], room, poll.event_id, two)  # Jana, later
        await wait_until_handled(world, last)

        running = await result(world, slug)
        assert running is not None
        assert running.voters == 2 and counts(running) == {first: 1, second: 1}
        told = await people["someone"].wait_for(
            lambda s: s.room_id == direct and "peiling" in s.content.get("body", "")
        )
        reason = says("nl", "identity.not_verified", slug=slug, server="localhost")
        assert told.content["body"] == says(
            "nl", "poll.answer_not_counted", slug=slug, reason=reason
        )

        # What was kept of each response: the two accounts of Jana share one identity hash.
        app = world.bot.app
        rows = await app.db.fetch_all(
            "SELECT voter, standing, identity, counted FROM poll_responses ORDER BY voter"
        )
        kept = {row["voter"]: row for row in rows}
        assert (
            kept[people["jana"].user_id]["identity"]
            == (kept[people["jana_again"].user_id]["identity"])
        )
        assert kept[people["jana"].user_id]["identity"] is not None
        assert kept[people["someone"].user_id]["counted"] == 0
        assert kept[people["someone"].user_id]["standing"] == Standing.LISTED
        assert jana not in str([dict(row) for row in rows])  # never the identity itself

        ended = await world.moderator.ask(world.moderation_room, f"!poll end {slug}")
        assert says("nl", "poll.result_header", title="Parks", count=2) in ended.content["body"]
        final = await result(world, slug)
        assert final is not None and final.ended_at is not None
        assert final.voters == 2 and counts(final) == {first: 1, second: 1}
    finally:
        await world.close()
        for person in people.values():
            await person.close()
