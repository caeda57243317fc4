"""What each kind of outbox row does on Discord: replies (an interaction's follow-up while it is
open), cards as embeds with a vote button and a thread for the idea's discussion, review
messages with the moderators' buttons, direct messages (told in the idea's thread when Discord
refuses them, error 50007), native polls, and a challenge's channel. The delivery loop
(:mod:`bot.delivery`) decides when; this, how. Every message sets its allowed mentions.
"""

from __future__ import annotations

import io
import logging
from datetime import timedelta
from typing import Any, assert_never

import aiohttp
import discord

from bot.delivery import Record
from bot.discord.front_end import (
    BUTTON,
    REVIEW_ACTIONS,
    DiscordFrontEnd,
    read_interaction_ref,
)
from bot.discord.ids import message_of, message_ref, ref, snowflake_of
from bot.discord.markdown import MAX_DESCRIPTION, NOBODY, allowed_mentions, markdown
from bot.outbox import (
    CreateChallengeRoomPayload,
    DirectFilePayload,
    DirectPayload,
    InvitePayload,
    MessagePayload,
    ModeratorLevelsPayload,
    PollEndPayload,
    PollStartPayload,
    RedactPayload,
    RoomFilePayload,
    RoomProfilePayload,
    SpaceChildPayload,
    read,
)
from bot.outcomes import challenge_room_on, enqueue_outcome
from bot.server import Dropped, Permanent, Reachability, Retry
from handlers.accounts import Network
from handlers.effects import CreateChallengeRoom
from handlers.reply import Mention, Reply, Span, Text
from handlers.services.challenge_rooms import challenge_room_created
from storage import IdeaStatus, OutboxItem

log = logging.getLogger(__name__)

#: Discord's error code for a direct message to someone who does not accept them.
CANNOT_MESSAGE_USER = 50007
#: A native poll's length; the bot ends it at the programme's deadline itself.
POLL_DURATION = timedelta(days=32)
#: Discord's limits: a poll's question and answers, a thread's and a channel's name.
MAX_QUESTION = 300
MAX_ANSWER = 55
MAX_NAME = 100
#: How long a row waits for the Discord connection to be up.
NOT_STARTED_WAIT = 0.5


class DiscordReachability(Reachability):
    """Whether Discord answers, for the delivery loop when the bot runs on Discord alone:
    discord.py keeps the connection itself (reconnecting, resuming, waiting out rate limits),
    so Discord answers when the client is connected."""

    def __init__(self, front: DiscordFrontEnd) -> None:
        super().__init__()
        self.front = front

    async def _answers(self) -> bool:
        return self.front.is_ready() and not self.front.is_closed()


#: Where the bot sends: a challenge's or the review channel, an idea's thread, a direct chat.
Sendable = discord.TextChannel | discord.Thread | discord.DMChannel


class DiscordOutgoing:
    def __init__(self, front: DiscordFrontEnd) -> None:
        self.front = front
        self.store = front.store

    async def carry_out(self, item: OutboxItem, _txn_id: str) -> Record | None:
        if not self.front.started.is_set():
            raise Retry("Discord not connected yet", after=NOT_STARTED_WAIT)
        payload = read(item)
        try:
            return await self._carry_out(item, payload)
        except discord.DiscordServerError as error:
            raise Retry(f"Discord: {error}") from None
        except discord.RateLimited as error:
            raise Retry("Discord rate limit", after=error.retry_after) from None
        except (aiohttp.ClientError, TimeoutError) as error:
            raise Retry(f"Discord unreachable: {error}") from None
        except discord.HTTPException as error:
            raise Permanent(f"Discord refused {item.kind}: {error.code} {error.text}") from None

    async def _carry_out(self, item: OutboxItem, payload: Any) -> Record | None:
        match payload:
            case MessagePayload():
                return await self._message(item.room_id, payload)
            case DirectPayload():
                await self._direct(payload)
                return None
            case DirectFilePayload():
                user = await self.front.fetch_user(_id(payload.user_id, "a file's person"))
                await user.send(file=_file(payload), allowed_mentions=NOBODY)
                return None
            case RoomFilePayload():
                channel = await self._channel(item.room_id)
                await channel.send(file=_file(payload), allowed_mentions=NOBODY)
                return None
            case PollStartPayload():
                return await self._poll_start(item.room_id, payload)
            case PollEndPayload():
                await self._poll_end(item.room_id, payload)
                return None
            case RedactPayload():
                place = message_of(payload.event_id)
                if place is not None:
                    channel = await self._channel(ref(place[0]))
                    await channel.get_partial_message(place[1]).delete()
                return None
            case InvitePayload():
                await self._give_access(item.room_id, payload.user_id)
                return None
            case RoomProfilePayload():
                channel = await self._channel(item.room_id)
                if isinstance(channel, discord.TextChannel):
                    await channel.edit(topic=payload.topic[:1024])
                return None
            case SpaceChildPayload() | ModeratorLevelsPayload():
                return None  # Matrix's: on Discord the category and the role do this
            case CreateChallengeRoomPayload():
                return await self._challenge_channel(payload)
            case _:
                assert_never(payload)

    # ------------------------------------------------------------------ messages

    async def _message(self, room_id: str | None, payload: MessagePayload) -> Record | None:
        reply = payload.reply
        if reply is None:
            raise Dropped("Matrix content queued for a Discord channel")
        idea = payload.card if payload.card is not None else payload.edit_of
        embed = None if idea is None else self._card_embed(reply)
        view = None if idea is None else _vote_view(idea)
        if payload.review_of is not None:
            view = self._review_view(payload.review_of)
        text = None if embed is not None else markdown(reply)
        mentions = allowed_mentions(reply)
        asked = read_interaction_ref(payload.reply_to)
        interaction = None if asked is None else self._interaction(asked[0])
        if asked is not None and interaction is None and payload.replaces is None:
            # The interaction is gone (a restart, or past its 15 minutes): the asker is told
            # directly, since the answer concerns them alone; in the channel, mentioned, if
            # they take no direct messages.
            await self._tell(asked[1], reply, await self._channel(room_id))
            return None
        if interaction is not None:
            # The asker's own answer: ephemeral, in the interaction it answers.
            await interaction.followup.send(
                content=text or "",
                embed=embed or discord.utils.MISSING,
                view=view or discord.utils.MISSING,
                ephemeral=True,
                allowed_mentions=mentions,
            )
            if payload.card is None or not isinstance(interaction.channel, discord.TextChannel):
                return None
            # A card answers the asker, and is the idea's card in the channel, as on Matrix.
        if payload.replaces is not None:
            place = message_of(payload.replaces)
            if place is None:
                raise Dropped(f"not a Discord message: {payload.replaces}")
            channel = await self._channel(ref(place[0]))
            await channel.get_partial_message(place[1]).edit(
                embed=embed, view=view, allowed_mentions=NOBODY
            )
            if payload.edit_of is not None:
                await self._name_thread(payload.edit_of, place[1])
            return None
        target = await self._channel(payload.thread_root or room_id)
        extra: dict[str, Any] = {}
        if embed is not None:
            extra["embed"] = embed
        if view is not None:
            extra["view"] = view
        place = message_of(payload.reply_to)
        if place is not None and place[0] == target.id:
            extra["reference"] = discord.MessageReference(
                message_id=place[1], channel_id=place[0], fail_if_not_exists=False
            )
        sent = await target.send(content=text, allowed_mentions=mentions, **extra)
        if payload.card is None:
            return None
        card, room = payload.card, room_id or ref(target.id)
        card_ref = message_ref(target.id, sent.id)
        if isinstance(target, discord.TextChannel):
            async with self.store.db.transaction():
                found = await self.store.ideas.get(card)
                # (in this channel: a challenge on both networks has its cards in Matrix too)
                shown_before = await self.store.cards.first_in_room(card, room) is not None
            if not shown_before:  # the idea's first card starts its discussion
                name = thread_name(card, found.title if found else "")
                await sent.create_thread(name=name[:MAX_NAME])

        async def record_card() -> None:
            await self.store.cards.add(card_ref, card, room)

        return record_card

    def _review_view(self, idea_id: int) -> discord.ui.View:
        """The moderators' decisions on a new idea, in the bot's language."""
        dispatcher = self.front.dispatcher
        language = dispatcher.settings.language
        labels = {
            action: dispatcher.catalogue.plain(language, f"discord.review.{action}")
            for action in REVIEW_ACTIONS
        }
        return _review_buttons(idea_id, labels)

    async def _name_thread(self, idea_id: int, card_id: int) -> None:
        """The idea's thread (started from its card) names its status, as a forum's tags
        would: renamed only when the status changes (Discord allows few renames)."""
        thread = self.front.get_channel(card_id)
        if not isinstance(thread, discord.Thread):
            return
        async with self.store.db.transaction():
            idea = await self.store.ideas.get(idea_id)
        if idea is None:
            return
        name = thread_name(idea_id, idea.title)
        if idea.status != IdeaStatus.NEW:
            dispatcher = self.front.dispatcher
            status = dispatcher.catalogue.plain(
                dispatcher.settings.language, f"status.{idea.status.value}"
            )
            name = f"[{status}] {name}"
        if thread.name != name[:MAX_NAME]:
            await thread.edit(name=name[:MAX_NAME])

    def _card_embed(self, reply: Reply) -> discord.Embed:
        return discord.Embed(description=markdown(reply, limit=MAX_DESCRIPTION))

    def _interaction(self, interaction_id: int) -> discord.Interaction | None:
        interaction = self.front.interactions.pop(interaction_id, None)
        if interaction is None or interaction.is_expired():
            return None
        return interaction

    async def _channel(self, room_id: str | None) -> Sendable:
        channel_id = _id(room_id, "a channel")
        channel = self.front.get_channel(channel_id)
        if channel is None:
            channel = await self.front.fetch_channel(channel_id)
        if not isinstance(channel, discord.TextChannel | discord.Thread | discord.DMChannel):
            raise Dropped(f"channel {channel_id} takes no messages")
        return channel

    # ------------------------------------------------------------------ direct messages

    async def _direct(self, payload: DirectPayload) -> None:
        reply = payload.reply
        if reply is None:
            raise Dropped("Matrix content queued for a Discord person")
        user_id = _id(payload.user_id, "a direct message's person")
        await self._tell(user_id, reply, await self._idea_thread(payload.about_idea))

    async def _tell(self, user_id: int, reply: Reply, instead: Sendable | None) -> None:
        """A direct message; when Discord refuses it (50007, the person takes none), said in
        ``instead`` (the idea's thread, the asker's channel) with a mention of them."""
        user = await self.front.fetch_user(user_id)
        try:
            await user.send(markdown(reply), allowed_mentions=allowed_mentions(reply))
            return
        except discord.Forbidden as error:
            if error.code != CANNOT_MESSAGE_USER:
                raise
        if instead is None:
            raise Dropped(
                f"Discord refuses direct messages to {ref(user_id)} (50007), and there is no"
                " thread or channel of theirs to tell them in"
            )
        told = Reply.of(Span((Mention(ref(user_id)), Text(" ")))) + reply
        await instead.send(markdown(told), allowed_mentions=allowed_mentions(told))

    async def _idea_thread(self, idea_id: int | None) -> Sendable | None:
        if idea_id is None:
            return None
        async with self.store.db.transaction():
            idea = await self.store.ideas.get(idea_id)
            room = (
                None
                if idea is None
                else await challenge_room_on(self.store, idea.challenge_id, Network.DISCORD)
            )
            card = None if room is None else await self.store.cards.first_in_room(idea_id, room)
        place = message_of(card)
        if place is None:
            return None
        # A thread started from a message has the message's ID.
        return await self._channel(ref(place[1]))

    # ------------------------------------------------------------------ polls

    async def _poll_start(self, room_id: str | None, payload: PollStartPayload) -> Record:
        channel = await self._channel(room_id)
        poll = discord.Poll(question=payload.question[:MAX_QUESTION], duration=POLL_DURATION)
        for _answer_id, text in payload.answers[:10]:
            poll.add_answer(text=text[:MAX_ANSWER])
        sent = await channel.send(poll=poll, allowed_mentions=NOBODY)
        start = message_ref(sent.channel.id, sent.id)
        poll_id, room = payload.poll_id, ref(sent.channel.id)

        async def record_start() -> None:
            await self.store.polls.set_start_event(poll_id, start, room)

        return record_start

    async def _poll_end(self, room_id: str | None, payload: PollEndPayload) -> None:
        async with self.store.db.transaction():
            start = await self.store.polls.start_event_in(payload.poll_id, room_id or "")
        place = message_of(start)
        if place is None:
            raise Permanent(f"poll {payload.poll_id} was never started in its channel")
        channel = await self._channel(ref(place[0]))
        message = await channel.fetch_message(place[1])
        if message.poll is not None and not message.poll.is_finalised():
            await message.end_poll()
        summary = payload.summary or Reply.of(Text(payload.text or ""))
        await channel.send(markdown(summary), allowed_mentions=NOBODY)

    # ------------------------------------------------------------------ channels

    async def _give_access(self, room_id: str | None, user_id: str) -> None:
        channel = await self._channel(room_id)
        member_id = snowflake_of(user_id)
        guild = self.front.get_guild(self.front.settings.guild_id)
        if member_id is None or guild is None or not isinstance(channel, discord.TextChannel):
            raise Dropped(f"{user_id} cannot be given a Discord channel")
        member = guild.get_member(member_id) or await guild.fetch_member(member_id)
        await channel.set_permissions(
            member,
            view_channel=True,
            send_messages=True,
            send_messages_in_threads=True,
            add_reactions=True,
            read_message_history=True,
        )

    async def _challenge_channel(self, request: CreateChallengeRoomPayload) -> Record:
        """The challenge's text channel under the category: its cards, the ideas' threads,
        the programme's messages and the final poll. Found again by its name after a crash."""
        async with self.store.db.transaction():
            challenge = await self.store.challenges.get(request.challenge_id)
        if challenge is None:
            raise Permanent(f"challenge {request.challenge_id} no longer exists")
        guild = self.front.get_guild(self.front.settings.guild_id)
        if guild is None:
            raise Retry("the Discord server is not known yet", after=NOT_STARTED_WAIT)
        category = guild.get_channel(self.front.settings.category_id)
        if not isinstance(category, discord.CategoryChannel):
            raise Permanent(f"discord.category_id {self.front.settings.category_id} is no category")
        channel = discord.utils.get(category.text_channels, name=request.slug)
        if channel is None:
            # Seen by those who join (/doe-mee), the moderators and the bot.
            taking_part = discord.PermissionOverwrite(
                view_channel=True,
                send_messages=True,
                send_messages_in_threads=True,
                add_reactions=True,
                read_message_history=True,
            )
            overwrites: dict[
                discord.Role | discord.Member | discord.Object, discord.PermissionOverwrite
            ] = {
                guild.default_role: discord.PermissionOverwrite(view_channel=False),
                guild.me: discord.PermissionOverwrite(
                    view_channel=True,
                    send_messages=True,
                    create_public_threads=True,
                    send_messages_in_threads=True,
                    embed_links=True,
                    add_reactions=True,
                    read_message_history=True,
                    manage_messages=True,
                    send_polls=True,
                ),
            }
            moderators = guild.get_role(self.front.settings.moderator_role_id)
            if moderators is not None:
                overwrites[moderators] = taking_part
            channel = await category.create_text_channel(
                name=request.slug,
                topic=f"{request.name}\n{request.topic}"[:1024],
                overwrites=overwrites,
            )
        room_id = ref(channel.id)
        front = self.front

        async def record_channel() -> None:
            now = front.dispatcher.clock()
            outcome = await challenge_room_created(
                self.store,
                front.dispatcher.catalogue,
                CreateChallengeRoom(**request.model_dump(exclude={"network"})),
                room_id=room_id,
                address=f"#{request.slug}",
                now=now,
                words=front.dispatcher.words,
            )
            await enqueue_outcome(
                self.store,
                outcome,
                room_id=request.notify_room,
                event_id=None,
                settings=front.dispatcher.settings,
                now=now,
            )

        return record_channel


def thread_name(idea_id: int, title: str) -> str:
    return f"#{idea_id} {' '.join(title.split())}".strip()


def _vote_view(idea_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(
        discord.ui.Button(
            emoji="👍",
            label=f"#{idea_id}",
            style=discord.ButtonStyle.primary,
            custom_id=f"{BUTTON}vote:{idea_id}",
        )
    )
    return view


def _review_buttons(idea_id: int, labels: dict[str, str]) -> discord.ui.View:
    styles = {
        "accept": discord.ButtonStyle.success,
        "reject": discord.ButtonStyle.danger,
        "needinfo": discord.ButtonStyle.secondary,
        "duplicate": discord.ButtonStyle.secondary,
    }
    view = discord.ui.View(timeout=None)
    for action in REVIEW_ACTIONS:
        view.add_item(
            discord.ui.Button(
                label=labels[action],
                style=styles[action],
                custom_id=f"{BUTTON}review:{action}:{idea_id}",
            )
        )
    return view


def _file(payload: DirectFilePayload | RoomFilePayload) -> discord.File:
    return discord.File(io.BytesIO(payload.data.encode("utf-8")), filename=payload.filename)


def _id(name: str | None, what: str) -> int:
    found = snowflake_of(name)
    if found is None:
        raise Dropped(f"{what} that is not on Discord: {name!r}")
    return found
