"""What came while the bot was away, read back once at start: Discord's gateway does not replay
it. Each challenge channel's and the review channel's messages after the last one read (prefix
commands), its ideas' threads, the 👍 on its cards given or taken back, and the answers to its
running poll; each handled once, by the same keys as when they come live."""

from __future__ import annotations

import logging
from typing import Any, Protocol

import discord

from bot.config import DiscordSettings
from bot.discord.ids import message_of, message_ref, reaction_ref, ref, snowflake_of
from handlers.dispatch import Dispatcher, Sender
from handlers.incoming import IncomingEvent, PollAnswered, ReactionRemoved, is_vote_reaction
from storage import Store

log = logging.getLogger(__name__)

#: Where the last message read in a channel is kept (state key + channel).
LAST_READ = "discord.last_read:"
#: How many messages of a channel are read back at most at start.
READ_BACK_LIMIT = 500
#: Messages a person typed (not a thread's creation, a pin, a join).
TYPED = (discord.MessageType.default, discord.MessageType.reply)


class FrontEnd(Protocol):
    """What a read-back asks of the Discord front end
    (:class:`bot.discord.front_end.DiscordFrontEnd`), which handles what is read as it handles
    what comes live. A protocol, so that this module does not import the front end back."""

    @property
    def store(self) -> Store: ...
    @property
    def settings(self) -> DiscordSettings: ...
    @property
    def dispatcher(self) -> Dispatcher: ...
    @property
    def user(self) -> discord.ClientUser | None: ...
    def get_channel(self, id: int, /) -> Any: ...
    async def mark_read(self, channel_id: int, message_id: int) -> None: ...
    async def handle_message(self, message: discord.Message) -> bool: ...
    async def thumb(
        self, channel_id: int, message_id: int, user_id: int, *, live: bool
    ) -> None: ...
    async def handle_event(self, key: str, sender: Sender, event: IncomingEvent) -> None: ...


class ReadBack:
    """One read-back, at the Discord front end's first start in this run."""

    def __init__(self, front: FrontEnd) -> None:
        self.front = front

    async def run(self) -> int:
        """What the challenge channels and the review channel got while the bot was away:
        their messages after the last one read (prefix commands) and the 👍 on the cards among
        them and before them, each handled once. Returns how many messages were read."""
        async with self.front.store.db.transaction():
            rooms = [
                room
                for challenge in await self.front.store.challenges.list(open_only=False)
                for room in await self.front.store.challenges.rooms_of(challenge.id)
            ]
        channel_ids = {self.front.settings.review_channel_id}
        channel_ids.update(room for room in map(snowflake_of, rooms) if room is not None)
        read = 0
        for channel_id in sorted(channel_ids):
            channel = self.front.get_channel(channel_id)
            if not isinstance(channel, discord.TextChannel):
                continue
            try:
                read += await self._read_channel(channel)
            except discord.HTTPException as error:
                log.warning("Could not read back channel %s: %s", channel_id, error)
        return read

    async def _read_channel(self, channel: discord.TextChannel) -> int:
        """The channel's messages, its ideas' threads' messages, the 👍 on its cards, and the
        answers to its running poll."""
        read = await self._read_messages(channel)
        for thread in channel.threads:
            read += await self._read_messages(thread)
        await self._read_thumbs(channel)
        await self._read_poll(channel)
        return read

    async def _read_poll(self, channel: discord.TextChannel) -> None:
        """Answers given to the channel's running poll while the bot was away: each person's
        answer as it stands now, once."""
        async with self.front.store.db.transaction():
            challenge = await self.front.store.challenges.by_room(ref(channel.id))
            poll = None if challenge is None else await self.front.store.polls.running(challenge.id)
            answers = [] if poll is None else await self.front.store.polls.answers(poll.id)
            start = (
                None
                if poll is None
                else await self.front.store.polls.start_event_in(poll.id, ref(channel.id))
            )
        place = message_of(start)
        if place is None or place[0] != channel.id:
            return
        try:
            message = await channel.fetch_message(place[1])
        except discord.HTTPException:
            return
        if message.poll is None:
            return
        poll_ref = message_ref(channel.id, message.id)
        for answer in message.poll.answers:
            if not 1 <= answer.id <= len(answers):
                continue
            async for voter in answer.voters():
                chosen = (answers[answer.id - 1].answer_id,)
                key = f"{poll_ref}/poll/{voter.id}/{answer.id}@read-back"
                sender = Sender(
                    user_id=ref(voter.id),
                    room_id=ref(channel.id),
                    is_direct=False,
                    is_moderator=False,
                )
                now_ms = int(self.front.dispatcher.clock().timestamp() * 1000)
                await self.front.handle_event(
                    key, sender, PollAnswered(poll_ref, key, chosen, now_ms)
                )

    async def _read_messages(self, channel: discord.TextChannel | discord.Thread) -> int:
        async with self.front.store.db.transaction():
            last = await self.front.store.state.get(f"{LAST_READ}{channel.id}")
        after = discord.Object(int(last)) if last is not None else None
        read = 0
        async for message in channel.history(limit=READ_BACK_LIMIT, after=after, oldest_first=True):
            if message.author.bot or message.type not in TYPED:
                async with self.front.store.db.transaction():
                    await self.front.mark_read(channel.id, message.id)
            else:
                await self.front.handle_message(message)
            read += 1
        return read

    async def _read_thumbs(self, channel: discord.TextChannel) -> None:
        """👍 on the channel's live cards that are not counted yet."""
        async with self.front.store.db.transaction():
            cards = await self.front.store.cards.in_room(ref(channel.id))
        for card in cards:
            place = message_of(card)
            if place is None:
                continue
            try:
                message = await channel.fetch_message(place[1])
            except discord.HTTPException:
                continue
            thumbs: set[int] = set()
            for reaction in message.reactions:
                if not is_vote_reaction(str(reaction.emoji)):
                    continue
                async for user in reaction.users():
                    if self.front.user is not None and user.id == self.front.user.id:
                        continue
                    thumbs.add(user.id)
                    await self.front.thumb(channel.id, message.id, user.id, live=False)
            await self._read_thumbs_taken_back(channel.id, message.id, thumbs)

    async def _read_thumbs_taken_back(
        self, channel_id: int, message_id: int, thumbs: set[int]
    ) -> None:
        """A 👍 that voted and was taken away while the bot was away takes its vote back."""
        prefix = reaction_ref(channel_id, message_id, 0).removesuffix("0")
        async with self.front.store.db.transaction():
            counted = await self.front.store.votes.reactions_starting(prefix)
        for reaction in counted:
            user = reaction.removeprefix(prefix)
            if not user.isdigit() or int(user) in thumbs:
                continue
            sender = Sender(
                user_id=ref(int(user)),
                room_id=ref(channel_id),
                is_direct=False,
                is_moderator=False,
            )
            await self.front.handle_event(
                f"{reaction}@gone@read-back", sender, ReactionRemoved(reaction)
            )
