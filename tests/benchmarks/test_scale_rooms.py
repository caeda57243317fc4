"""The scale-rooms benchmark's helpers: reading Synapse's access log, its ``--sizes`` and
``--phases``, and the ratio of the bot to its own account's echo."""

from __future__ import annotations

import argparse

import pytest

from benchmarks.__main__ import parse_phases, parse_sizes
from benchmarks.common import Summary
from benchmarks.scale_rooms import (
    SizeFigures,
    _curve,
    first_sync_served,
    sync_cpu,
    through_echo,
)

# Lines as Synapse 1.163 writes them with the access logger at INFO (paths shortened).
LOG = """\
2026-12-02 11:23:11,960 synapse.access.http.59089 INFO 127.0.0.1 - 59089 - {@tester:localhost} \
Processed request: 0.020sec/0.000sec ru=(0.002sec, 0.001sec) db=(0.001sec/0.001sec/12) 5000B 200 \
"GET /_matrix/client/v3/sync?full_state=true HTTP/1.1" "nio" [0 dbevts]
2026-12-02 11:23:11,962 synapse.access.http.59089 INFO 127.0.0.1 - 59089 - {@scale-bot:localhost} \
Processed request: 0.001sec/0.000sec ru=(0.001sec, 0.000sec) db=(0.000sec/0.000sec/1) 80B 200 \
"GET /_matrix/client/v3/account/whoami HTTP/1.1" "nio" [0 dbevts]
2026-12-02 11:23:11,963 synapse.access.http.59089 INFO 127.0.0.1 - 59089 - {@scale-bot:localhost} \
Processed request: 0.010sec/0.000sec ru=(0.001sec, 0.000sec) db=(0.000sec/0.000sec/1) 70B 502 \
"GET /_matrix/client/v3/sync?since=s1&full_state=true HTTP/1.1" "nio" [0 dbevts]
2026-12-02 11:23:11,964 synapse.access.http.59089 INFO 127.0.0.1 - 59089 - {@scale-bot:localhost} \
Processed request: 4.908sec/0.000sec ru=(0.002sec, 0.001sec) db=(0.001sec/0.001sec/12) 4312869B 200 \
"GET /_matrix/client/v3/sync?since=s9&full_state=true&filter=%7B%7D HTTP/1.1" "nio" [0 dbevts]
2026-12-02 11:23:11,999 synapse.access.http.59089 INFO 127.0.0.1 - 59089 - {@scale-bot:localhost} \
Processed request: 0.004sec/0.000sec ru=(0.001sec, 0.000sec) db=(0.001sec/0.001sec/2) 190B 200 \
"GET /_matrix/client/v3/sync?since=s10&full_state=false&timeout=30000 HTTP/1.1" "nio" [0 dbevts]
"""


def test_the_first_successful_sync_of_that_account_is_found() -> None:
    served = first_sync_served(LOG, "@scale-bot:localhost")
    assert served is not None
    assert served.seconds == 4.908
    assert served.size == 4_312_869
    assert "since=s9&full_state=true" in served.path


def test_another_accounts_sync_is_not_taken() -> None:
    assert first_sync_served(LOG, "@someone:localhost") is None
    tester = first_sync_served(LOG, "@tester:localhost")
    assert tester is not None and tester.size == 5000


def test_the_cpu_of_each_incremental_sync_is_read_by_account() -> None:
    """Only syncs from a position that answered 200: not the first one, not the 502."""
    assert sync_cpu(LOG) == {"@scale-bot:localhost": [0.003, 0.001]}


def test_sizes_are_read_as_a_list_of_room_counts() -> None:
    assert parse_sizes("200,1_000, 2000") == (200, 1000, 2000)
    for wrong in ("", "200,lots", "5"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_sizes(wrong)


def test_phases_are_read_and_checked() -> None:
    assert parse_phases("votes, floor") == ("votes", "floor")
    for wrong in ("", "votes,naps"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_phases(wrong)


def test_the_bot_is_set_beside_its_own_accounts_echo_through_the_echo_bot() -> None:
    """Each was asked in turn with the echo bot in two rooms, minutes apart: a homeserver
    twice as slow in the second phase counts for neither."""
    figures = SizeFigures(size=2000, rooms=2000, load="", setup=0)
    figures.votes = {
        "!vote, direct chat": Summary.of([0.12]),
        "echo, direct chat": Summary.of([0.1]),
    }
    figures.floor = {"direct chat": Summary.of([0.22])}
    figures.floor_echo = {"direct chat": Summary.of([0.2])}
    ratio = through_echo(figures, "!vote, direct chat", "echo, direct chat", "direct chat")
    assert ratio == pytest.approx(1.2 / 1.1)


def test_the_curve_sets_each_floor_beside_the_echo_bot_asked_in_turn_with_it() -> None:
    figures = SizeFigures(size=5000, rooms=5000, load="", setup=0)
    figures.floor = {"challenge room": Summary.of([0.13]), "direct chat": Summary.of([0.12])}
    figures.floor_echo = {"challenge room": Summary.of([0.1]), "direct chat": Summary.of([0.1])}
    figures.appservice = {"challenge room": Summary.of([0.099]), "direct chat": Summary.of([0.1])}
    figures.appservice_echo = {
        "challenge room": Summary.of([0.1]),
        "direct chat": Summary.of([0.08]),
    }
    lines = _curve([figures]).splitlines()

    def cell(start: str) -> str:
        [line] = [line for line in lines if line.startswith(f"| {start}")]
        return line.split("|")[2].strip()

    assert cell("echo as the bot's account (N rooms) / echo bot (two rooms), in turn, chall") == (
        "130.0 / 100.0 ms = 1.30"
    )
    service = "echo as an application service for the bot's account (no /sync) / echo bot"
    assert cell(f"{service}, in turn, challenge room") == "99.0 / 100.0 ms = 0.99"
    assert cell(f"{service}, in turn, direct chat") == "100.0 / 80.0 ms = 1.25"
    assert cell("!vote p50, direct chat / echo bot") == ""  # not measured in this run
