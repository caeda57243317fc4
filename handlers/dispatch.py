"""From an incoming message or event to an ``Outcome``: parse, check the role, run, map errors.

A message is prepared once (:meth:`Dispatcher.prepare`: its command found, or its being a
dialogue's answer), asked whether it needs the person's identity, and handled
(:meth:`Dispatcher.handle_message`). An event (:mod:`handlers.incoming`) goes to the handler a
router declared for its kind (:meth:`Dispatcher.handle_event`).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime

from handlers.accounts import can_link, counted_account
from handlers.clock import Clock, system_clock
from handlers.command_words import CommandWords
from handlers.context import Context
from handlers.effects import Outcome, SendDirect
from handlers.errors import BotError, Forbidden, UsageError
from handlers.health import StatusProvider
from handlers.i18n import LANGUAGES, Catalogue
from handlers.incoming import IncomingEvent
from handlers.limits import CommandLimiter, ReactionNotices, WrongCodes
from handlers.parsing import CommandText, clean, split_command
from handlers.policy import Identity, Participation
from handlers.public_links import PublicLinks
from handlers.registry import Command, CommandRegistry, Role, parse_arguments
from handlers.reply import Code, Reply
from handlers.services.guided_submission import answer as answer_dialogue
from handlers.services.guided_submission import expiry_note
from handlers.settings import BotSettings, IdentitySettings, ProgrammeSettings, ReportSettings
from storage import Dialogue, Store, Verification

log = logging.getLogger(__name__)

#: Told of every command run: its name (``challenge.new``; ``unknown`` for a name that is no
#: command), its outcome (ok, refused, usage, error, unknown) and its handler's time in seconds.
CommandObserver = Callable[[str, str, float], None]


def _ignore(_command: str, _outcome: str, _seconds: float) -> None:
    pass


@dataclass(frozen=True)
class Sender:
    """Who acts and where; the bot layer works out the role and whether the room is a DM."""

    user_id: str
    room_id: str
    is_direct: bool
    is_moderator: bool
    #: When the command counts as given (its sending time, within reason); else when handled.
    sent_at: datetime | None = None
    #: The city's homeserver's fresh answer about the person, for what needs it
    #: (:meth:`Dispatcher.needs_identity`); None when not asked or not answered.
    verification: Verification | None = None
    #: It had to be asked and could not be: nobody can tell now whether they are verified.
    verification_failed: bool = False
    #: The language the person's client is set to, where the network tells (Discord): theirs
    #: until they choose one with ``lang``.
    locale_hint: str | None = None


@dataclass(frozen=True)
class PreparedMessage:
    """A message read once: what it typed, and the command it names, if any.

    Whether it answers an open dialogue is decided again when it is handled, in the
    transaction: the dialogue may have ended or begun meanwhile.
    """

    body: str
    #: The message cleaned up, as a dialogue's answer is read.
    typed: str
    #: Its command's name and arguments; None when it is no command (no prefix outside a DM).
    text: CommandText | None
    #: The command it names and the part of its first line left for arguments.
    resolved: tuple[Command, str] | None
    #: Its outcome depends on who the person is: the bot layer looks their identity up first.
    needs_identity: bool


class Dispatcher:
    def __init__(
        self,
        registry: CommandRegistry,
        store: Store,
        catalogue: Catalogue,
        settings: BotSettings,
        clock: Clock = system_clock,
        *,
        observe: CommandObserver = _ignore,
        status: StatusProvider | None = None,
        programme: ProgrammeSettings | None = None,
        identity: IdentitySettings | None = None,
        server_name: str = "",
        report: ReportSettings | None = None,
    ) -> None:
        self.registry = registry
        self.store = store
        self.catalogue = catalogue
        self.settings = settings
        self.clock = clock
        self.observe = observe
        self.status = status
        self.programme = programme or ProgrammeSettings()
        self.identity = identity or IdentitySettings()
        #: Links into the published report, for cards, summaries and results.
        self.links = PublicLinks((report or ReportSettings()).public_url)
        listed = self.identity.listed_servers or ((server_name,) if server_name else ())
        self.participation = Participation(
            default=self.identity.default_eligibility, servers=listed, home=server_name
        )
        self.limiter = CommandLimiter(settings.commands_per_minute)
        self.notices = ReactionNotices()
        self.wrong_codes = WrongCodes()
        self.words = CommandWords.of(registry, settings.prefix, LANGUAGES)

    async def context(self, sender: Sender, *, needs_identity: bool = True) -> Context:
        """The context of what ``sender`` does; who they are (their identity, with the account
        they are linked to) only where it ``needs_identity``."""
        chosen = await self.store.users.language(sender.user_id)
        hint = sender.locale_hint if sender.locale_hint in LANGUAGES else None
        locale = chosen or hint or self.settings.language
        room_challenge = await self.store.challenges.by_room(sender.room_id)
        identity = (
            await self._identity(sender, locale)
            if needs_identity
            else Identity(listed=self.participation.is_listed(sender.user_id))
        )
        return Context(
            sender=sender.user_id,
            room_id=sender.room_id,
            # A challenge's room is never anyone's direct chat, whatever its members.
            is_direct=sender.is_direct and room_challenge is None,
            room_challenge=room_challenge,
            role=Role.MODERATOR if sender.is_moderator else Role.CITIZEN,
            locale=locale,
            store=self.store,
            catalogue=self.catalogue,
            settings=self.settings,
            now=sender.sent_at or self.clock(),
            status=self.status,
            programme=self.programme,
            identity=identity,
            participation=self.participation,
            identity_settings=self.identity,
            notices=self.notices,
            wrong_codes=self.wrong_codes,
            words=self.words,
            links=self.links,
        )

    async def _identity(self, sender: Sender, locale: str) -> Identity:
        """What is known of who the sender is: the verification the front end looked up (of
        the Matrix account that counts for them, :func:`handlers.accounts.identity_account`),
        whether that account is on a listed server, and their link to another account."""
        link = await self.store.links.of(sender.user_id)
        counted = counted_account(sender.user_id, link)
        return Identity(
            listed=counted is not None and self.participation.is_listed(counted),
            verification=sender.verification,
            unavailable=sender.verification_failed,
            linked_key=None if link is None else link.person_key,
            link_with=(
                self.words.typed(locale, "link")
                if link is None and can_link(sender.user_id)
                else None
            ),
        )

    async def prepare(self, sender: Sender, body: str) -> PreparedMessage:
        """Read the message once, for :attr:`PreparedMessage.needs_identity` and then
        :meth:`handle_message`. Read-only: may run outside a transaction."""
        message = self._read(sender, body)
        # Only what has no prefix can answer a dialogue: a command (nearly every message) costs
        # no look-up here; handle_message reads the dialogue again in its transaction anyway.
        if self._answers_dialogue(message.typed) and await self.store.dialogues.get(
            sender.user_id, sender.room_id
        ):
            return replace(message, needs_identity=True)  # a guided submission ends in one
        return message

    def _read(self, sender: Sender, body: str) -> PreparedMessage:
        """The message's text and command, without asking the database anything."""
        typed = clean(body).strip()
        text = split_command(body, self.settings.prefix, prefix_optional=sender.is_direct)
        resolved = None if text is None else self.registry.resolve(text)
        needs_identity = resolved is not None and resolved[0].needs_identity
        return PreparedMessage(body, typed, text, resolved, needs_identity)

    def _answers_dialogue(self, typed: str) -> bool:
        """Whether a message is an open dialogue's answer: anything but a prefixed command."""
        return bool(typed) and not typed.startswith(self.settings.prefix)

    async def handle_message(
        self, sender: Sender, message: PreparedMessage | str
    ) -> Outcome | None:
        """The outcome of a message (prepared, or its text), or None when it is not meant for
        the bot.

        While the sender has a dialogue open in this room (``!idea`` alone starts one), a message
        without the prefix is its answer, in a direct chat too; a command with the prefix runs
        as usual and leaves the dialogue open, and ``!cancel`` ends it. A dialogue that ran out
        of time ends when its person writes again: the reply starts with a note saying so, and
        the message is handled as if there had been no dialogue.

        Call inside a transaction: a command that fails leaves nothing behind.
        """
        if isinstance(message, str):
            message = self._read(sender, message)
        dialogue, note = await self._open_dialogue(sender)
        if dialogue is not None and self._answers_dialogue(message.typed):
            return _with_note(note, await self._answer(sender, dialogue, message.typed))
        return _with_note(note, await self._command(sender, message))

    async def expire_dialogues(self) -> list[tuple[str, str, Outcome]]:
        """End every dialogue that ran out of time: ``(user_id, room_id, outcome)`` for each.

        The outcome has no effects; its reply is the friendly note for that person, to be sent
        to ``room_id``, where the dialogue ran (it answers no particular event). Meant for the
        bot's periodic sweep, which must call it inside a transaction (``async with
        store.db.transaction():``) and queue the notes in that same transaction, so that each
        note is sent once, and only for a dialogue that is gone. A person who writes before the
        sweep comes by gets the same note from :meth:`handle_message` instead.
        """
        ended: list[tuple[str, str, Outcome]] = []
        for dialogue in await self.store.dialogues.expired(self.clock()):
            await self.store.dialogues.delete(dialogue.user_id, dialogue.room_id)
            locale = await self._locale(dialogue.user_id)
            note = expiry_note(self.catalogue, locale, self.settings, self.words)
            ended.append((dialogue.user_id, dialogue.room_id, Outcome(note)))
        return ended

    async def _open_dialogue(self, sender: Sender) -> tuple[Dialogue | None, Reply | None]:
        """The sender's open dialogue in this room; one that ran out of time ends, with a note."""
        dialogue = await self.store.dialogues.get(sender.user_id, sender.room_id)
        if dialogue is None or dialogue.expires_at > self.clock():
            return dialogue, None
        await self.store.dialogues.delete(sender.user_id, sender.room_id)
        locale = await self._locale(sender.user_id)
        return None, expiry_note(self.catalogue, locale, self.settings, self.words)

    async def _locale(self, user_id: str) -> str:
        return await self.store.users.language(user_id) or self.settings.language

    async def _admit(self, ctx: Context) -> tuple[bool, Outcome | None]:
        """Whether the person may go on; if not, the refusal (None: silence, during a flood)."""
        if ctx.is_moderator:
            return True, None
        admitted = await self.limiter.admit(ctx.sender)
        if admitted is None:
            return False, None
        if not admitted:
            return False, Outcome(
                ctx.reply("limit.commands", count=self.settings.commands_per_minute)
            )
        return True, None

    async def _answer(self, sender: Sender, dialogue: Dialogue, typed: str) -> Outcome | None:
        ctx = await self.context(sender)
        admitted, refusal = await self._admit(ctx)
        if not admitted:
            return refusal
        return await self._guarded(ctx, "dialogue", lambda: answer_dialogue(ctx, dialogue, typed))

    async def _command(self, sender: Sender, message: PreparedMessage) -> Outcome | None:
        text, resolved = message.text, message.resolved
        if text is None:
            return None
        ctx = await self.context(sender, needs_identity=message.needs_identity)
        admitted, refusal = await self._admit(ctx)
        if not admitted:
            return refusal
        if resolved is None:
            self.observe("unknown", "unknown", 0.0)
            return Outcome(
                ctx.reply(
                    "error.unknown_command",
                    command=Code(text.name),
                    help=ctx.command("help"),
                )
            )
        command, line = resolved
        in_room = ctx.room_challenge is not None
        started = time.perf_counter()
        result = "error"
        try:
            if command.role > ctx.role:
                raise Forbidden(
                    "error.moderators_only",
                    command=Code(self.settings.prefix + command.shown_name(ctx.locale)),
                )
            arguments = parse_arguments(command, line, text.body, in_challenge_room=in_room)
            async with self.store.db.savepoint("command"):
                outcome = await command.handler(ctx, **arguments)
            result = "ok"
            return _kept_private(ctx, outcome)
        except UsageError as error:
            result = "usage"
            usage = command.usage(
                self.settings.prefix,
                lambda name: ctx.catalogue.plain(ctx.locale, f"label.{name}"),
                in_challenge_room=in_room,
                language=ctx.locale,
            )
            params = dict(error.params)
            if "name" in params:
                params["name"] = ctx.t(f"label.{params['name']}")
            return Outcome(
                Reply.of(ctx.t(error.key, **params), ctx.t("error.usage", usage=Code(usage)))
            )
        except BotError as error:
            result = "refused"
            return Outcome(ctx.reply(error.key, **error.params))
        except Exception:
            return Outcome(self._internal_error(ctx, f"command {command.name!r}"))
        finally:
            self.observe(command.key, result, time.perf_counter() - started)

    def event_needs_identity(self, event: IncomingEvent) -> bool:
        """Whether the handler of ``event`` depends on who the person is (a 👍 votes, a poll
        answer counts): then the front end looks their identity up first."""
        route = self.registry.event_route(type(event))
        return route is not None and route.needs_identity

    async def handle_event(self, sender: Sender, event: IncomingEvent) -> Outcome | None:
        """The outcome of an event (:mod:`handlers.incoming`), by the handler a router
        declared for its kind; None when none did. Call inside a transaction."""
        route = self.registry.event_route(type(event))
        if route is None:
            log.debug("No handler for %s", type(event).__name__)
            return None
        return await self.run(
            sender,
            lambda ctx: route.handler(ctx, event),
            limited=route.limited,
            needs_identity=route.needs_identity,
        )

    async def run(
        self,
        sender: Sender,
        action: Callable[[Context], Awaitable[Outcome | None]],
        *,
        limited: bool = True,
        needs_identity: bool = True,
    ) -> Outcome | None:
        """Run a non-command action (an event's handler) with the same error mapping, and
        within the same limit per person as commands (``limited``): past it, the action is
        ignored in silence. A reaction gets no reply, so neither does a flood of them."""
        ctx = await self.context(sender, needs_identity=needs_identity)
        if (
            limited
            and not ctx.is_moderator
            and not await self.limiter.admit(ctx.sender, quietly=True)
        ):
            return None
        return await self._guarded(ctx, "action", lambda: action(ctx))

    async def _guarded(
        self, ctx: Context, what: str, action: Callable[[], Awaitable[Outcome | None]]
    ) -> Outcome | None:
        """``action`` in a savepoint named ``what``; a refusal or a failure becomes the reply."""
        try:
            async with self.store.db.savepoint(what):
                return await action()
        except BotError as error:
            return Outcome(ctx.reply(error.key, **error.params))
        except Exception:
            return Outcome(self._internal_error(ctx, what))

    def _internal_error(self, ctx: Context, what: str) -> Reply:
        reference = secrets.token_hex(4)
        log.exception(
            "Unexpected error in %s from %s (ref %s)",
            what,
            ctx.sender,
            reference,
            extra={"room_id": ctx.room_id, "reference": reference},
        )
        return ctx.reply("error.internal", reference=Code(reference))


def _kept_private(ctx: Context, outcome: Outcome | None) -> Outcome | None:
    """A reply for the asker's eyes only (:attr:`Outcome.personal`, a link code) asked for
    where others read along (a channel, a shared room) goes to their direct chat instead; the
    room hears only where it went. The one place this rule is kept, for every front end."""
    if outcome is None or not outcome.personal or outcome.reply is None or ctx.is_direct:
        return outcome
    return replace(
        outcome,
        reply=ctx.reply("link.sent_elsewhere"),
        effects=(*outcome.effects, SendDirect(ctx.sender, outcome.reply)),
        personal=False,
    )


def _with_note(note: Reply | None, outcome: Outcome | None) -> Outcome | None:
    """The outcome with ``note`` before its reply (the note alone when there is no reply)."""
    if note is None:
        return outcome
    if outcome is None:
        return Outcome(note)
    return replace(outcome, reply=note + outcome.reply if outcome.reply else note)
