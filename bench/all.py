"""Every benchmark, one after the other, each in its own process (what `make bench` runs).

    .venv/bin/python bench/all.py [--write]

Runs those of bench/runtime_bench.py, metering_bench.py, peers_bench.py, scale_bench.py and
noisy_bench.py that exist, in that order, with their default settings; `--write` is passed on, so
that each replaces its own section of BENCHMARKS.md (and peers_bench.py its plots). One that fails
does not stop the others; the exit status says whether any failed.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SCRIPTS = ["runtime_bench.py", "metering_bench.py", "peers_bench.py", "scale_bench.py", "noisy_bench.py"]


def run(command: list[str]) -> int:
    """Runs one bench; if this process is stopped meanwhile, stops it first (so that it stops the
    servers it started)."""
    process = subprocess.Popen(command, cwd=BENCH.parent)
    try:
        return process.wait()
    except BaseException:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        raise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="each bench updates BENCHMARKS.md")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    present = [name for name in SCRIPTS if (BENCH / name).exists()]
    absent = [name for name in SCRIPTS if name not in present]
    if absent:
        print(f"not present, skipped: {', '.join(absent)}", flush=True)
    failed: list[str] = []
    began = time.monotonic()
    for number, name in enumerate(present, 1):
        # scale_bench.py and noisy_bench.py draw their plots only when asked
        plots = ["--plots"] if args.write and name in ("scale_bench.py", "noisy_bench.py") else []
        command = [sys.executable, str(BENCH / name), *(["--write"] if args.write else []), *plots]
        print(f"\n=== [{number}/{len(present)}] bench/{name}{' --write' if args.write else ''}", flush=True)
        started = time.monotonic()
        code = run(command)
        took = time.monotonic() - started
        if code != 0:
            failed.append(name)
        print(
            f"=== bench/{name}: {'done' if code == 0 else f'FAILED (exit {code})'} in {took:.0f} s",
            flush=True,
        )
    total = time.monotonic() - began
    print(
        f"\n{len(present) - len(failed)} of {len(present)} benchmarks done in {total / 60:.1f} min",
        flush=True,
    )
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
