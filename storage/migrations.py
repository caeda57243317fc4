"""Schema migrations, applied in order; each runs in one transaction with its version bump."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo


class Statements(Protocol):
    """What a migration's Python step may use: the database, inside the migration's transaction."""

    async def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int: ...

    async def fetch_all(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]: ...


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    sql: str
    #: Rewrite the whole file afterwards (VACUUM), to drop what deleted rows left in free space.
    vacuum_after: bool = False
    #: What SQL cannot do (time zones), run after ``sql`` in the same transaction.
    step: Callable[[Statements], Awaitable[None]] | None = None


#: The migration that adds polls: its number is kept here alone (fixtures and tests read it).
POLLS = 14
#: The migration of verified identities: who may take part, and what each vote's account was.
IDENTITY_VERSION = 15
#: The migration that keeps, with each poll response and report, who it came from as the
#: policy saw them, so that each counts once per person and only from people who may take part.
COUNTED_VERSION = 16
#: The migration of following: what each person follows, how often they hear of it, and what
#: waits for their next digest.
FOLLOWING_VERSION = 17
#: The migration of the support threshold: a challenge's number of votes that obliges the
#: city to look at an idea, and when each idea reached it (flagged once, kept across restarts).
THRESHOLD_VERSION = 18
#: The migration of linked accounts: a Discord account linked to a Matrix account is one person.
LINKS_VERSION = 19
#: The migration that keeps what the bot needs of each room's state, and the invites it has yet
#: to accept, so that a restart syncs from its position without asking for every room's state.
ROOM_STATE_VERSION = 20
#: The migration of a challenge's places on both networks: its other room (a Discord channel
#: beside its Matrix room, or the other way round), and a poll's start in each of them.
MIRROR_VERSION = 21

#: Where a deadline typed as a bare date was meant before deadlines had a time zone of their own.
LEGACY_ZONE = ZoneInfo("Europe/Brussels")


def end_of_day(day: date, zone: ZoneInfo) -> datetime:
    """The instant a day ends in ``zone`` (midnight after it), in UTC."""
    return datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)


async def _deadlines_to_instants(db: Statements) -> None:
    """Migration 13: a date deadline becomes the end of that day in Brussels, in UTC; the
    schedule of an open challenge's submission deadline is made, and the date column goes."""
    rows = await db.fetch_all(
        "SELECT id, deadline, status FROM challenges WHERE deadline IS NOT NULL"
    )
    for row in rows:
        instant = end_of_day(date.fromisoformat(str(row["deadline"])), LEGACY_ZONE).isoformat()
        await db.execute(
            "UPDATE challenges SET submission_deadline_at = ? WHERE id = ?", (instant, row["id"])
        )
        if row["status"] == "open":
            for kind in ("reminder_submission", "close_submission"):
                await db.execute(
                    "INSERT INTO schedule (challenge_id, kind, deadline_at) VALUES (?, ?, ?)",
                    (row["id"], kind, instant),
                )
    await db.execute("ALTER TABLE challenges DROP COLUMN deadline")


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "challenges, ideas, votes, moderation audit, event log and outbox",
        """
        CREATE TABLE challenges (
            id            INTEGER PRIMARY KEY,
            slug          TEXT NOT NULL UNIQUE,
            title         TEXT NOT NULL,
            description   TEXT NOT NULL DEFAULT '',
            status        TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
            room_id       TEXT UNIQUE,
            deadline      TEXT,
            vote_budget   INTEGER CHECK (vote_budget IS NULL OR vote_budget > 0),
            premoderated  INTEGER NOT NULL DEFAULT 0 CHECK (premoderated IN (0, 1)),
            created_by    TEXT NOT NULL,
            created_at    TEXT NOT NULL,
            updated_at    TEXT NOT NULL
        );

        CREATE TABLE ideas (
            id            INTEGER PRIMARY KEY,
            challenge_id  INTEGER NOT NULL REFERENCES challenges (id),
            title         TEXT NOT NULL,
            description   TEXT NOT NULL DEFAULT '',
            author        TEXT NOT NULL,
            status        TEXT NOT NULL DEFAULT 'new' CHECK (status IN (
                              'new', 'needs_info', 'accepted', 'rejected',
                              'duplicate', 'withdrawn', 'implemented')),
            duplicate_of  INTEGER REFERENCES ideas (id),
            created_at    TEXT NOT NULL,
            updated_at    TEXT NOT NULL,
            CHECK ((status = 'duplicate') = (duplicate_of IS NOT NULL)),
            CHECK (duplicate_of IS NULL OR duplicate_of <> id)
        );
        CREATE INDEX ideas_by_challenge ON ideas (challenge_id, status);
        CREATE INDEX ideas_by_author ON ideas (author);

        CREATE TABLE votes (
            idea_id     INTEGER NOT NULL REFERENCES ideas (id),
            voter       TEXT NOT NULL,
            created_at  TEXT NOT NULL,
            PRIMARY KEY (idea_id, voter)
        ) WITHOUT ROWID;
        CREATE INDEX votes_by_voter ON votes (voter);

        -- Which reaction event made which vote, so that its redaction can undo it.
        CREATE TABLE reaction_votes (
            reaction_event_id  TEXT PRIMARY KEY,
            idea_id            INTEGER NOT NULL REFERENCES ideas (id),
            voter              TEXT NOT NULL
        );

        -- The bot's message that shows an idea in its challenge's room.
        CREATE TABLE idea_cards (
            event_id  TEXT PRIMARY KEY,
            idea_id   INTEGER NOT NULL REFERENCES ideas (id),
            room_id   TEXT NOT NULL
        );
        CREATE INDEX idea_cards_by_idea ON idea_cards (idea_id);

        CREATE TABLE users (
            user_id   TEXT PRIMARY KEY,
            language  TEXT CHECK (language IN ('nl', 'en'))
        );

        CREATE TABLE direct_rooms (
            user_id  TEXT PRIMARY KEY,
            room_id  TEXT NOT NULL
        );

        CREATE TABLE audit_log (
            id            INTEGER PRIMARY KEY,
            actor         TEXT NOT NULL,
            action        TEXT NOT NULL,
            challenge_id  INTEGER REFERENCES challenges (id),
            idea_id       INTEGER REFERENCES ideas (id),
            detail        TEXT NOT NULL DEFAULT '',
            at            TEXT NOT NULL
        );
        CREATE INDEX audit_by_idea ON audit_log (idea_id);

        -- Events whose effects are committed: a replayed event is recognised here.
        CREATE TABLE handled_events (
            event_id    TEXT PRIMARY KEY,
            handled_at  TEXT NOT NULL
        ) WITHOUT ROWID;

        -- Small named values: the sync checkpoint, the login session, the outbox's txn prefix.
        CREATE TABLE bot_state (
            key    TEXT PRIMARY KEY,
            value  TEXT NOT NULL
        ) WITHOUT ROWID;

        CREATE TABLE joined_rooms (
            room_id    TEXT PRIMARY KEY,
            joined_at  TEXT NOT NULL
        ) WITHOUT ROWID;

        -- What the bot still has to do on the homeserver, in order.
        CREATE TABLE outbox (
            id          INTEGER PRIMARY KEY,
            kind        TEXT NOT NULL,
            room_id     TEXT,
            payload     TEXT NOT NULL,
            created_at  TEXT NOT NULL,
            attempts    INTEGER NOT NULL DEFAULT 0,
            done_at     TEXT,
            failed      TEXT
        );
        CREATE INDEX outbox_pending ON outbox (id) WHERE done_at IS NULL;
        """,
    ),
    Migration(
        2,
        "abuse handling: reports, hidden ideas, blocked users, confirmations",
        """
        ALTER TABLE ideas ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0 CHECK (hidden IN (0, 1));

        CREATE TABLE reports (
            idea_id   INTEGER NOT NULL REFERENCES ideas (id),
            reporter  TEXT NOT NULL,
            reason    TEXT NOT NULL,
            at        TEXT NOT NULL,
            PRIMARY KEY (idea_id, reporter)
        ) WITHOUT ROWID;
        CREATE INDEX reports_by_reporter ON reports (reporter);

        CREATE TABLE blocked_users (
            user_id     TEXT PRIMARY KEY,
            blocked_by  TEXT NOT NULL,
            reason      TEXT NOT NULL DEFAULT '',
            at          TEXT NOT NULL
        ) WITHOUT ROWID;

        -- A destructive request waiting for the person to confirm it (!forget).
        CREATE TABLE confirmations (
            user_id     TEXT NOT NULL,
            action      TEXT NOT NULL,
            expires_at  TEXT NOT NULL,
            PRIMARY KEY (user_id, action)
        ) WITHOUT ROWID;

        -- The person a moderation action was about (a block), besides the one who took it.
        ALTER TABLE audit_log ADD COLUMN subject TEXT;
        CREATE INDEX audit_by_actor ON audit_log (actor);
        CREATE INDEX audit_by_subject ON audit_log (subject);
        """,
    ),
    Migration(
        3,
        "an index for the triage queue of all challenges",
        """
        -- !queue without a challenge: the oldest ideas awaiting triage, read in order from here
        -- instead of sorting every such idea of every challenge (50 ms at 100,000 ideas).
        CREATE INDEX ideas_awaiting_triage ON ideas (created_at, id)
            WHERE status IN ('new', 'needs_info');
        """,
    ),
    Migration(
        4,
        "dialogues: a guided submission in progress, per person and room",
        """
        -- One open dialogue per person and room (!idea alone starts one); data is its answers
        -- so far, as JSON. It ends when submitted or cancelled, or once expires_at has passed.
        CREATE TABLE dialogues (
            user_id     TEXT NOT NULL,
            room_id     TEXT NOT NULL,
            flow        TEXT NOT NULL,
            step        TEXT NOT NULL,
            data        TEXT NOT NULL DEFAULT '{}',
            expires_at  TEXT NOT NULL,
            updated_at  TEXT NOT NULL,
            PRIMARY KEY (user_id, room_id)
        ) WITHOUT ROWID;
        CREATE INDEX dialogues_by_expiry ON dialogues (expires_at);
        """,
    ),
    Migration(
        5,
        "encrypted events waiting for their keys; cards waiting to be refreshed",
        """
        -- Messages the bot could not decrypt yet: handled once their room key arrives.
        CREATE TABLE undecrypted_events (
            event_id     TEXT PRIMARY KEY,
            room_id      TEXT NOT NULL,
            source       TEXT NOT NULL,
            received_at  TEXT NOT NULL
        ) WITHOUT ROWID;

        -- Ideas whose cards show old votes or status; edited once due, so bursts coalesce.
        CREATE TABLE card_refresh (
            idea_id  INTEGER PRIMARY KEY REFERENCES ideas (id),
            due_at   TEXT NOT NULL
        );
        """,
    ),
    Migration(
        6,
        "an index for the visible ideas of a challenge (hidden ones left out)",
        """
        DROP INDEX ideas_by_challenge;
        CREATE INDEX ideas_by_challenge ON ideas (challenge_id, status, hidden);
        """,
    ),
    Migration(
        7,
        "drop joined_rooms: the join event in the timeline says where history ends",
        """
        DROP TABLE joined_rooms;
        """,
    ),
    Migration(
        8,
        "sent messages keep no content; free space holds no deleted rows",
        """
        -- A sent message's content is on the homeserver; the row keeps only that it was sent.
        UPDATE outbox SET payload = '{}' WHERE done_at IS NOT NULL;
        CREATE INDEX outbox_done ON outbox (done_at) WHERE done_at IS NOT NULL;
        """,
        # Rows deleted before secure_delete was on may linger in free pages; VACUUM rewrites
        # the file once, so that an erasure leaves nothing behind in older databases too.
        vacuum_after=True,
    ),
    Migration(
        9,
        "direct chats are rooms made as one: forget challenge rooms taken for a DM",
        """
        -- A room with two members used to count as direct, so a challenge room holding only
        -- the bot and one student could be recorded as that student's direct chat.
        DELETE FROM direct_rooms
         WHERE room_id IN (SELECT room_id FROM challenges WHERE room_id IS NOT NULL);
        """,
    ),
    Migration(
        10,
        "card edits, so that a hidden idea's card can be taken down with its edit history",
        """
        -- The edits (m.replace) the bot sent of an idea's cards: a hidden idea's title stays
        -- readable in a room's edit history unless every one of them is redacted too.
        CREATE TABLE card_edits (
            event_id  TEXT PRIMARY KEY,
            idea_id   INTEGER NOT NULL REFERENCES ideas (id),
            room_id   TEXT NOT NULL
        );
        CREATE INDEX card_edits_by_idea ON card_edits (idea_id);
        """,
    ),
    Migration(
        11,
        "outbox lanes: rows for one room go out in order, rooms don't wait for each other",
        """
        -- The lane of a pending row: its room, or for a direct message its person's direct
        -- chat (a hash, not the Matrix ID). Sent rows need none.
        ALTER TABLE outbox ADD COLUMN lane TEXT;
        UPDATE outbox SET lane = COALESCE(room_id, CASE WHEN kind IN ('direct', 'direct_file')
                                                        THEN 'direct' ELSE kind END)
         WHERE done_at IS NULL;
        CREATE INDEX outbox_lanes ON outbox (lane, id) WHERE done_at IS NULL;
        """,
    ),
    Migration(
        12,
        "upkeep: handled event ids by age; free pages that can be given back",
        """
        -- Upkeep deletes the oldest handled ids in batches: found here, not by a full scan.
        CREATE INDEX handled_events_by_age ON handled_events (handled_at);
        -- Takes effect with the VACUUM below; a new database has it from the start.
        PRAGMA auto_vacuum = INCREMENTAL;
        """,
        vacuum_after=True,
    ),
    Migration(
        13,
        "deadlines as instants, a voting deadline, theme tags, partner; the schedule of firings",
        """
        -- ISO 8601 in UTC. Voting goes on after submissions close, until voting_deadline_at.
        ALTER TABLE challenges ADD COLUMN submission_deadline_at TEXT;
        ALTER TABLE challenges ADD COLUMN voting_deadline_at TEXT;
        -- Theme tags, comma-separated; the partner organisation, free text.
        ALTER TABLE challenges ADD COLUMN tags TEXT NOT NULL DEFAULT '';
        ALTER TABLE challenges ADD COLUMN partner TEXT NOT NULL DEFAULT '';
        -- What the bot does by itself at a deadline (a reminder is due reminder_hours before
        -- it), each once: done_at is set in the transaction that queues its messages.
        CREATE TABLE schedule (
            challenge_id  INTEGER NOT NULL REFERENCES challenges (id),
            kind          TEXT NOT NULL CHECK (kind IN ('reminder_submission', 'close_submission',
                                                        'reminder_voting', 'close_voting')),
            deadline_at   TEXT NOT NULL,
            done_at       TEXT,
            PRIMARY KEY (challenge_id, kind)
        ) WITHOUT ROWID;
        CREATE INDEX schedule_pending ON schedule (deadline_at) WHERE done_at IS NULL;
        """,
        step=_deadlines_to_instants,
    ),
    Migration(
        POLLS,
        "final polls: their answers, each person's latest response, and the result at the end",
        """
        -- A poll among a challenge's ideas in its room (MSC3381). start_event_id is set once
        -- the start event is sent; responses reference it. ended_at (ISO 8601, UTC) is when it
        -- ended: responses sent after it do not count; voters is then the result, frozen.
        CREATE TABLE polls (
            id              INTEGER PRIMARY KEY,
            challenge_id    INTEGER NOT NULL REFERENCES challenges (id),
            room_id         TEXT NOT NULL,
            started_by      TEXT NOT NULL,
            started_at      TEXT NOT NULL,
            start_event_id  TEXT UNIQUE,
            ended_at        TEXT,
            voters          INTEGER CHECK (voters IS NULL OR voters >= 0),
            CHECK ((ended_at IS NULL) = (voters IS NULL))
        );
        -- One running poll per challenge.
        CREATE UNIQUE INDEX polls_running ON polls (challenge_id) WHERE ended_at IS NULL;
        CREATE INDEX polls_by_challenge ON polls (challenge_id, id);

        -- The answers as asked (the idea's title then), in order; count is the result.
        CREATE TABLE poll_answers (
            poll_id    INTEGER NOT NULL REFERENCES polls (id),
            answer_id  TEXT NOT NULL,
            position   INTEGER NOT NULL,
            idea_id    INTEGER NOT NULL REFERENCES ideas (id),
            title      TEXT NOT NULL,
            count      INTEGER CHECK (count IS NULL OR count >= 0),
            PRIMARY KEY (poll_id, answer_id),
            UNIQUE (poll_id, position)
        ) WITHOUT ROWID;
        CREATE INDEX poll_answers_by_idea ON poll_answers (idea_id);

        -- Each person's latest response (by origin_server_ts, in ms; then by event id);
        -- answer_id NULL: withdrawn (an empty response) or spoiled (an answer not in the poll).
        CREATE TABLE poll_responses (
            poll_id    INTEGER NOT NULL REFERENCES polls (id),
            voter      TEXT NOT NULL,
            event_id   TEXT NOT NULL,
            sent_ms    INTEGER NOT NULL,
            answer_id  TEXT,
            PRIMARY KEY (poll_id, voter)
        ) WITHOUT ROWID;
        CREATE INDEX poll_responses_by_voter ON poll_responses (voter);
        """,
    ),
    Migration(
        IDENTITY_VERSION,
        "who may take part per challenge; verifications; what each vote's account was",
        """
        -- anyone, listed (homeservers) or verified; NULL: the programme's default.
        ALTER TABLE challenges ADD COLUMN eligibility TEXT
            CHECK (eligibility IN ('anyone', 'listed', 'verified'));
        -- What the account was when it voted (votes from before this are 'other'), the keyed
        -- hash of its verified identity (linked accounts share it: one vote between them),
        -- and whether the account was new then (bursts of those are flagged).
        ALTER TABLE votes ADD COLUMN standing TEXT NOT NULL DEFAULT 'other'
            CHECK (standing IN ('verified', 'listed', 'other'));
        ALTER TABLE votes ADD COLUMN identity TEXT;
        ALTER TABLE votes ADD COLUMN new_account INTEGER NOT NULL DEFAULT 0;
        CREATE UNIQUE INDEX votes_one_per_identity ON votes (idea_id, identity)
            WHERE identity IS NOT NULL;
        CREATE INDEX votes_by_identity ON votes (identity) WHERE identity IS NOT NULL;
        -- The city's homeserver's answer about a person, cached: never the external id
        -- itself, only which provider verified them, when, and the keyed hash of the id.
        CREATE TABLE verifications (
            user_id             TEXT PRIMARY KEY,
            provider            TEXT,
            identity            TEXT,
            checked_at          TEXT NOT NULL,
            account_created_at  TEXT
        ) WITHOUT ROWID;
        """,
    ),
    Migration(
        COUNTED_VERSION,
        "poll responses and reports: what the account was, its identity, whether it counts",
        """
        -- As for votes: what the account was when it answered or reported, and the keyed hash
        -- of its verified identity (accounts that share it are one person, counted once).
        -- counted: whether the policy let it count then (not blocked, and allowed to take part
        -- in the challenge). Rows from before this counted, as they did then.
        ALTER TABLE poll_responses ADD COLUMN standing TEXT NOT NULL DEFAULT 'other'
            CHECK (standing IN ('verified', 'listed', 'other'));
        ALTER TABLE poll_responses ADD COLUMN identity TEXT;
        ALTER TABLE poll_responses ADD COLUMN counted INTEGER NOT NULL DEFAULT 1
            CHECK (counted IN (0, 1));
        -- Whether the person was told, in their direct chat, that an answer did not count:
        -- once per poll.
        ALTER TABLE poll_responses ADD COLUMN told INTEGER NOT NULL DEFAULT 0
            CHECK (told IN (0, 1));
        ALTER TABLE reports ADD COLUMN standing TEXT NOT NULL DEFAULT 'other'
            CHECK (standing IN ('verified', 'listed', 'other'));
        ALTER TABLE reports ADD COLUMN identity TEXT;
        ALTER TABLE reports ADD COLUMN counted INTEGER NOT NULL DEFAULT 1
            CHECK (counted IN (0, 1));
        """,
    ),
    Migration(
        FOLLOWING_VERSION,
        "following challenges and ideas; how often each person is told; notices for digests",
        """
        -- What a person follows (a challenge or an idea), or said they do not: following = 0
        -- keeps an author or voter from following the idea they wrote or voted for.
        CREATE TABLE follows (
            user_id       TEXT NOT NULL,
            challenge_id  INTEGER REFERENCES challenges (id),
            idea_id       INTEGER REFERENCES ideas (id),
            following     INTEGER NOT NULL CHECK (following IN (0, 1)),
            since         TEXT NOT NULL,
            CHECK ((challenge_id IS NULL) <> (idea_id IS NULL))
        );
        CREATE UNIQUE INDEX follows_challenge ON follows (user_id, challenge_id)
            WHERE challenge_id IS NOT NULL;
        CREATE UNIQUE INDEX follows_idea ON follows (user_id, idea_id) WHERE idea_id IS NOT NULL;
        CREATE INDEX follows_by_idea ON follows (idea_id) WHERE idea_id IS NOT NULL;
        CREATE INDEX follows_by_challenge ON follows (challenge_id) WHERE challenge_id IS NOT NULL;
        -- How often a person hears of what they follow; no row: daily.
        CREATE TABLE notification_settings (
            user_id    TEXT PRIMARY KEY,
            frequency  TEXT NOT NULL CHECK (frequency IN ('direct', 'daily', 'weekly', 'off')),
            since      TEXT NOT NULL
        ) WITHOUT ROWID;
        -- What waits for a person's next digest; deleted in the transaction that queues it.
        CREATE TABLE notices (
            id            INTEGER PRIMARY KEY,
            user_id       TEXT NOT NULL,
            challenge_id  INTEGER NOT NULL REFERENCES challenges (id),
            idea_id       INTEGER REFERENCES ideas (id),
            original_id   INTEGER REFERENCES ideas (id),
            kind          TEXT NOT NULL,
            status        TEXT,
            place         INTEGER,
            created_at    TEXT NOT NULL
        );
        CREATE INDEX notices_by_user ON notices (user_id, id);
        """,
    ),
    Migration(
        THRESHOLD_VERSION,
        "a challenge's support threshold, and when each idea reached it",
        """
        -- The votes an idea needs for the city to look at it; NULL: no threshold.
        ALTER TABLE challenges ADD COLUMN support_threshold INTEGER
            CHECK (support_threshold IS NULL OR support_threshold >= 1);
        -- When the idea reached its challenge's threshold: set once, never cleared, so the
        -- moderators are told once however the votes go up and down afterwards.
        ALTER TABLE ideas ADD COLUMN support_reached_at TEXT;
        CREATE INDEX ideas_support_reached ON ideas (support_reached_at)
            WHERE support_reached_at IS NOT NULL;
        """,
    ),
    Migration(
        LINKS_VERSION,
        "linked accounts: a Discord account and a Matrix account that are one person",
        """
        -- A Discord account (discord:<snowflake>) linked to a Matrix account: one each way.
        -- person_key: what their votes, poll answers and reports share: the keyed hash of
        -- the Matrix account's verified identity when they were linked, else a keyed hash of
        -- the Matrix account.
        CREATE TABLE account_links (
            account         TEXT PRIMARY KEY,
            matrix_account  TEXT NOT NULL UNIQUE,
            person_key      TEXT NOT NULL,
            linked_at       TEXT NOT NULL
        ) WITHOUT ROWID;
        -- The one-time code a Discord account asked for, to send from the Matrix account:
        -- only its hash, one per account, until it is used or expires.
        CREATE TABLE link_codes (
            code_hash   TEXT PRIMARY KEY,
            account     TEXT NOT NULL UNIQUE,
            expires_at  TEXT NOT NULL
        ) WITHOUT ROWID;
        """,
    ),
    Migration(
        ROOM_STATE_VERSION,
        "each room's state as the bot needs it; invites still to accept",
        """
        -- What the bot reads of a room it is in, kept current from each sync: a restart
        -- rebuilds its rooms from here instead of asking the homeserver for all their state.
        CREATE TABLE room_state (
            room_id             TEXT PRIMARY KEY,
            encrypted           INTEGER NOT NULL DEFAULT 0 CHECK (encrypted IN (0, 1)),
            join_rule           TEXT NOT NULL,
            history_visibility  TEXT NOT NULL,
            name                TEXT
        ) WITHOUT ROWID;
        -- Invites seen and not yet accepted (or refused), oldest first: an incremental sync
        -- shows an invite once, so a restart finds the rest here.
        CREATE TABLE pending_invites (
            room_id    TEXT PRIMARY KEY,
            inviter    TEXT,
            is_direct  INTEGER NOT NULL DEFAULT 0 CHECK (is_direct IN (0, 1)),
            seen_at    TEXT NOT NULL
        );
        CREATE INDEX pending_invites_by_age ON pending_invites (seen_at);
        """,
    ),
    Migration(
        MIRROR_VERSION,
        "a challenge's place on the other network, and its poll's start in each place",
        """
        -- A challenge's rooms beside challenges.room_id: with Matrix and Discord both
        -- configured, a challenge has a Matrix room and a Discord channel, one set of ideas.
        CREATE TABLE challenge_rooms (
            room_id       TEXT PRIMARY KEY,
            challenge_id  INTEGER NOT NULL REFERENCES challenges (id) ON DELETE CASCADE,
            network       TEXT NOT NULL CHECK (network IN ('matrix', 'discord')),
            UNIQUE (challenge_id, network)
        );
        -- A poll's start event in each room it was started in (polls.start_event_id keeps
        -- the first); an answer given to any of them counts in the one poll.
        CREATE TABLE poll_starts (
            event_id  TEXT PRIMARY KEY,
            poll_id   INTEGER NOT NULL REFERENCES polls (id) ON DELETE CASCADE,
            room_id   TEXT NOT NULL,
            UNIQUE (poll_id, room_id)
        );
        INSERT INTO poll_starts (event_id, poll_id, room_id)
            SELECT start_event_id, id, room_id FROM polls WHERE start_event_id IS NOT NULL;
        """,
    ),
)
