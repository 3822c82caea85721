"""Size estimates of pin values (company.graphs.sizes)."""

from __future__ import annotations

import json
import time

from company.graphs.sizes import json_size, shallow_size


def test_json_size_is_close_to_the_real_json_size() -> None:
    values = [
        "text",
        "é" * 100,
        12345678901234567890,
        3.5,
        None,
        True,
        ["a", 1, {"k": [1, 2, 3]}],
        {"nested": {"deep": ["x" * 1000]}},
    ]
    for value in values:
        real = len(json.dumps(value, ensure_ascii=False).encode())
        assert real * 0.5 <= json_size(value, 10**9) <= real * 2 + 30, value


def test_json_size_stops_early_on_huge_or_cyclic_values() -> None:
    cyclic: list = []
    cyclic.append(cyclic)
    begin = time.monotonic()
    assert json_size(cyclic, 10_000) > 10_000
    assert json_size(["y" * 1_000_000] * 1_000_000, 1_000_000) > 1_000_000
    assert time.monotonic() - begin < 1


def test_max_steps_gives_up_on_big_containers() -> None:
    assert json_size(list(range(100)), 10**9, max_steps=1000) is not None
    assert json_size(list(range(100_000)), 10**9, max_steps=1000) is None


def test_shallow_size_counts_one_level() -> None:
    assert shallow_size("abc") == 3
    assert shallow_size(["x" * 1000] * 10) == 56 + 80
    assert shallow_size(2**80) == 10
