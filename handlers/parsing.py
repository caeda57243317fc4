"""From message text to a command name and its arguments.

Quote-aware: ``"..."`` and the curly quotes phone keyboards insert group words. The first line
holds the command and its arguments; the lines after it are the command's body (a description,
for instance), kept as they were written.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_QUOTES = {"“": '"', "”": '"', "„": '"', "‟": '"', "«": '"', "»": '"', "＂": '"'}
_QUOTE_TABLE = str.maketrans(_QUOTES)


@dataclass(frozen=True)
class Token:
    value: str
    start: int  # index in the line where the token (with any quote) begins
    end: int  # index just past the token (and its closing quote)


@dataclass(frozen=True)
class CommandText:
    name: str
    line: str  # the first line after the command name
    body: str  # the lines after the first, stripped of leading/trailing blank lines

    def tokens(self) -> list[Token]:
        return tokenize(self.line)


#: What :func:`clean` drops: control characters (Unicode category Cc, U+0000–U+001F and
#: U+007F–U+009F) but newlines and tabs, lone surrogates (Cs, U+D800–U+DFFF), and the
#: bidirectional embeddings, overrides and isolates: right-to-left text needs none of them, and
#: they can make a title display as something else than it says.
_DROPPED = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> str:
    """Drop control characters (but newlines and tabs) and bidi overrides; normalise to NFC."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    return _DROPPED.sub("", text)


def split_command(text: str, prefix: str, *, prefix_optional: bool) -> CommandText | None:
    """The command in a message, or None when the message is not addressed to the bot."""
    text = clean(text).strip()
    if not text:
        return None
    first, _, rest = text.partition("\n")
    first = first.strip()
    if first.startswith(prefix):
        first = first[len(prefix) :].lstrip()
    elif not prefix_optional:
        return None
    name, _, line = re.sub(r"\s", " ", first, count=1).partition(" ")
    name = name.strip().lower()
    if not name or not re.fullmatch(r"[\w-]{1,32}", name):
        return None
    return CommandText(name=name, line=line.strip(), body=rest.strip("\n").strip())


def tokenize(line: str) -> list[Token]:
    """Split on white space; a double-quoted run is one token. An unclosed quote runs to the end."""
    line = line.translate(_QUOTE_TABLE)
    tokens: list[Token] = []
    index = 0
    length = len(line)
    while index < length:
        if line[index].isspace():
            index += 1
            continue
        start = index
        if line[index] == '"':
            end = line.find('"', index + 1)
            if end == -1:
                end = length
            tokens.append(Token(line[index + 1 : end], start, min(end + 1, length)))
            index = end + 1
        else:
            while index < length and not line[index].isspace():
                index += 1
            tokens.append(Token(line[start:index], start, index))
    return tokens


def rest_of_line(line: str, token: Token) -> str:
    """The text from ``token`` to the end of the line; one fully quoted token loses its quotes.

    Quotes inside the text stay as the person typed them (``«vélo»`` is not ``"vélo"``).
    """
    tail = line[token.start :].strip()
    plain = tail.translate(_QUOTE_TABLE)  # one character for one: the positions still match
    if len(plain) >= 2 and plain[0] == '"' and plain[-1] == '"' and '"' not in plain[1:-1]:
        return tail[1:-1].strip()
    return tail
