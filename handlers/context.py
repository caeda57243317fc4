"""The one object a command handler gets: who asks, where, in which language, and the storage."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from handlers.command_words import CommandWords
from handlers.health import StatusProvider
from handlers.i18n import Catalogue, Moment
from handlers.limits import ReactionNotices, WrongCodes
from handlers.policy import Identity, Participation
from handlers.public_links import PublicLinks
from handlers.registry import Role
from handlers.reply import Code, Reply, Span
from handlers.settings import BotSettings, IdentitySettings, ProgrammeSettings
from storage import Challenge, Idea, Store


@dataclass
class Context:
    sender: str
    room_id: str
    is_direct: bool
    room_challenge: Challenge | None  # the challenge whose room this is, if any
    role: Role
    locale: str
    store: Store
    catalogue: Catalogue
    settings: BotSettings
    now: datetime
    #: The bot's health and counters, for ``!status``; None where the bot gives none (tests).
    status: StatusProvider | None = None
    programme: ProgrammeSettings = field(default_factory=ProgrammeSettings)
    #: Who the sender is, as far as the bot could tell (looked up before the command ran).
    identity: Identity = field(default_factory=Identity)
    #: Who may take part where (the listed servers, the default eligibility).
    participation: Participation = field(default_factory=Participation)
    identity_settings: IdentitySettings = field(default_factory=IdentitySettings)
    #: Whether a refused 👍 may still be explained to its person (once per idea, a few a minute).
    notices: ReactionNotices = field(default_factory=ReactionNotices)
    #: How many wrong link codes each account may still send.
    wrong_codes: WrongCodes = field(default_factory=WrongCodes)
    #: How commands are typed in each language (``!stem`` for a Dutch reader).
    words: CommandWords = field(default_factory=CommandWords)
    #: Links into the published report (``report.public_url``); none when it is not set.
    links: PublicLinks = field(default_factory=PublicLinks)

    @property
    def is_moderator(self) -> bool:
        return self.role >= Role.MODERATOR

    def t(self, key: str, **params: Any) -> Span:
        return self.catalogue.span(self.locale, key, **params)

    def reply(self, key: str, **params: Any) -> Reply:
        return Reply.of(self.t(key, **params))

    def command(self, name: str, *arguments: object) -> Code:
        """What the sender types for a command (its English ``name``), in their language:
        ``!stem 12`` for ``ctx.command("vote", 12)``."""
        return self.words.typed(self.locale, name, *arguments)

    def label(self, name: str) -> str:
        """What an argument is called in a usage line, in the asker's language: ``titel``."""
        return self.catalogue.plain(self.locale, f"label.{name}")

    async def locale_of(self, user_id: str) -> str:
        return await self.store.users.language(user_id) or self.settings.language

    async def t_for(self, user_id: str, key: str, **params: Any) -> Span:
        """Text in the language of another person (the author who is told an outcome)."""
        return self.catalogue.span(await self.locale_of(user_id), key, **params)

    async def audit_idea(self, action: str, idea: Idea, detail: str | None = None) -> None:
        """Record what the sender did to an idea in the audit log."""
        await self.store.audit.record(
            actor=self.sender,
            action=action,
            now=self.now,
            challenge_id=idea.challenge_id,
            idea_id=idea.id,
            detail=detail or "",
        )

    def moment(self, instant: datetime) -> Moment:
        """An instant to show, in the programme's time zone (formatted in the reader's language)."""
        return Moment(instant, self.programme.timezone)

    def t_moderators(self, key: str, **params: Any) -> Span:
        return self.catalogue.span(self.settings.language, key, **params)
