"""Metering's own cost: appending a usage entry (done before every response), and rolling entries up
into per-minute and per-month sums (done by the roll-up process).

    .venv/bin/python bench/metering_bench.py [--entries 20000] [--runs 5] [--write]

Uses a temporary data directory with an embedded (SQLite) registry. `--write` replaces the
metering section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from runtime_bench import write_section

from z0.metering import Entry, Measures, UsageLog, UsageRecord, UsageRollup
from z0.registry import Registry


def one_run(entries: int, tenants: int) -> tuple[float, float]:
    """µs per append, µs of CPU per entry rolled up."""
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        registry = Registry.open(f"sqlite:///{root}/z0.db")
        log = UsageLog(root / "usage")
        now = time.time()
        made = [
            Entry(
                "final",
                UsageRecord(
                    now + i / 1000, uuid.uuid4().hex, "z0-prod-tenants", f"s{i % tenants}", f"t{i % tenants}"
                ),
                Measures(200, "ok", 0.25, 0.75, i % 3),
            )
            for i in range(entries)
        ]
        start = time.perf_counter()
        for entry in made:
            log.append(entry)
        append_us = (time.perf_counter() - start) / entries * 1e6
        log.close()
        rollup = UsageRollup(registry.db, root / "usage")
        cpu = time.process_time()
        result = rollup.run_once()
        rollup_us = (time.process_time() - cpu) / entries * 1e6
        assert result.entries == entries, result
        registry.close()
        return append_us, rollup_us


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    runs = [one_run(args.entries, args.tenants) for _ in range(args.runs)]
    appends = [run[0] for run in runs]
    rollups = [run[1] for run in runs]

    def figure(values: list[float]) -> str:
        return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"

    report = "\n".join(
        [
            f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}: "
            f"`.venv/bin/python bench/metering_bench.py --entries {args.entries} --tenants {args.tenants} "
            f"--runs {args.runs} --write` (median of {args.runs}, min-max)",
            "",
            "| step | µs per entry |",
            "|---|---|",
            f"| append a usage entry to the local log (before each response) | {figure(appends)} |",
            f"| roll it up into minute and month sums (CPU, roll-up process) | {figure(rollups)} |",
        ]
    )
    print(report)
    if args.write:
        write_section("Metering", report)


if __name__ == "__main__":
    main()
