"""Acceptance on MovieLens 100K's u1 split at default settings (about 1.5 minutes): `make test-slow`."""

import pytest

from tests.conftest import train_default_run


@pytest.mark.slow
def test_default_rating_model_reaches_0_91_on_u1(tmp_path):
    metrics, wall = train_default_run(tmp_path / "run", "recommendation")
    assert wall <= 10 * 60
    assert metrics["sizes"]["test"] == 20_000  # the publisher's u1.test
    assert metrics["test"]["rmse"] <= 0.91  # Surprise on u1: BaselineOnly 0.960, SVD 0.951, SVD++ 0.933
    assert metrics["baselines"]["user_item_bias"]["rmse"] == pytest.approx(0.960, abs=0.005)
    checks = metrics["checks"]
    assert checks["topk_agreement"] == 1.0 and checks["topk_users_checked"] == 459  # every test user
    assert metrics["export"]["float32"]["max_abs_diff"] <= 1e-4
