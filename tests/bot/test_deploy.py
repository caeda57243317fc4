"""The systemd unit in deploy/: valid for systemd itself, hardened, and running what we ship."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from bot.app import DRAIN_SECONDS, STOP_GRACE_SECONDS
from bot.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "challenge-bot.service"
INSTALLED_BINARY = "/opt/challenge-bot/.venv/bin/challenge-bot"


def unit_keys(text: str) -> dict[str, dict[str, list[str]]]:
    """Section -> key -> values, in order (systemd allows a key more than once)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    assert tool is not None, (
        "systemd-analyze is missing: scripts/setup installs Debian's systemd package "
        "(as root, with apt-get); install systemd to run this test"
    )
    # The same unit, with ExecStart at this checkout's binary: verify checks that it exists.
    binary = Path(sys.executable).parent / "challenge-bot"
    assert binary.is_file()
    text = UNIT.read_text(encoding="utf-8")
    assert INSTALLED_BINARY in text
    copy = tmp_path / "challenge-bot.service"
    copy.write_text(text.replace(INSTALLED_BINARY, str(binary)), encoding="utf-8")
    result = subprocess.run(
        [tool, "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False
    )
    # verify exits 0 on an unknown or misspelt key, with a warning: no output is the test.
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr
    assert result.stdout.strip() == "", result.stdout


def test_the_unit_is_hardened_and_restarts_on_failure() -> None:
    service = unit_keys(UNIT.read_text(encoding="utf-8"))["Service"]
    expected = {
        "User": "challenge-bot",
        "Group": "challenge-bot",
        "StateDirectory": "challenge-bot",
        "Restart": "on-failure",
        "RestartPreventExitStatus": "2",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "NoNewPrivileges": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectControlGroups": "yes",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "CapabilityBoundingSet": "",
        "UMask": "0077",
    }
    for key, value in expected.items():
        assert service.get(key) == [value], key
    assert "@system-service" in service["SystemCallFilter"]
    assert float(service["RestartSec"][0]) > 0
    assert service["EnvironmentFile"] == ["-/etc/challenge-bot/environment"]
    # Longer than the bot's own drain after SIGTERM, or systemd kills it while it sends.
    bot_stops_within = DRAIN_SECONDS + 2 * STOP_GRACE_SECONDS
    assert float(service["TimeoutStopSec"][0]) > bot_stops_within


def test_the_unit_runs_a_command_line_the_bot_accepts() -> None:
    (exec_start,) = unit_keys(UNIT.read_text(encoding="utf-8"))["Service"]["ExecStart"]
    binary, *arguments = shlex.split(exec_start)
    assert binary == INSTALLED_BINARY
    args = build_parser().parse_args(arguments)
    assert args.command == "run"
    assert args.log_format == "json"
    assert str(args.config) == "/etc/challenge-bot/config.toml"
