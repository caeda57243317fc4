"""Discord's rendering of replies: user text escaped, mentions only of Discord accounts."""

from __future__ import annotations

from bot.discord.ids import message_of, message_ref, ref, snowflake_of
from bot.discord.markdown import allowed_mentions, escape, markdown
from bot.routing import goes_to_discord
from handlers.reply import Bold, Code, Items, Mention, Quote, Reply, Span, Text
from storage import OutboxItem


def test_typed_text_cannot_format_mention_or_link() -> None:
    typed = "**bold** _it_ `code` @everyone @here <@123> <@&9> [x](https://e.example)\n# Big\n> q"
    shown = escape(typed)
    assert "**" not in shown.replace("\\*\\*", "")
    assert "@everyone" not in shown and "@here" not in shown
    assert "<@123>" not in shown and "<@&9>" not in shown
    assert "\\[x](" in shown
    assert shown.split("\n")[1].startswith("\\#") and shown.split("\n")[2].startswith("\\>")


def test_a_reply_mentions_only_discord_accounts() -> None:
    reply = Reply.of(
        Span((Mention(ref(42)), Text(" and "), Mention("@ann:city.example"))),
        Items((Bold(Text("*x*")), Code("!stem 3"))),
        Quote("@everyone\nline"),
    )
    text = markdown(reply)
    assert text.startswith("<@42> and @ann:city.example")
    assert "**\\*x\\***" in text and "`!stem 3`" in text
    assert "> @\u200beveryone\n> line" in text
    mentions = allowed_mentions(reply)
    assert mentions.everyone is False and mentions.roles is False
    assert [user.id for user in mentions.users] == [42]  # type: ignore[union-attr]


def test_discord_names_never_look_like_matrix_ones() -> None:
    assert snowflake_of(ref(7)) == 7
    assert snowflake_of("@discord:city.example") is None
    assert snowflake_of("discord:12/34") is None
    assert snowflake_of("discord:0") is None
    assert message_of(message_ref(12, 34)) == (12, 34)
    assert message_of("discord:12") is None


async def test_rows_for_discord_rooms_and_people_go_to_discord() -> None:
    def row(room_id: str | None, **payload: object) -> OutboxItem:
        return OutboxItem(id=1, kind="message", room_id=room_id, payload=payload, attempts=0)

    store = None  # only a Space row asks the database
    assert await goes_to_discord(row(ref(5)), store)  # type: ignore[arg-type]
    assert await goes_to_discord(row(None, user_id=ref(5)), store)  # type: ignore[arg-type]
    assert not await goes_to_discord(row("!room:city.example"), store)  # type: ignore[arg-type]
    assert not await goes_to_discord(row(None, user_id="@ann:city.example"), store)  # type: ignore[arg-type]
