"""The ``Store``: one of each repository over one database, as handlers and the bot use them."""

from __future__ import annotations

from storage.audit import AuditRepository
from storage.challenge_records import ChallengeRepository, ScheduleRepository, StatsRepository
from storage.database import Database
from storage.follow_records import FollowRepository
from storage.idea_records import CardRepository, IdeaRepository, ReportRepository
from storage.links import LinkRepository
from storage.outbox_rows import OutboxRepository
from storage.people import (
    BlockRepository,
    ConfirmationRepository,
    DialogueRepository,
    UserRepository,
    VerificationRepository,
)
from storage.personal_data import PersonalDataRepository
from storage.poll_records import PollRepository
from storage.room_state_records import InviteRepository, RoomStateRepository
from storage.state import StateRepository, UndecryptedRepository
from storage.upkeep import Upkeep
from storage.votes import VoteRepository


class Store:
    """All repositories over one database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.challenges = ChallengeRepository(db)
        self.ideas = IdeaRepository(db)
        self.votes = VoteRepository(db)
        self.cards = CardRepository(db)
        self.users = UserRepository(db)
        self.audit = AuditRepository(db)
        self.state = StateRepository(db)
        self.outbox = OutboxRepository(db)
        self.reports = ReportRepository(db)
        self.blocks = BlockRepository(db)
        self.confirmations = ConfirmationRepository(db)
        self.personal_data = PersonalDataRepository(db)
        self.dialogues = DialogueRepository(db)
        self.undecrypted = UndecryptedRepository(db)
        self.stats = StatsRepository(db)
        self.upkeep = Upkeep(db)
        self.schedule = ScheduleRepository(db)
        self.polls = PollRepository(db)
        self.verifications = VerificationRepository(db)
        self.links = LinkRepository(db)
        self.following = FollowRepository(db)
        self.room_state = RoomStateRepository(db)
        self.invites = InviteRepository(db)
