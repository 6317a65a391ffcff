"""The ring-allreduce cost model of docs/scaling.md, on cases with known answers."""

import pytest

from convprop.bench.cost_model import allreduce_seconds, speedup


def test_allreduce_time_is_two_passes_of_bytes_over_p_and_2_p_minus_1_latencies():
    assert allreduce_seconds(2, 1e6, 1e6, 0.0) == pytest.approx(1.0)  # 2 (1/2) 1e6 / 1e6
    assert allreduce_seconds(4, 0.0, 1e9, 1e-3) == pytest.approx(6e-3)  # 2 (P-1) latencies
    assert allreduce_seconds(64, 8e6, 1e9, 0.0) == pytest.approx(2 * 63 / 64 * 8e-3)


def test_speedup_is_p_without_communication_and_falls_with_it():
    assert speedup(0.01, 8, 0.0, 1e9, 0.0) == pytest.approx(8.0)
    assert speedup(0.01, 8, 1e6, 1e8, 0.0) < speedup(0.01, 8, 1e6, 1e9, 0.0) < 8.0
