"""From what people type to what is stored: quotes, options, numbers, usage replies, odd text."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from handlers import build_registry
from handlers.parsing import clean, split_command, tokenize
from handlers.registry import MAX_NUMBER, Kind, convert, parse_arguments
from tests.handler_support import ALICE, MODERATOR, Harness, open_harness, says

ROOM = "!mobility:city.example"

#: The largest idea number a person can type: 18 digits (SQLite's integers hold 19).
LARGEST = 10**18 - 1
assert LARGEST < MAX_NUMBER

#: Characters the tokenizer treats as a double quote (what phone keyboards insert).
QUOTE_CHARS = '"“”„‟«»＂'


async def only_title(bot: Harness) -> str:
    (idea,) = await bot.store.ideas.by_author(ALICE)
    return idea.title


# --- the tokenizer ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("one two  three", ["one", "two", "three"]),
        ('say "two words" here', ["say", "two words", "here"]),
        ("say “two words” here", ["say", "two words", "here"]),  # iOS
        ("say „zwei Wörter“ hier", ["say", "zwei Wörter", "hier"]),  # German keyboards
        ("dit «twee woorden» hier", ["dit", "twee woorden", "hier"]),
        ("say ＂full width＂ too", ["say", "full width", "too"]),
        ('"" empty', ["", "empty"]),
        ('unclosed "runs to the end', ["unclosed", "runs to the end"]),
        ("  \t padded \u00a0 ", ["padded"]),
    ],
)
def test_tokenizer_groups_quoted_words(line: str, words: list[str]) -> None:
    assert [token.value for token in tokenize(line)] == words


def test_a_token_starts_at_its_opening_quote() -> None:
    tokens = tokenize("ab “c d” e")

    assert [token.start for token in tokens] == [0, 3, 9]


@given(st.lists(st.text(st.characters(exclude_categories=("Z", "Cc", "Cs")), min_size=1)))
def test_tokenizer_splits_plain_words_on_white_space(words: list[str]) -> None:
    assume(not any(set(word) & set(QUOTE_CHARS) for word in words))
    assume(not any(any(ch.isspace() for ch in word) for word in words))

    assert [token.value for token in tokenize(" ".join(words))] == words


def test_registries_are_independent_of_each_other() -> None:
    first, second = build_registry(), build_registry()

    assert [c.name for c in first.commands()] == [c.name for c in second.commands()]
    new = first.find_path(["challenge", "nieuw"])
    assert new is not None and new.name == "challenge new"
    parents = first.find("challenge"), second.find("challenge")
    for parent in parents:
        assert parent is not None
        assert set(parent.subcommands) == {
            "new",
            "nieuw",
            "edit",
            "wijzig",
            "close",
            "sluit",
            "open",
        }
    assert parents[0] is not parents[1]


# --- addressing the bot ----------------------------------------------------------------------


def test_split_command_needs_the_prefix_only_where_it_is_required() -> None:
    in_direct_chat = split_command("idea mobility Lanes", "!", prefix_optional=True)
    with_prefix = split_command("  ! IDEA mobility Lanes", "!", prefix_optional=False)

    assert in_direct_chat is not None and in_direct_chat.name == "idea"
    assert with_prefix is not None and (with_prefix.name, with_prefix.line) == (
        "idea",
        "mobility Lanes",
    )
    assert split_command("idea mobility Lanes", "!", prefix_optional=False) is None
    assert split_command("Good morning everyone!", "!", prefix_optional=False) is None
    assert split_command(" \n\x00 ", "!", prefix_optional=True) is None


def test_split_command_keeps_the_lines_of_the_body() -> None:
    found = split_command(
        "!idea mobility Lanes\r\n\n  First line\n    indented\n\nLast line\n\n",
        "!",
        prefix_optional=False,
    )

    assert found is not None
    assert found.line == "mobility Lanes"
    assert found.body == "First line\n    indented\n\nLast line"


@pytest.mark.usefixtures("a_challenge")
async def test_the_prefix_is_optional_in_a_direct_chat(bot: Harness) -> None:
    reply = await bot.ask(ALICE, "idea mobility Lanes without a prefix")

    assert reply.startswith("Bedankt!")
    assert await only_title(bot) == "Lanes without a prefix"


@pytest.mark.usefixtures("a_challenge")
async def test_the_prefix_is_required_in_a_room(bot: Harness) -> None:
    before = await bot.counts()

    assert await bot.send(ALICE, "idea Lanes without a prefix", room=ROOM, direct=False) is None
    assert await bot.send(ALICE, "vote 1", room=ROOM, direct=False) is None
    assert await bot.send(ALICE, "What a nice idea!", room=ROOM, direct=False) is None
    assert await bot.counts() == before

    await bot.say(ALICE, "!idea Lanes with a prefix", room=ROOM, direct=False)
    assert await only_title(bot) == "Lanes with a prefix"


async def test_another_prefix_from_the_settings(tmp_path: Path) -> None:
    async with open_harness(tmp_path, prefix="?") as bot:
        await bot.say(MODERATOR, "?challenge new mobility Lanes", moderator=True)

        assert await bot.send(ALICE, "!challenges", room=ROOM, direct=False) is None
        assert (await bot.ask(ALICE, "?challenges", room=ROOM, direct=False)).startswith(
            says("nl", "challenges.header", count=1)
        )
        assert await bot.ask(ALICE, "?nope") == says(
            "nl", "error.unknown_command", command="nope", help="?hulp"
        )


@pytest.mark.usefixtures("a_challenge")
@pytest.mark.parametrize("language", ["nl", "en"])
async def test_an_unknown_command_points_to_help(bot: Harness, language: str) -> None:
    await bot.say(ALICE, f"!lang {language}")
    before = await bot.counts()

    reply = await bot.ask(ALICE, "!frobnicate the ideas")

    shown = {"nl": "!hulp", "en": "!help"}[language]
    assert reply == says(language, "error.unknown_command", command="frobnicate", help=shown)
    assert await bot.counts() == before


@pytest.mark.usefixtures("a_challenge")
async def test_command_names_and_aliases_ignore_case(bot: Harness) -> None:
    await bot.say(ALICE, "!IDEE mobility Shouted title")

    assert await only_title(bot) == "Shouted title"
    assert (await bot.ask(ALICE, "!Uitdagingen")).startswith(
        says("nl", "challenges.header", count=1)
    )


# --- titles: the rest of the line -------------------------------------------------------------


@pytest.mark.usefixtures("a_challenge")
@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("“Safer crossings”", "Safer crossings"),
        ('"Safer crossings"', "Safer crossings"),
        ("«Safer crossings»", "Safer crossings"),
        ("Le «vélo» et “la” ville", "Le «vélo» et “la” ville"),
        ('A "quoted" word', 'A "quoted" word'),
        ('"Two" "quoted parts"', '"Two" "quoted parts"'),
        ("Two  spaces\tand a tab", "Two  spaces\tand a tab"),
        ("--not an option", "--not an option"),
    ],
)
async def test_a_title_is_the_rest_of_the_line(bot: Harness, written: str, stored: str) -> None:
    await bot.say(ALICE, f"!idea mobility {written}")

    assert await only_title(bot) == stored


@pytest.mark.usefixtures("a_challenge")
async def test_a_reason_keeps_the_lines_after_the_first(bot: Harness) -> None:
    await bot.say(ALICE, "!idea mobility Lanes")

    await bot.say(
        MODERATOR, "!reject 1 On the first line\nsecond line\n  - indented", moderator=True
    )

    (entry,) = await bot.store.audit.for_idea(1)
    assert entry.detail == "On the first line\nsecond line\n  - indented"


@pytest.mark.usefixtures("a_challenge")
@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("Bike\x00 lanes", "Bike lanes"),
        ("\x07Bell\x1b[31m red\x7f", "Bell[31m red"),
        ("C1\x85 control\x9b", "C1 control"),
        ("שבילי אופניים בטוחים", "שבילי אופניים בטוחים"),
        ("ممرات \u200fدراجات آمنة", "ممرات \u200fدراجات آمنة"),
        # Overrides could make a title display as something else; right-to-left text needs none.
        ("Mixed \u202eRTL override\u202c text", "Mixed RTL override text"),
        ("Isolate \u2067مرحبا\u2069 here", "Isolate مرحبا here"),
        ("🚲 Fietspad 👩🏽‍🦯 🏳️‍🌈 🇧🇪", "🚲 Fietspad 👩🏽‍🦯 🏳️‍🌈 🇧🇪"),
        ("Café Überweg", "Café Überweg"),
        ("Zero\u200bwidth", "Zero\u200bwidth"),
    ],
)
async def test_titles_are_stored_as_written_minus_control_characters(
    bot: Harness, written: str, stored: str
) -> None:
    await bot.say(ALICE, f"!idea mobility {written}\nLine\x00 one\r\nLine two 🚲")

    (idea,) = await bot.store.ideas.by_author(ALICE)
    assert idea.title == stored
    assert idea.description == "Line one\nLine two 🚲"
    assert stored in await bot.ask(ALICE, f"!show {idea.id}")


@pytest.mark.usefixtures("a_challenge")
async def test_a_decomposed_accent_is_stored_composed(bot: Harness) -> None:
    await bot.say(ALICE, "!idea mobility Cafe\u0301")

    assert await only_title(bot) == "Café" == unicodedata.normalize("NFC", "Cafe\u0301")


@given(
    st.text(
        st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp"), exclude_characters=QUOTE_CHARS),
        min_size=1,
        max_size=60,
    )
)
def test_any_title_survives_parsing(title: str) -> None:
    expected = unicodedata.normalize("NFC", title).strip()
    assume(expected)
    registry = build_registry()

    found = split_command(f"!idea mobility {title}", "!", prefix_optional=False)
    assert found is not None
    resolved = registry.resolve(found)
    assert resolved is not None
    command, line = resolved
    values = parse_arguments(command, line, found.body, in_challenge_room=False)

    assert values == {"challenge": "mobility", "title": expected, "description": None}


@pytest.mark.usefixtures("a_challenge")
async def test_a_too_long_title_is_refused_and_nothing_is_stored(bot: Harness) -> None:
    before = await bot.counts()

    reply = await bot.ask(ALICE, "!idea mobility " + "x" * 201)

    assert reply == says("nl", "error.too_long", what="titel", length=201, limit=200)
    assert await bot.counts() == before


# --- options ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("a_challenge")
@pytest.mark.parametrize(
    "command",
    [
        "!challenge new --deadline=2099-12-31 --budget=3 --premoderated parks Greener parks",
        "!challenge new --deadline 2099-12-31 --budget 3 --premoderated parks Greener parks",
        "!challenge new parks Greener parks --premoderated --DEADLINE=2099-12-31 --budget=3",
        "!challenge nieuw --budget=3 parks --premoderated Greener parks --deadline=2099-12-31",
    ],
)
async def test_options_anywhere_on_the_first_line(bot: Harness, command: str) -> None:
    await bot.say(MODERATOR, command + "\nMore green.", moderator=True)

    parks = await bot.store.challenges.by_slug("parks")
    assert parks is not None
    assert (parks.title, parks.description) == ("Greener parks", "More green.")
    # The end of that day in Brussels (winter time, UTC+1).
    assert str(parks.submission_deadline_at) == "2099-12-31 23:00:00+00:00"
    assert parks.vote_budget == 3
    assert parks.premoderated


USAGE_NEW_NL = (
    "!uitdaging nieuw [--deadline=JJJJ-MM-DD[Tuu:mm]] [--voting-deadline=JJJJ-MM-DD[Tuu:mm]] "
    "[--budget=aantal] [--threshold=aantal] [--premoderated] [--tags=thema,thema] "
    "[--partner=partner] "
    "[--eligibility=anyone|listed|verified] <korte-naam> <titel>\n[beschrijving]"
)


@pytest.mark.usefixtures("a_challenge")
@pytest.mark.parametrize(
    ("options", "key", "value"),
    [
        ("--deadline=31/12/2099", "error.bad_deadline", "31/12/2099"),
        ("--deadline=2099-02-30", "error.bad_deadline", "2099-02-30"),
        ("--deadline=2099-12-31T25:00", "error.bad_deadline", "2099-12-31T25:00"),
        ("--voting-deadline=tomorrow", "error.bad_deadline", "tomorrow"),
        ("--budget=0", "error.bad_number", "0"),
        ("--budget=-2", "error.bad_number", "-2"),
        ("--budget=two", "error.bad_number", "two"),
        ("--colour=red", "error.unknown_option", "--colour=red"),
        ("--eligibility=everyone", "error.bad_choice", "everyone"),
    ],
)
async def test_a_bad_option_gives_the_usage_and_changes_nothing(
    bot: Harness, options: str, key: str, value: str
) -> None:
    before = await bot.counts()

    reply = await bot.ask(MODERATOR, f"!challenge new {options} parks Parks", moderator=True)

    assert reply.splitlines() == [
        says("nl", key, value=value),
        *says("nl", "error.usage", usage=USAGE_NEW_NL).splitlines(),
    ]
    assert await bot.counts() == before


@pytest.mark.usefixtures("a_challenge")
async def test_an_option_without_its_value(bot: Harness) -> None:
    reply = await bot.ask(MODERATOR, "!challenge new parks Parks --deadline", moderator=True)

    assert reply.splitlines()[0] == says("nl", "error.missing_argument", name="JJJJ-MM-DD[Tuu:mm]")
    assert await bot.store.challenges.by_slug("parks") is None


# --- idea numbers ----------------------------------------------------------------------------


@pytest.mark.usefixtures("a_challenge")
@pytest.mark.parametrize(
    "raw",
    [
        "#abc",
        "abc",
        "#",
        "0",
        "#0",
        "-1",
        "1.5",
        "1e3",
        "##1",
        "١٢",  # Arabic-Indic digits are digits, but not idea numbers
        "１２",  # full-width digits
        str(MAX_NUMBER),
        "99999999999999999999",
        "9" * 400,
    ],
)
async def test_a_bad_idea_number_gives_the_usage(bot: Harness, raw: str) -> None:
    before = await bot.counts()

    reply = await bot.ask(ALICE, f"!vote {raw}")

    assert reply.splitlines() == [
        says("nl", "error.bad_idea", value=raw),
        says("nl", "error.usage", usage="!stem <idee-nummer>"),
    ]
    assert await bot.counts() == before


@pytest.mark.usefixtures("a_challenge")
@pytest.mark.parametrize("raw", ["1", "#1", "0001", str(LARGEST)])
async def test_good_idea_numbers(bot: Harness, raw: str) -> None:
    reply = await bot.ask(ALICE, f"!show {raw}")

    assert reply == says("nl", "error.no_such_idea", id=f"#{int(raw.lstrip('#'))}")


@given(st.integers(min_value=-(2**70), max_value=2**70) | st.integers(-5, 5))
@example(LARGEST)
@example(LARGEST + 1)
@example(MAX_NUMBER - 1)
def test_idea_numbers_are_positive_and_bounded(number: int) -> None:
    if 0 < number <= LARGEST:
        assert convert(Kind.IDEA, str(number)) == number
        assert convert(Kind.IDEA, f"#{number}") == number
    else:
        with pytest.raises(ValueError):
            convert(Kind.IDEA, str(number))


# --- missing and extra arguments -------------------------------------------------------------


@pytest.mark.usefixtures("a_challenge")
@pytest.mark.parametrize(
    ("language", "message", "missing", "usage"),
    [
        ("nl", "!idea mobility", "titel", "!idee <uitdaging> <titel>\n[beschrijving]"),
        ("en", "!idea mobility", "title", "!idea <challenge> <title>\n[description]"),
        ("nl", "!idea", "uitdaging", "!idee <uitdaging> <titel>\n[beschrijving]"),
        ("en", "!vote", "idea-number", "!vote <idea-number>"),
        ("en", "!join", "challenge", "!join <challenge>"),
        ("nl", "!lang", "taal", "!taal <nl|en>"),
    ],
)
async def test_a_missing_argument_gives_the_usage_in_the_users_language(
    bot: Harness, language: str, message: str, missing: str, usage: str
) -> None:
    await bot.say(ALICE, f"!lang {language}")
    before = await bot.counts()

    reply = await bot.ask(ALICE, message + "\nA description but no title")

    assert reply.splitlines() == [
        says(language, "error.missing_argument", name=missing),
        *says(language, "error.usage", usage=usage).splitlines(),
    ]
    assert await bot.counts() == before


@pytest.mark.usefixtures("a_challenge")
async def test_the_usage_in_a_challenge_room_leaves_the_challenge_out(bot: Harness) -> None:
    # With nothing at all after it, !idea starts the guided dialogue (tests/handlers/commands/test_dialogue.py).
    reply = await bot.ask(ALICE, "!idea\nA description but no title", room=ROOM, direct=False)

    assert reply.splitlines() == [
        says("nl", "error.missing_argument", name="titel"),
        "Gebruik: !idee <titel>",
        "[beschrijving]",
    ]


@pytest.mark.usefixtures("a_challenge")
async def test_moderators_get_the_usage_of_triage_commands(bot: Harness) -> None:
    await bot.say(ALICE, "!idea mobility Lanes")
    before = await bot.counts()

    reply = await bot.ask(MODERATOR, "!reject 1", moderator=True)

    assert reply.splitlines() == [
        says("nl", "error.missing_argument", name="reden"),
        says("nl", "error.usage", usage="!weiger <idee-nummer> <reden>"),
    ]
    assert await bot.counts() == before


@pytest.mark.usefixtures("a_challenge")
async def test_a_bad_choice_keeps_the_language(bot: Harness) -> None:
    reply = await bot.ask(ALICE, "!lang fr")

    assert reply.splitlines()[0] == says("nl", "error.bad_choice", value="fr")
    assert await bot.store.users.language(ALICE) is None


@pytest.mark.usefixtures("a_challenge")
async def test_too_many_arguments(bot: Harness) -> None:
    reply = await bot.ask(ALICE, "!vote 1 2 3")

    assert reply.splitlines() == [
        says("nl", "error.too_many_arguments", value="2 3"),
        says("nl", "error.usage", usage="!stem <idee-nummer>"),
    ]


def _dropped_by_category(text: str) -> str:
    """What clean() keeps, by its definition: no Cc (but newline and tab), no Cs, no bidi
    embeddings, overrides or isolates."""
    bidi = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    return "".join(
        ch
        for ch in text
        if ch in "\n\t" or (unicodedata.category(ch) not in ("Cc", "Cs") and ch not in bidi)
    )


@given(st.text())
@example("\x00a\x07b\tc\x7fd\x9fe\u202ef\u2069g\ud800h\x0bi\x0cj")
def test_clean_drops_exactly_the_controls_and_bidi_marks(text: str) -> None:
    expected = _dropped_by_category(
        unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    )
    assert clean(text) == expected
