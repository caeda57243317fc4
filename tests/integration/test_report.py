"""The public report of a database the bot filled against the real Synapse: written by the
real command, its figures checked, then opened in a headless Chromium (Debian's package, which
scripts/setup installs), whose screenshots are kept in test-artifacts/report/."""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from pathlib import Path

import pytest
from PIL import Image

from devtools.homeserver import Homeserver
from handlers.export import export_data
from storage import Database, Store
from tests.matrix_support import Person, start_moderated_bot, write_config
from tests.report_support import MATRIX_ID, read_page

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).parents[2] / "test-artifacts" / "report"
HOSTILE = "<script>alert('x')</script> Rookvrije schoolpoort"


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail(
            "no chromium found: run scripts/setup (it installs Debian's chromium package as root)"
        )
    return found


async def browse(url: str, profile: Path, *arguments: str) -> bytes:
    """Run headless Chromium on a page, offline in all but name: no first-run, no updates, no
    background requests. Returns its standard output."""
    process = await asyncio.create_subprocess_exec(
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        *arguments,
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=90)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError("chromium did not finish within 90 s") from None
    assert process.returncode == 0, err.decode(errors="replace")[-2000:]
    return out


def assert_real_screenshot(path: Path) -> None:
    """A PNG of the window's size with a page on it: many colours, not one blank sheet."""
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    with Image.open(path) as image:
        assert image.size == (1280, 1600)
        pixels = image.convert("RGB")
        colours = pixels.getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) > 50, "the screenshot is (nearly) blank"
        white = max(count for count, colour in colours if colour == (255, 255, 255))
        assert white < 0.97 * image.size[0] * image.size[1], "the screenshot is (nearly) blank"


async def test_the_report_of_a_real_run_opens_in_a_browser(
    homeserver: Homeserver, tmp_path: Path
) -> None:
    chromium()  # fail at once, before the slow part, where there is none
    world = await start_moderated_bot(homeserver, tmp_path)
    moderator, bot_user = world.moderator, world.bot.user_id
    alice = await Person.create(homeserver, "alice")
    bob = await Person.create(homeserver, "bob")
    try:
        slug, _room = await world.open_challenge("report-", "Gezonde schoolomgeving")
        alice_dm = await alice.direct_chat_with(bot_user)
        bob_dm = await bob.direct_chat_with(bot_user)
        numbers = []
        for title in ("Meer groen op de speelplaats", "Verborgen voorstel", HOSTILE):
            reply = await alice.ask(alice_dm, f"!idea {slug} {title}")
            found = re.search(r"#(\d+)", reply.content["body"])
            assert found, reply.content["body"]
            numbers.append(int(found.group(1)))
        green, hidden, hostile = numbers
        for idea in (green, hidden, hostile):
            await bob.ask(bob_dm, f"!vote {idea}")
        await alice.ask(alice_dm, f"!vote {green}")
        await moderator.ask(world.moderation_room, f"!accept {green}")
        await moderator.ask(world.moderation_room, f"!hide {hidden}")
    finally:
        await world.close()
        await alice.close()
        await bob.close()

    config = write_config(world.bot.config, tmp_path / "config.toml")
    output = tmp_path / "site"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "report",
        "--config",
        str(config),
        "--output",
        str(output),
        "--language",
        "nl",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert "1 challenge," in out.decode()

    db = Database(world.bot.config.storage.path)
    await db.open(read_only=True)
    try:
        async with db.snapshot():
            (exported,) = (await export_data(Store(db)))["challenges"]
    finally:
        await db.close()
    assert [idea["id"] for idea in exported["ideas"]] == [green, hostile]
    page = read_page(output / "challenges" / f"{slug}.html")
    assert page.lang == "nl"
    rows = {row[0]: int(row[3]) for row in page.table("De ideeën").body}
    assert rows == {f"#{idea['id']}": idea["votes"] for idea in exported["ideas"]}
    assert rows == {f"#{green}": 2, f"#{hostile}": 1}
    assert "Verborgen voorstel" not in page.text and HOSTILE in page.text
    for path in output.rglob("*.html"):
        assert MATRIX_ID.search(path.read_text(encoding="utf-8")) is None, path

    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    shutil.copytree(output, ARTIFACTS / "site")
    for name, target in (("index", output / "index.html"), ("challenge", page_path(output, slug))):
        shot = ARTIFACTS / f"{name}.png"
        await browse(
            target.as_uri(),
            tmp_path / f"profile-{name}",
            "--window-size=1280,1600",
            "--hide-scrollbars",
            f"--screenshot={shot}",
        )
        assert_real_screenshot(shot)
    dom = await browse(page_path(output, slug).as_uri(), tmp_path / "profile-dom", "--dump-dom")
    rendered = dom.decode()
    assert '<html lang="nl">' in rendered
    assert "<h1>Gezonde schoolomgeving</h1>" in rendered
    assert "Meer groen op de speelplaats" in rendered and "<script>" not in rendered
    assert rendered.count("<img ") == 2 and rendered.count("<table>") == 3


def page_path(output: Path, slug: str) -> Path:
    return output / "challenges" / f"{slug}.html"
