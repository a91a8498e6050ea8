"""The benchmark: every figure of the performance budget in one run, as one table.

    python bench/run.py            # a full run (a few minutes)
    python bench/run.py --quick    # under a minute: fewer calls and rounds
    python bench/run.py --json     # the figures as JSON (median, min, max per figure)

The emulator runs in its own process, started once. Each figure is a median over alternated
rounds (ours, then the baseline, in turn) with its min and max: this machine is shared and
noisy, so the baselines are measured in the same run, never taken from elsewhere.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import footprint
import memory
import official
import oneshot
import paths
import receives
import sends
import startup

from _harness import LINE, Figure, emulator_process, redis_process, report

LINES = tuple(f"+1555000{n:04d}" for n in range(1, 17))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short run (under a minute)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--only", nargs="*", default=None,
                        choices=["sends", "receives", "paths", "footprint", "memory",
                                 "official", "oneshot", "startup"],
                        help="run some sections only")
    args = parser.parse_args(argv)
    quick = args.quick
    wanted = set(args.only or ["sends", "receives", "paths", "footprint", "memory",
                               "official", "oneshot", "startup"])
    started = time.monotonic()
    sections: dict[str, list[Figure]] = {}
    with emulator_process(LINES) as env, redis_process() as redis_url:
        if "sends" in wanted:
            calls, rounds = (150, 3) if quick else (1000, 7)
            sections["sends"] = sends.measure(env, calls=calls, rounds=rounds)
            if redis_url is not None:
                sections["sends"] += sends.measure(env, calls=calls, rounds=rounds,
                                                   store=redis_url)
        if "receives" in wanted:
            # A project of one line: the client reads the same three streams as the raw
            # consumer it is compared with (the 16-line project would give it 48). Bursts
            # of 6,000 events: a 3,000-event round lasted under 0.4 s, short enough for the
            # machine's noise to swing the ratios by a third; more would outgrow the
            # emulator's 10,000-event log. Eleven rounds: a round's CPU per event swings
            # between two levels with the threads' placement, and seven left the median on
            # whichever level four rounds happened to hit.
            with emulator_process((LINE,)) as one_line:
                sections["receives"] = receives.measure(
                    one_line, events=300 if quick else 6000, rounds=2 if quick else 11,
                    paced_events=100 if quick else 1000, paced_rate=500.0,
                    redis_url=redis_url)
            if not quick:
                sections["receives"] += receives.instruction_figures()
        if "paths" in wanted:
            sections["paths"] = (paths.imports(3 if quick else 15) + paths.users(
                env, 3 if quick else 7) + paths.routing(
                (1_000, 10_000) if quick else (1_000, 100_000, 300_000)))
        if "oneshot" in wanted:
            sections["oneshot"] = oneshot.measure(env, 5 if quick else 15,
                                                  count_instructions=not quick)
        if "footprint" in wanted:
            sections["footprint"] = footprint.measure(env, (1, 4) if quick else (1, 4, 16))
        if "memory" in wanted:
            sections["memory"] = memory.measure(3_000 if quick else 100_000)
        if "official" in wanted:
            sections["official"] = official.measure(env, calls=50 if quick else 300,
                                                    rounds=2 if quick else 5)
            sections["official"] += official.measure_receive(  # bursts: as for "receives"
                events=300 if quick else 6000, rounds=2 if quick else 9,
                warm_up=300 if quick else 3000)
    if "startup" in wanted:  # its own emulator, in this process: it reads the recorded calls
        sections["startup"] = startup.measure(LINES, 2 if quick else 5)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    if args.json:
        out: dict[str, Any] = {"machine": machine, "quick": quick,
                               "seconds": round(time.monotonic() - started, 1)}
        out["figures"] = {f.name: f.as_dict() for figs in sections.values() for f in figs}
        print(json.dumps(out, indent=2))
        return 0
    print(f"spectrum_sync benchmark ({'quick' if quick else 'full'}) on {machine}")
    for name, figures in sections.items():
        if figures:
            report(name, [f.row() for f in figures])
    print(f"\n({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
