import numpy as np

from solutions.common.calibration import (
    expected_calibration_error, fit_temperature, screening_metrics, sensitivity_threshold, softmax,
    uncalibrated, youden_threshold,
)


def _overconfident(n=4000, temperature=3.0, seed=0):
    """Labels drawn from softmax(z); a model that reports softmax(T z) is overconfident by T."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, (n, 3))
    y = np.array([rng.choice(3, p=p) for p in softmax(z)])
    return z * temperature, y


def test_temperature_is_recovered_and_lowers_ece():
    logits, y = _overconfident()
    t = fit_temperature(logits, y)
    assert 2.6 < t < 3.4
    before = expected_calibration_error(softmax(logits), y)
    after = expected_calibration_error(softmax(logits / t), y)
    assert after < before / 2
    np.testing.assert_allclose(uncalibrated(softmax(logits / t), t), softmax(logits), atol=1e-6)


def test_thresholds():
    rng = np.random.default_rng(1)
    y = np.r_[np.zeros(500, int), np.ones(500, int)]
    score = np.r_[rng.uniform(0, 0.6, 500), rng.uniform(0.4, 1.0, 500)]
    assert 0.4 <= youden_threshold(y, score) <= 0.6
    t = sensitivity_threshold(y, score, 0.95)
    assert np.mean(score[y == 1] >= t) >= 0.95 and np.mean(score[y == 1] >= t + 1e-9) < 0.95 + 0.01


def test_screening_metrics_binary_and_multiclass():
    y = np.array([0, 0, 1, 1])
    probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.8, 0.2]])
    m = screening_metrics(y, probs, 0.5)
    assert (m["sensitivity"], m["specificity"], m["accuracy"], m["threshold"]) == (0.5, 0.5, 0.5, 0.5)
    assert m["auc"] == 0.75
    y3 = np.array([0, 1, 2, 2])
    p3 = np.eye(3)[[0, 1, 2, 1]] * 0.8 + 0.2 / 3
    m3 = screening_metrics(y3, p3, None)
    assert m3["threshold"] is None and m3["accuracy"] == 0.75
    assert abs(m3["sensitivity"] - (1 + 1 + 0.5) / 3) < 1e-9
