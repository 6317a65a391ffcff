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


def test_weak_scaling_pays_less_past_the_noise_scale_and_strong_scaling_hits_the_network():
    from convprop.bench.cost_model import strong_speedup, useful_speedup

    # At B = 64 P far below B_noise the examples needed hardly grow: useful ~ images/s gain.
    assert useful_speedup(8.0, 8, b_noise=1e9) == pytest.approx(8.0)
    # B_noise = 64: one rank needs 2 E_min examples, P ranks (1 + P) E_min.
    assert useful_speedup(8.0, 8, b_noise=64.0) == pytest.approx(8.0 * 2 / 9)
    # Strong scaling without communication divides the step by P; with it, saturates.
    assert strong_speedup(0.01, 4, 0.0, 1e9, 0.0) == pytest.approx(4.0)
    assert strong_speedup(0.01, 64, 1e6, 1e9, 0.0) < 1 / (2 * 63 / 64 * 1e-3) * 0.01
