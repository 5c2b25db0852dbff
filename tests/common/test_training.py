"""The kit's learning-rate schedule and optimizer (`common/training.py`)."""

import pytest

from solutions.common import training


def test_schedule_warms_up_from_a_tenth_peaks_at_the_rate_and_decays_to_a_hundredth():
    schedule = training.warmup_cosine(0.01, steps=200)  # 10 warm-up steps (5%)
    rates = [float(schedule(step)) for step in range(0, 201)]
    assert rates[0] == pytest.approx(0.001)
    assert rates[10] == pytest.approx(0.01) and max(rates) == pytest.approx(0.01)
    assert all(a <= b + 1e-12 for a, b in zip(rates[:10], rates[1:11]))  # rising during warm-up
    assert all(a >= b - 1e-12 for a, b in zip(rates[10:], rates[11:]))  # then falling
    assert rates[-1] == pytest.approx(0.0001)  # alpha 0.01 of the peak


def test_make_optimizer_is_adamw_on_that_schedule_with_the_kits_decay():
    optimizer = training.make_optimizer(0.003, steps=100)
    assert type(optimizer).__name__ == "AdamW" and optimizer.weight_decay == training.WEIGHT_DECAY
    assert float(optimizer._learning_rate(5)) == pytest.approx(0.003)
    assert training.make_optimizer(0.003, steps=100, weight_decay=0.05).weight_decay == 0.05
