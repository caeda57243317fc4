"""Discord's events to the dispatcher: slash commands, the ``/idee`` modal, buttons (vote,
review), prefix commands typed in a channel, 👍 on a card and answers to a native poll.

Each input is handled exactly once, in one transaction with what it causes (outbox rows) and
its key in the handled-events table, as on Matrix. An interaction is acknowledged at once
(deferred, ephemeral: the reply concerns the asker) and answered once, by the outbox
(:mod:`bot.discord.sending`). At start, the messages and 👍 each challenge channel and the
review channel got while the bot was away are read back (:mod:`bot.discord.read_back`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import discord
from discord import app_commands

from bot.bot_clock import judged_at
from bot.config import DiscordSettings
from bot.discord.ids import message_ref, reaction_ref, ref
from bot.discord.markdown import NOBODY, escape
from bot.discord.read_back import LAST_READ, TYPED, ReadBack
from bot.discord.slash import RegistryTranslator, build_commands, localised
from bot.logs import log_failure
from bot.outcomes import enqueue_outcome
from handlers.dispatch import Dispatcher, Sender
from handlers.effects import Outcome
from handlers.incoming import (
    IncomingEvent,
    PollAnswered,
    ReactionAdded,
    ReactionRemoved,
    is_vote_reaction,
)
from handlers.services.guided_submission import similar_titles
from storage import Store

log = logging.getLogger(__name__)

#: Button ids: ``cb:vote:<idea>``, ``cb:review:<action>:<idea>``, ``cb:similar:<token>:<idea>``.
BUTTON = "cb:"
REVIEW_ACTIONS = ("accept", "reject", "needinfo", "duplicate")
#: What a review action's modal asks for (the command's second parameter).
REVIEW_FIELDS = {
    "accept": "message",
    "reject": "reason",
    "needinfo": "question",
    "duplicate": "original",
}

Run = Callable[[Sender], Awaitable[Outcome | None]]


def intents() -> discord.Intents:
    """What the bot must be told: messages (the privileged message content, for prefix
    commands), reactions, members' roles, and poll answers."""
    wanted = discord.Intents.default()
    wanted.message_content = True
    wanted.members = True
    wanted.polls = True
    return wanted


@dataclass
class _Draft:
    """An idea submitted through the modal while similar ones are shown; kept in memory for
    the person's decision (the message offering it is ephemeral and short-lived)."""

    user_id: int
    channel_id: int
    slug: str
    title: str
    description: str


class DiscordFrontEnd(discord.Client):
    def __init__(
        self,
        settings: DiscordSettings,
        dispatcher: Dispatcher,
        *,
        wake_outbox: Callable[[], None],
    ) -> None:
        super().__init__(intents=intents(), allowed_mentions=discord.AllowedMentions.none())
        self.settings = settings
        self.dispatcher = dispatcher
        self.store: Store = dispatcher.store
        self.wake_outbox = wake_outbox
        self.tree = app_commands.CommandTree(self)
        self.guild_object = discord.Object(settings.guild_id)
        #: Set once the commands are synced and what came meanwhile is read back.
        self.started = asyncio.Event()
        #: Interactions still open for their follow-up (15 minutes), by ID.
        self.interactions: dict[int, discord.Interaction] = {}
        self._drafts: dict[str, _Draft] = {}
        self._draft_counter = 0
        #: Who the person is, where another front end can tell (the city's homeserver, for a
        #: Discord account linked to a Matrix account): set by the app when Matrix runs too.
        self.identify: Callable[[Sender], Awaitable[Sender]] | None = None

    @property
    def review_room(self) -> str:
        return ref(self.settings.review_channel_id)

    # ------------------------------------------------------------------ start

    async def setup_hook(self) -> None:
        await self.tree.set_translator(RegistryTranslator())
        for command in build_commands(
            self.dispatcher.registry,
            self.dispatcher.catalogue,
            self.dispatcher.settings.prefix,
            self._slash,
            self._challenge_slugs,
            self._idea_choices,
        ):
            self.tree.add_command(command, guild=self.guild_object)
        self.tree.add_command(self._idea_command(), guild=self.guild_object)
        await self.tree.sync(guild=self.guild_object)

    async def on_ready(self) -> None:
        if self.started.is_set():
            return  # a reconnect: discord.py resumes the gateway itself
        try:
            await ReadBack(self).run()
        finally:
            self.started.set()
            self.wake_outbox()

    # ------------------------------------------------------------------ who and where

    def _guild(self) -> discord.Guild | None:
        return self.get_guild(self.settings.guild_id)

    def is_moderator(self, user: discord.abc.User) -> bool:
        member = user if isinstance(user, discord.Member) else None
        if member is None:
            guild = self._guild()
            member = guild.get_member(user.id) if guild is not None else None
        return member is not None and any(
            role.id == self.settings.moderator_role_id for role in member.roles
        )

    def _ours(self, guild: discord.Guild | None) -> bool:
        """Only the configured server's channels, and direct messages, are for the bot."""
        return guild is None or guild.id == self.settings.guild_id

    def _sender(
        self,
        user: discord.abc.User,
        channel: Any,
        *,
        sent_at: datetime | None = None,
        locale: discord.Locale | None = None,
        private: bool = False,
    ) -> Sender:
        """Who acts where. ``private``: an interaction, whose answer only the asker sees (the
        dispatcher treats it as a direct chat, except in a challenge's channel)."""
        now = self.dispatcher.clock()
        is_direct = private or isinstance(channel, discord.DMChannel)
        return Sender(
            user_id=ref(user.id),
            room_id=ref(_room_of(channel)),
            is_direct=is_direct,
            is_moderator=self.is_moderator(user),
            sent_at=None if sent_at is None else judged_at(sent_at, now),
            locale_hint=_language(locale),
        )

    # ------------------------------------------------------------------ handling once

    async def handle(
        self,
        key: str,
        sender: Sender,
        run: Run,
        *,
        reply_to: str | None,
        thread: int | None = None,
        read: tuple[int, int] | None = None,
    ) -> bool:
        """Run ``run`` once for ``key``, its outcome queued in the same transaction; ``read``
        (channel, message) is the channel's last message read, recorded with it."""
        now = self.dispatcher.clock()
        try:
            if self.identify is not None and not await self.store.state.is_handled(key):
                # Outside the transaction: asking the homeserver holds up no other commit.
                sender = await self.identify(sender)
            async with self.store.db.transaction():
                if await self.store.state.is_handled(key):
                    return False
                outcome = await run(sender)
                if outcome is not None:
                    await enqueue_outcome(
                        self.store,
                        outcome,
                        room_id=sender.room_id,
                        event_id=reply_to,
                        settings=self.dispatcher.settings,
                        now=now,
                        thread_root=None if thread is None else ref(thread),
                        sender=sender.user_id,
                        review_room=self.review_room,
                    )
                await self.store.state.mark_handled(key, now)
                if read is not None:
                    await self.mark_read(*read)
        except Exception:
            log_failure(log, "Unexpected error handling %s; passed over", key)
            async with self.store.db.transaction():
                await self.store.state.mark_handled(key, now)
            return False
        self.wake_outbox()
        return outcome is not None

    async def mark_read(self, channel_id: int, message_id: int) -> None:
        key = f"{LAST_READ}{channel_id}"
        last = await self.store.state.get(key)
        if last is None or int(last) < message_id:
            await self.store.state.set(key, str(message_id))

    # ------------------------------------------------------------------ slash commands

    async def _slash(self, interaction: discord.Interaction, text: str) -> None:
        """A slash command: acknowledged at once, its reply a follow-up from the outbox."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self._command(interaction, text)

    async def _command(self, interaction: discord.Interaction, text: str) -> None:
        """``text`` as a command of the person who interacted (already acknowledged)."""
        self.interactions[interaction.id] = interaction
        sender = self._sender(
            interaction.user,
            interaction.channel,
            sent_at=interaction.created_at,
            locale=interaction.locale,
            private=True,
        )
        answered = await self.handle(
            f"discord:interaction:{interaction.id}",
            sender,
            lambda who: self.dispatcher.handle_message(who, text),
            reply_to=interaction_ref(interaction.id, interaction.user.id),
        )
        if not answered:
            self.interactions.pop(interaction.id, None)
            await interaction.followup.send(
                await self._text(interaction, "discord.done"),
                ephemeral=True,
                allowed_mentions=NOBODY,
            )

    async def _challenge_slugs(self, _interaction: discord.Interaction, typed: str) -> list[str]:
        async with self.store.db.transaction():
            challenges = await self.store.challenges.list(open_only=True)
        typed = typed.lower().strip()
        return [c.slug for c in challenges if typed in c.slug][:25]

    async def _idea_choices(
        self, _interaction: discord.Interaction, typed: str
    ) -> list[tuple[int, str]]:
        """Ideas everyone sees in the open challenges whose number or title has ``typed``."""
        typed = typed.strip().lstrip("#").lower()
        async with self.store.db.transaction():
            found = [
                (number, title)
                for challenge in await self.store.challenges.list(open_only=True)
                for number, title, _votes in await self.store.ideas.visible_titles(challenge.id)
            ]
        matching = [
            (number, title)
            for number, title in sorted(found)
            if not typed or str(number).startswith(typed) or typed in title.lower()
        ]
        return matching[:25]

    # ------------------------------------------------------------------ /idee: the modal

    def _idea_command(self) -> app_commands.Command[Any, ..., Any]:
        front = self

        async def idea(interaction: discord.Interaction, challenge: str | None = None) -> None:
            language = await front._language_of(interaction)
            await interaction.response.send_modal(IdeaModal(front, challenge or "", language))

        command: app_commands.Command[Any, ..., Any] = app_commands.Command(
            name=localised("idea", "idee", limit=32),
            description=localised(
                self.dispatcher.catalogue.plain("en", "discord.idea_command"),
                self.dispatcher.catalogue.plain("nl", "discord.idea_command"),
                limit=100,
            ),
            callback=idea,
        )
        command.autocomplete("challenge")(self._complete_challenge)
        return command

    async def _complete_challenge(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [
            app_commands.Choice(name=slug, value=slug)
            for slug in await self._challenge_slugs(interaction, current)
        ]

    async def submit_idea(
        self, interaction: discord.Interaction, slug: str, title: str, description: str
    ) -> None:
        """The modal's idea: similar ones first (ephemeral, with buttons), else submitted."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        async with self.store.db.transaction():
            if not slug.strip():  # in a challenge's channel, or its ideas' threads: that one
                here = await self.store.challenges.by_room(ref(_room_of(interaction.channel)))
                slug = "" if here is None else here.slug
            challenge = await self.store.challenges.by_slug(slug.strip().lower())
            titles = (
                [] if challenge is None else await self.store.ideas.visible_titles(challenge.id)
            )
        matches = similar_titles(title, titles)
        if not matches:
            await self._command(interaction, _idea_text(self._prefix, slug, title, description))
            return
        self._draft_counter += 1
        token = f"{interaction.id}-{self._draft_counter}"
        self._drafts[token] = _Draft(
            interaction.user.id, _room_of(interaction.channel), slug, title, description
        )
        language = await self._language_of(interaction)
        catalogue = self.dispatcher.catalogue
        names = {idea_id: name for idea_id, name, _votes in titles}
        view = discord.ui.View(timeout=None)
        for idea_id in matches[:4]:
            view.add_item(
                discord.ui.Button(
                    label=_label(
                        catalogue.plain(language, "discord.vote_instead", id=f"#{idea_id}")
                    ),
                    style=discord.ButtonStyle.primary,
                    custom_id=f"{BUTTON}similar:{token}:{idea_id}",
                )
            )
        view.add_item(
            discord.ui.Button(
                label=_label(catalogue.plain(language, "discord.submit_anyway")),
                style=discord.ButtonStyle.secondary,
                custom_id=f"{BUTTON}similar:{token}:0",
            )
        )
        lines = [catalogue.plain(language, "dialogue.similar_header")]
        lines += [f"• #{idea_id} {escape(names.get(idea_id, ''))}" for idea_id in matches]
        await interaction.followup.send(
            "\n".join(lines), view=view, ephemeral=True, allowed_mentions=NOBODY
        )

    async def _text(self, interaction: discord.Interaction, key: str) -> str:
        """A short answer from the catalogue, in the person's language."""
        return self.dispatcher.catalogue.plain(await self._language_of(interaction), key)

    async def _language_of(self, interaction: discord.Interaction) -> str:
        async with self.store.db.transaction():
            chosen = await self.store.users.language(ref(interaction.user.id))
        return chosen or _language(interaction.locale) or self.dispatcher.settings.language

    # ------------------------------------------------------------------ buttons

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if interaction.type is not discord.InteractionType.component:
            return
        data: dict[str, Any] = dict(interaction.data or {})
        custom_id = data.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id.startswith(BUTTON):
            return
        if not self._ours(interaction.guild):
            return
        parts = custom_id.removeprefix(BUTTON).split(":")
        try:
            await self._button(interaction, parts)
        except Exception:
            log_failure(log, "Unexpected error with button %s", custom_id)
            if not interaction.response.is_done():
                await interaction.response.send_message(
                    await self._text(interaction, "discord.button_failed"),
                    ephemeral=True,
                    allowed_mentions=NOBODY,
                )

    async def _button(self, interaction: discord.Interaction, parts: list[str]) -> None:
        match parts:
            case ["vote", number] if number.isdigit():
                await interaction.response.defer(ephemeral=True, thinking=True)
                idea_id = int(number)
                async with self.store.db.transaction():
                    voted = await self.store.votes.has_voted(idea_id, ref(interaction.user.id))
                command = "unvote" if voted else "vote"
                await self._command(interaction, f"{self._prefix}{command} {idea_id}")
            case ["review", action, number] if action in REVIEW_ACTIONS and number.isdigit():
                if not self.is_moderator(interaction.user):
                    await interaction.response.send_message(
                        await self._text(interaction, "discord.moderators_only"),
                        ephemeral=True,
                        allowed_mentions=NOBODY,
                    )
                    return
                await interaction.response.send_modal(
                    ReviewModal(self, action, int(number), await self._language_of(interaction))
                )
            case ["similar", token, number] if number.isdigit():
                draft = self._drafts.get(token)
                if draft is None or draft.user_id != interaction.user.id:
                    await interaction.response.send_message(
                        await self._text(interaction, "discord.choice_expired"),
                        ephemeral=True,
                        allowed_mentions=NOBODY,
                    )
                    return
                del self._drafts[token]
                await interaction.response.defer(ephemeral=True, thinking=True)
                text = (
                    _idea_text(self._prefix, draft.slug, draft.title, draft.description)
                    if number == "0"
                    else f"{self._prefix}vote {number}"
                )
                await self._command(interaction, text)
            case _:
                await interaction.response.send_message(
                    await self._text(interaction, "discord.unknown_button"),
                    ephemeral=True,
                    allowed_mentions=NOBODY,
                )

    @property
    def _prefix(self) -> str:
        return self.dispatcher.settings.prefix

    # ------------------------------------------------------------------ messages, 👍, polls

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.type not in TYPED or not self._ours(message.guild):
            return
        await self.handle_message(message)

    async def handle_message(self, message: discord.Message) -> bool:
        """A message typed in a channel, a thread or a direct message: a command, if it is one."""
        sender = self._sender(message.author, message.channel, sent_at=message.created_at)
        thread = message.channel.id if isinstance(message.channel, discord.Thread) else None
        return await self.handle(
            message_ref(message.channel.id, message.id),
            sender,
            lambda who: self.dispatcher.handle_message(who, message.content),
            reply_to=message_ref(message.channel.id, message.id),
            thread=thread,
            read=(message.channel.id, message.id),
        )

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        if self.user is not None and payload.user_id == self.user.id:
            return
        if payload.guild_id is not None and payload.guild_id != self.settings.guild_id:
            return
        if not is_vote_reaction(str(payload.emoji)):
            return
        await self.thumb(payload.channel_id, payload.message_id, payload.user_id, live=True)

    async def thumb(self, channel_id: int, message_id: int, user_id: int, *, live: bool) -> None:
        """A 👍 on a message: on a card, a vote. Read back at start, one already counted (its
        reaction is recorded with the vote) does nothing."""
        reaction = reaction_ref(channel_id, message_id, user_id)
        user = self.get_user(user_id) or discord.Object(user_id)
        channel = self.get_channel(channel_id)
        sender = Sender(
            user_id=ref(user_id),
            room_id=ref(channel_id if channel is None else _room_of(channel)),
            is_direct=False,
            is_moderator=isinstance(user, discord.abc.User) and self.is_moderator(user),
        )
        event = ReactionAdded(message_ref(channel_id, message_id), reaction)
        # Live, each 👍 is an event of its own (taken back and given again, it counts again);
        # read back, the 👍 as it stands now, once.
        key = f"{reaction}@{time.time_ns()}" if live else f"{reaction}@read-back"
        if not live:
            async with self.store.db.transaction():
                counted = await self.store.votes.has_reaction(reaction)
            if counted:
                return
        await self.handle_event(key, sender, event)

    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        if payload.guild_id is not None and payload.guild_id != self.settings.guild_id:
            return
        if not is_vote_reaction(str(payload.emoji)):
            return
        reaction = reaction_ref(payload.channel_id, payload.message_id, payload.user_id)
        sender = Sender(
            user_id=ref(payload.user_id),
            room_id=ref(payload.channel_id),
            is_direct=False,
            is_moderator=False,
        )
        await self.handle_event(
            f"{reaction}@removed@{time.time_ns()}", sender, ReactionRemoved(reaction)
        )

    async def on_raw_poll_vote_add(self, payload: discord.RawPollVoteActionEvent) -> None:
        await self._poll_vote(payload, added=True)

    async def on_raw_poll_vote_remove(self, payload: discord.RawPollVoteActionEvent) -> None:
        await self._poll_vote(payload, added=False)

    async def _poll_vote(self, payload: discord.RawPollVoteActionEvent, *, added: bool) -> None:
        """An answer to a native poll: one answer a person, as the core counts a Matrix poll's
        (its rules in handlers/policy.py); taking it back withdraws it."""
        if payload.guild_id is not None and payload.guild_id != self.settings.guild_id:
            return
        poll_ref = message_ref(payload.channel_id, payload.message_id)
        async with self.store.db.transaction():
            poll = await self.store.polls.by_start_event(poll_ref)
            answers = [] if poll is None else await self.store.polls.answers(poll.id)
        if poll is None or not 1 <= payload.answer_id <= len(answers):
            return
        chosen = (answers[payload.answer_id - 1].answer_id,) if added else ()
        now_ms = int(self.dispatcher.clock().timestamp() * 1000)
        sender = Sender(
            user_id=ref(payload.user_id),
            room_id=ref(payload.channel_id),
            is_direct=False,
            is_moderator=False,
        )
        response = f"{poll_ref}/poll/{payload.user_id}/{payload.answer_id}/{added}@{time.time_ns()}"
        await self.handle_event(response, sender, PollAnswered(poll_ref, response, chosen, now_ms))

    async def handle_event(self, key: str, sender: Sender, event: IncomingEvent) -> None:
        """An event (a 👍, its removal, a poll answer) of ``sender``, handled once by ``key``."""
        await self.handle(
            key, sender, lambda who: self.dispatcher.handle_event(who, event), reply_to=None
        )


class IdeaModal(discord.ui.Modal):
    """``/idee``: the title and the description of an idea."""

    def __init__(self, front: DiscordFrontEnd, challenge: str, language: str) -> None:
        catalogue = front.dispatcher.catalogue
        super().__init__(title=_label(catalogue.plain(language, "discord.idea_form")), timeout=900)
        self.front = front
        self.challenge = challenge[:48]
        limits = front.dispatcher.settings
        self.idea_title: discord.ui.TextInput[IdeaModal] = discord.ui.TextInput(
            custom_id="title",
            label=_label(catalogue.plain(language, "label.title")),
            max_length=min(limits.max_title_length, 100),
            required=True,
        )
        self.description: discord.ui.TextInput[IdeaModal] = discord.ui.TextInput(
            custom_id="description",
            label=_label(catalogue.plain(language, "label.description")),
            style=discord.TextStyle.paragraph,
            max_length=min(limits.max_description_length, 4000),
            required=False,
        )
        self.add_item(self.idea_title)
        self.add_item(self.description)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self.front.submit_idea(
            interaction, self.challenge, str(self.idea_title.value), str(self.description.value)
        )


class ReviewModal(discord.ui.Modal):
    """A moderator's reason, message or question for a decision on an idea (or, for a
    duplicate, the original's number)."""

    def __init__(self, front: DiscordFrontEnd, action: str, idea_id: int, language: str) -> None:
        catalogue = front.dispatcher.catalogue
        super().__init__(
            title=_label(f"#{idea_id}: {catalogue.plain(language, f'discord.review.{action}')}")
        )
        self.front = front
        self.action = action
        self.idea_id = idea_id
        field = REVIEW_FIELDS[action]
        self.text: discord.ui.TextInput[ReviewModal] = discord.ui.TextInput(
            custom_id="text",
            label=_label(catalogue.plain(language, f"label.{field}")),
            style=discord.TextStyle.short if action == "duplicate" else discord.TextStyle.paragraph,
            required=action in ("reject", "needinfo", "duplicate"),
            max_length=20 if action == "duplicate" else 1000,
        )
        self.add_item(self.text)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        value = " ".join(str(self.text.value).split())
        prefix = self.front.dispatcher.settings.prefix
        text = f"{prefix}{self.action} {self.idea_id} {value}".rstrip()
        await self.front._command(interaction, text)


def interaction_ref(interaction_id: int, user_id: int) -> str:
    """What a reply to an interaction answers: the interaction, and who asked (told directly
    when the interaction is gone, after a restart)."""
    return f"interaction:{interaction_id}:{user_id}"


def read_interaction_ref(name: str | None) -> tuple[int, int] | None:
    parts = (name or "").split(":")
    if len(parts) != 3 or parts[0] != "interaction" or not all(p.isdigit() for p in parts[1:]):
        return None
    return int(parts[1]), int(parts[2])


def _idea_text(prefix: str, slug: str, title: str, description: str) -> str:
    words = " ".join(title.split())
    text = f"{prefix}idea {''.join(slug.split())[:48] or '-'} {words}"
    body = description.strip()
    return f"{text}\n{body}" if body else text


def _room_of(channel: Any) -> int:
    """A thread's room is its channel's (a challenge's channel, with its ideas' threads)."""
    if isinstance(channel, discord.Thread) and channel.parent_id is not None:
        return channel.parent_id
    return int(getattr(channel, "id", 0) or 0)


def _language(locale: discord.Locale | None) -> str | None:
    if locale is None:
        return None
    return "nl" if locale is discord.Locale.dutch else "en"


def _label(text: str) -> str:
    return text if len(text) <= 45 else text[:44] + "…"
