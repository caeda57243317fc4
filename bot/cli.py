"""``challenge-bot``: run the bot, check a config, migrate, export the data, write the public
report, back up the database.

Only ``run`` and ``migrate`` change the database's schema. ``backup``, ``export`` and ``report``
open it read-only and refuse a schema other than their own (exit status 2, with what to do).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import Config, ConfigError, load_config
from bot.logs import LOG_FORMATS, Redactor, configure_logging
from handlers.export import UnknownChallenge, export_data, to_csv, to_json
from handlers.i18n import LANGUAGES
from storage import Database, DatabaseMissing, SchemaMismatch, Store

if TYPE_CHECKING:
    from report import ReportData

#: Exit status for a configuration or a database this version cannot use as it is.
EXIT_UNUSABLE = 2


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    redactor = configure_logging(args.log_level, args.log_format)
    return _run_command(args, redactor)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="challenge-bot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the bot until SIGINT/SIGTERM")
    check = commands.add_parser("check-config", help="validate a configuration and explain it")
    export = commands.add_parser("export", help="write challenges and ideas as JSON or CSV")
    export.add_argument("--challenge", metavar="SLUG", help="only this challenge")
    export.add_argument("--format", choices=("json", "csv"), default="json")
    export.add_argument("--output", type=Path, help="file to write (default: standard output)")
    export.add_argument(
        "--include-authors", action="store_true", help="include authors' Matrix IDs (personal data)"
    )
    report = commands.add_parser(
        "report", help="write the public report: a static site with the challenges and charts"
    )
    report.add_argument("--output", type=Path, required=True, help="folder to write it into")
    report.add_argument(
        "--language", choices=LANGUAGES, help="the report's language (default: bot.language)"
    )
    report.add_argument(
        "--include-authors", action="store_true", help="include authors' Matrix IDs (personal data)"
    )
    backup = commands.add_parser(
        "backup", help="consistent copy of the database, safe while running"
    )
    backup.add_argument("--output", type=Path, required=True)
    migrate = commands.add_parser(
        "migrate", help="bring the database's schema up to this version (stop the bot first)"
    )
    for sub in (run, check, export, report, backup, migrate):
        sub.add_argument("--config", type=Path, required=True, help="path to the TOML config")
        sub.add_argument(
            "--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR")
        )
        sub.add_argument(
            "--log-format",
            default="text",
            choices=LOG_FORMATS,
            help="text for a terminal, json for a log collector (one object a line)",
        )
    return parser


def _run_command(args: argparse.Namespace, redactor: Redactor) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return EXIT_UNUSABLE
    for secret in config.secrets:
        redactor.protect(secret.get_secret_value())
    if args.command == "check-config":
        print(explain(config))
        return 0
    if args.command == "run":
        from bot.app import run_bot

        try:
            asyncio.run(run_bot(config))
        except SchemaMismatch as error:  # a database newer than this version
            print(f"challenge-bot run: {error}", file=sys.stderr)
            return EXIT_UNUSABLE
        return 0
    try:
        return _offline(args, config)
    except (SchemaMismatch, DatabaseMissing, sqlite3.DatabaseError) as error:
        print(f"challenge-bot {args.command}: {error}", file=sys.stderr)
        return EXIT_UNUSABLE


def _offline(args: argparse.Namespace, config: Config) -> int:
    """The commands that work on the database alone: migrate, export, report, backup."""
    if args.command == "migrate":
        before, after = asyncio.run(_migrate(config))
        if before == after:
            print(f"{config.storage.path} is at schema version {after}: nothing to migrate")
        else:
            print(f"Migrated {config.storage.path} from schema version {before} to {after}")
        return 0
    if args.command == "export":
        try:
            text = asyncio.run(_export(config, args.challenge, args.format, args.include_authors))
        except UnknownChallenge as error:
            print(f"No challenge with slug {error}", file=sys.stderr)
            return 1
        if args.output:
            args.output.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
        return 0
    if args.command == "report":
        # Imported here: the report draws with matplotlib, which the running bot never needs
        # (it would cost every start half a second and memory).
        from report import write_site

        data = asyncio.run(_report(config, args.include_authors))
        written = write_site(
            data,
            args.output,
            language=args.language or config.bot.language,
            timezone=config.programme.timezone,
            site_title=config.programme.space_name,
        )
        count = len(data.challenges)
        print(
            f"Wrote the report to {args.output}: {count}"
            f" challenge{'' if count == 1 else 's'}, {len(written)} files"
        )
        return 0
    asyncio.run(_backup(config, args.output))
    print(f"Backed up {config.storage.path} to {args.output}")
    return 0


def explain(config: Config) -> str:
    bot = config.bot
    matrix = config.matrix
    if matrix is None:
        network = ["  matrix:           (off: no [matrix] section; Discord alone)"]
    else:
        secret = "access token" if matrix.access_token else "password"
        network = [
            f"  homeserver:       {matrix.homeserver}",
            f"  bot account:      {matrix.user_id} (logs in with a {secret})",
        ]
    return "\n".join(
        [
            "Configuration is valid.",
            *network,
            f"  database:         {config.storage.path}",
            f"  encryption keys:  {config.storage.crypto_store}",
            f"  command prefix:   {bot.prefix}",
            f"  default language: {bot.language}",
            f"  moderators:       {', '.join(bot.moderators) or '(none listed)'}",
            f"  moderation room:  {bot.moderation_room or '(none: moderators get no announcements)'}"
            + (
                f", power level >= {bot.moderator_power_level} makes a moderator"
                if bot.moderation_room
                else ""
            ),
            f"  identities:       {_identities(config)}",
            "  public report:    "
            + (
                f"{config.report.public_url} (cards, summaries and results link to it)"
                if config.report.public_url
                else "(no report.public_url: the chat links to no public report)"
            ),
            f"  discord:          {_discord(config)}",
        ]
    )


def _discord(config: Config) -> str:
    discord = config.discord
    if discord is None:
        return "(off: no [discord] section)"
    return (
        f"server {discord.guild_id}, moderator role {discord.moderator_role_id},"
        f" review channel {discord.review_channel_id},"
        f" challenge channels under category {discord.category_id} (token set)"
    )


def _identities(config: Config) -> str:
    identity = config.identity
    if not identity.can_verify:
        verified = "nobody can be verified (no admin token, or no auth_providers)"
    else:
        verified = f"verified through {', '.join(identity.auth_providers)}"
    listed = ", ".join(identity.listed_servers) or config.server_name
    return f"{verified}; listed servers: {listed}; default: {identity.default_eligibility}"


async def _export(
    config: Config, slug: str | None, output_format: str, include_authors: bool
) -> str:
    db = Database(config.storage.path)
    await db.open(read_only=True)
    try:
        async with db.snapshot():  # no write lock: the running bot goes on meanwhile
            data = await export_data(Store(db), slug, include_authors=include_authors)
    finally:
        await db.close()
    return to_json(data) if output_format == "json" else to_csv(data)


async def _report(config: Config, include_authors: bool) -> ReportData:
    from report import gather

    db = Database(config.storage.path)
    await db.open(read_only=True)
    try:
        async with db.snapshot():
            return await gather(Store(db), now=datetime.now(UTC), include_authors=include_authors)
    finally:
        await db.close()


async def _migrate(config: Config) -> tuple[int, int]:
    db = Database(config.storage.path)
    await db.open(migrate=False)
    try:
        return await db.migrate()
    finally:
        await db.close()


async def _backup(config: Config, output: Path) -> None:
    db = Database(config.storage.path)
    await db.open(read_only=True)
    try:
        await db.backup_to(output)
    finally:
        await db.close()


if __name__ == "__main__":
    sys.exit(main())
