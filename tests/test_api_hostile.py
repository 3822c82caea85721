"""`serve` under four hostile uploads and a runaway graph: memory stays bounded, health keeps
answering, every attack is refused, and the runaway graph fails at its deadline."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.hostile import run_hostile

MEMORY_BOUND = 500 * 2**20


@pytest.mark.slow
@pytest.mark.subprocess
def test_hostile_uploads_and_a_runaway_graph_stay_bounded(tmp_path: Path) -> None:
    result = run_hostile(tmp_path)
    assert result.peak_rss_bytes < MEMORY_BOUND, f"peak RSS {result.peak_rss_bytes / 2**20:.0f} MB"
    assert result.health_failures == 0 and len(result.health_latencies_s) >= 10
    answers = {o.name: o.status for o in result.outcomes}
    assert answers["1 Hz WAV"] == 400  # unsupported sample rate
    assert answers["100,000 parts"] == 413
    assert answers["stalled upload"] == 408
    assert answers["60 MB chunked"] in (413, "WriteError", "RemoteProtocolError", "ReadError")
    assert result.runaway_status == "done"  # the task ends; its graph step failed at the deadline
    assert "timed out" in result.runaway_error and "\"outputs\": {}" in result.runaway_error
