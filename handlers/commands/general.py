"""Help and language: what every user can always do; and what a message the bot could not
decrypt gets as an answer."""

from __future__ import annotations

from handlers.context import Context
from handlers.effects import Outcome
from handlers.errors import NotFound
from handlers.i18n import LANGUAGES
from handlers.incoming import Undecryptable
from handlers.registry import Command, CommandRegistry, CommandRouter, Kind, Param
from handlers.reply import Code, Items, Reply, Span

router = CommandRouter()


def usage(ctx: Context, command: Command) -> str:
    return command.usage(
        ctx.settings.prefix,
        lambda name: ctx.catalogue.plain(ctx.locale, f"label.{name}"),
        in_challenge_room=ctx.room_challenge is not None,
        language=ctx.locale,
    )


def help_command(registry: CommandRegistry) -> CommandRouter:
    """``!help`` needs the finished registry, so it is built once the others are included."""
    help_router = CommandRouter()

    @help_router.command(
        "help",
        names={"nl": "hulp"},
        params=(
            Param("command", Kind.WORD, required=False),
            Param("subcommand", Kind.WORD, required=False),
        ),
    )
    async def show_help(ctx: Context, command: str | None, subcommand: str | None) -> Outcome:
        if command is not None:
            words = [command.removeprefix(ctx.settings.prefix)] + (
                [subcommand] if subcommand else []
            )
            found = registry.find_path(words)
            if found is None or found.role > ctx.role:
                raise NotFound("help.no_such_command", command=Code(" ".join(words)))
            lines: list[Span] = [
                ctx.t(f"help.{found.key}"),
                ctx.t("help.usage", usage=Code(usage(ctx, found))),
            ]
            others = found.other_names(ctx.locale)
            if others:
                lines.append(ctx.t("help.aliases", aliases=Code(", ".join(others))))
            return Outcome(Reply.of(*lines))
        allowed = [item for item in registry.commands() if item.role <= ctx.role]
        entries = tuple(
            Span(
                (
                    Code(usage(ctx, item).split("\n")[0]),
                    *ctx.t("help.separator").children,
                    ctx.t(f"help.{item.key}"),
                )
            )
            for item in allowed
        )

        return Outcome(
            Reply.of(
                ctx.t("help.header"),
                Items(entries),
                ctx.t(
                    "help.footer",
                    command=ctx.command("help", f"<{ctx.label('command')}>"),
                ),
            )
        )

    return help_router


@router.command(
    "lang",
    names={"nl": "taal"},
    aliases=("language",),
    params=(Param("language", Kind.CHOICE, choices=LANGUAGES),),
)
async def set_language(ctx: Context, language: str) -> Outcome:
    await ctx.store.users.set_language(ctx.sender, language)
    return Outcome(Reply.of(ctx.catalogue.span(language, "lang.set")))


@router.on(Undecryptable)
async def undecryptable(ctx: Context, _event: Undecryptable) -> Outcome:
    """What the bot says, once, about a message it could not decrypt."""
    return Outcome(ctx.reply("e2e.undecryptable"))
