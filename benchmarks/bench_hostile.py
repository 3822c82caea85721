"""Hostile load on `startup.py serve`: four hostile uploads and a runaway regex graph at once.

Prints the health probe latencies, the server's peak memory and what each attack got. Nothing
asserts on time here (tests/test_api_hostile.py checks the memory bound and the outcomes).

    python benchmarks/bench_hostile.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.hostile import HostileResult, run_hostile  # noqa: E402


def main() -> None:
    """Run twice (clients sharing every CPU with the server; server pinned apart) and print."""
    for pin in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            result = run_hostile(Path(tmp), pin=pin)
        report(result, "server on CPU 0, attackers on the others" if pin
               else "server and attackers share every CPU")


def report(result: HostileResult, placement: str) -> None:
    """Print one run's tables."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nhostile load on startup.py serve: {placement} (load average {load}, "
          f"{os.cpu_count()} CPUs)\n")
    health = result.health_summary()
    print("| /v1/health probes | p50 ms | p99 ms | max ms | failed | server peak RSS MB |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(f"| {health['probes']:.0f} | {health['p50_ms']:.1f} | {health['p99_ms']:.1f} | "
          f"{health['max_ms']:.1f} | {result.health_failures} | "
          f"{result.peak_rss_bytes / 2**20:.0f} |\n")
    print("| attack | answer | seconds |")
    print("|---|---|---:|")
    for outcome in result.outcomes:
        print(f"| {outcome.name} | {outcome.status} | {outcome.seconds:.2f} |")
    print(f"| runaway regex graph (block_cpu_timeout_s 3) | task {result.runaway_status} | "
          f"{result.runaway_seconds:.2f} |")


if __name__ == "__main__":
    main()
