"""``!status``: the bot's health and counters at a glance, for moderators.

The figures come from the bot (:class:`handlers.health.StatusFigures`), the same as its
``/healthz`` and ``/metrics`` endpoint shows; here they are only put into words.
"""

from __future__ import annotations

from babel.numbers import format_decimal

from handlers.audience import require_private_room
from handlers.context import Context
from handlers.effects import Outcome
from handlers.errors import NotFound
from handlers.health import StatusFigures
from handlers.registry import CommandRouter, Role
from handlers.reply import Code, Items, Reply, Span

router = CommandRouter()


@router.command("status", names={"nl": "toestand"}, role=Role.MODERATOR)
async def status(ctx: Context) -> Outcome:
    require_private_room(ctx)
    if ctx.status is None:
        raise NotFound("health.unavailable")
    figures = await ctx.status()
    problems = _problems(ctx, figures)
    header = ctx.t("health.ok") if figures.healthy else ctx.t("health.not_ok")
    blocks: list[Span | Items] = [header]
    if problems:
        blocks.append(Items(tuple(problems)))
    blocks.append(Items(tuple(_counters(ctx, figures))))
    return Outcome(Reply.of(*blocks))


def _problems(ctx: Context, figures: StatusFigures) -> list[Span]:
    found: list[Span] = []
    if not figures.homeserver_up:
        found.append(ctx.t("health.homeserver_down"))
    if figures.sync_lag_seconds is None:
        found.append(ctx.t("health.no_sync"))
    elif not figures.sync_current:
        found.append(ctx.t("health.sync_stale", seconds=round(figures.sync_lag_seconds)))
    found.extend(ctx.t("health.task_failed", task=Code(task)) for task in figures.failed_tasks)
    return found


def _counters(ctx: Context, figures: StatusFigures) -> list[Span]:
    lines: list[Span] = []
    if figures.sync_lag_seconds is not None:
        lines.append(ctx.t("health.sync", seconds=round(figures.sync_lag_seconds)))
    lines.append(
        ctx.t(
            "health.events",
            count=figures.events_handled,
            latency=_decimal(ctx, figures.mean_latency_ms),
        )
    )
    lines.append(ctx.t("health.commands", count=figures.commands, errors=figures.command_errors))
    if figures.outbox_oldest_seconds is None:
        lines.append(ctx.t("health.outbox_empty"))
    else:
        lines.append(
            ctx.t(
                "health.outbox",
                count=figures.outbox_pending,
                seconds=round(figures.outbox_oldest_seconds),
            )
        )
    lines.append(ctx.t("health.send_failures", count=figures.send_failures))
    lines.append(ctx.t("health.gaps", gaps=figures.gap_fills, undecryptable=figures.undecryptable))
    lines.append(
        ctx.t("health.database", megabytes=_decimal(ctx, figures.database_bytes / 1_000_000))
    )
    return lines


def _decimal(ctx: Context, value: float | None) -> str | None:
    """One decimal, as the asker's language writes it (``1,5`` in Dutch); None stays None."""
    if value is None:
        return None
    return str(format_decimal(round(value, 1), format="#,##0.0", locale=ctx.locale))
