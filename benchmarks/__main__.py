"""``python -m benchmarks [engine|upkeep|latency|burst|scale|sync|busy|scale-rooms ...]``.

Without names, the first seven run, in that order, against one Synapse started on 127.0.0.1 for the
run (and stopped after it). The engine and the upkeep come first: they need no homeserver, and
run before one is started, so that nothing else takes the machine's cores from them. Everything lives in a temporary directory, removed afterwards
unless ``--keep`` is given. ``scale-rooms`` (issue #24: the bot in thousands of rooms, with a
Synapse of its own) runs only when named: ``python -m benchmarks scale-rooms --sizes 200,2000``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from benchmarks.common import Run, Target, show, table

Benchmark = Callable[[Run, argparse.Namespace], Awaitable[list[Target]]]


async def _latency(run: Run, args: argparse.Namespace) -> list[Target]:
    from benchmarks.latency import run_latency

    return await run_latency(run)


async def _burst(run: Run, args: argparse.Namespace) -> list[Target]:
    from benchmarks.burst import run_burst

    return await run_burst(run)


async def _engine(run: Run, args: argparse.Namespace) -> list[Target]:
    from benchmarks.engine import run_engine

    return await run_engine(run, profile=args.profile)


async def _upkeep(run: Run, args: argparse.Namespace) -> list[Target]:
    from benchmarks.database_growth import run_upkeep

    return await run_upkeep(run)


async def _scale(run: Run, args: argparse.Namespace) -> list[Target]:
    from benchmarks.scale import run_scale

    return await run_scale(run)


async def _busy(run: Run, args: argparse.Namespace) -> list[Target]:
    from benchmarks.busy_room import run_busy_room

    return await run_busy_room(run)


async def _sync(run: Run, args: argparse.Namespace) -> list[Target]:
    from benchmarks.sync_cost import run_sync_cost

    return await run_sync_cost(run)


async def _scale_rooms(run: Run, args: argparse.Namespace) -> list[Target]:
    from benchmarks.scale_rooms import run_scale_rooms

    return await run_scale_rooms(run, args.sizes, args.bot_code, args.phases)


BENCHMARKS: dict[str, Benchmark] = {
    "engine": _engine,
    "upkeep": _upkeep,
    "latency": _latency,
    "burst": _burst,
    "scale": _scale,
    "sync": _sync,
    "busy": _busy,
    "scale-rooms": _scale_rooms,
}
#: Run only when named: they take long (issue #24's city-scale rooms).
ON_REQUEST = ("scale-rooms",)


def parse_phases(text: str) -> tuple[str, ...]:
    from benchmarks.scale_rooms import PHASES

    phases = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [name for name in phases if name not in PHASES]
    if unknown or not phases:
        raise argparse.ArgumentTypeError(f"phases are some of {', '.join(PHASES)}")
    return phases


def parse_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part.replace("_", "")) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not sizes or min(sizes) < 20:
        raise argparse.ArgumentTypeError("sizes are numbers of rooms, 20 or more")
    return sizes


def _machine() -> str:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = " (" + line.split(":", 1)[1].strip() + ")"
                break
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs{model}, "
        f"Python {platform.python_version()}, load average {load} at the start"
    )


async def main_async(args: argparse.Namespace, work_dir: Path) -> list[Target]:
    run = Run(work_dir)
    try:
        for name in args.names or [name for name in BENCHMARKS if name not in ON_REQUEST]:
            began = time.monotonic()
            show(f"\n## {name}\n")
            run.targets += await BENCHMARKS[name](run, args)
            show(f"\n({name} took {time.monotonic() - began:.0f}s)")
    finally:
        run.close()
    return run.targets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"benchmarks to run, of: {', '.join(BENCHMARKS)} (default: all)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="engine: print a pyinstrument profile of the bot path",
    )
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=(200, 500),
        help="scale-rooms: the numbers of rooms to measure at, e.g. 200,1000,2000 "
        "(default: 200,500, about 10 minutes)",
    )
    parser.add_argument(
        "--bot-code",
        type=Path,
        help="scale-rooms: run the bot from this checkout (its PYTHONPATH), e.g. another "
        "branch's worktree, to compare before and after in the same hour",
    )
    parser.add_argument(
        "--phases",
        type=parse_phases,
        default=None,
        help="scale-rooms: only these of restarts,votes,idle,floor,appservice,invites,sigterm "
        "(default: all), e.g. votes,floor for the latency figures alone",
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    work_dir = Path(tempfile.mkdtemp(prefix="challenge-bot-bench-"))
    show(f"# challenge-bot benchmarks\n\n{_machine()}; working directory {work_dir}")
    began = time.monotonic()
    try:
        targets = asyncio.run(main_async(args, work_dir))
    finally:
        if args.keep:
            show(f"(kept {work_dir})")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    rows = [[t.benchmark, t.what, t.measured, t.limit, t.verdict] for t in targets]
    show(table("Targets", ["benchmark", "target", "measured", "limit", "verdict"], rows))
    show(f"\n(all done in {time.monotonic() - began:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
