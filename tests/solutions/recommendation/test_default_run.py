"""Acceptance on MovieLens 100K's u1 split at default settings, rating and retrieval (about 1.5 and 4-7
minutes): `make test-slow`."""

import pytest

from tests.conftest import require_data, train_default_run


@pytest.mark.slow
def test_default_rating_model_reaches_0_903_on_u1(tmp_path):
    require_data("ml-100k/u1.base")
    metrics, wall = train_default_run(tmp_path / "run", "recommendation")
    assert wall <= 10 * 60
    assert metrics["sizes"]["test"] == 20_000  # the publisher's u1.test
    assert metrics["test"]["rmse"] <= 0.903  # seeds 0/1/2: 0.8996/0.8969/0.8997; Surprise's SVD++ 0.933
    sides = metrics["blend"]["sides"]
    assert len(sides) == 2 and sides[0] > sides[1] > 0  # the item and the user side both count
    assert metrics["baselines"]["user_item_bias"]["rmse"] == pytest.approx(0.960, abs=0.005)
    checks = metrics["checks"]
    assert checks["topk_agreement"] == 1.0 and checks["topk_users_checked"] == 459  # every test user
    assert metrics["export"]["float32"]["max_abs_diff"] <= 1e-4


@pytest.mark.slow
@pytest.mark.ci
def test_default_retrieval_model_beats_popularity_by_1_95x_on_u1(tmp_path):
    require_data("ml-100k/u1.base")
    metrics, wall = train_default_run(tmp_path / "run", "recommendation", "--task", "retrieval")
    assert wall <= 10 * 60
    assert metrics["sizes"]["test"] == 459  # every u1.test user
    recall, popular = metrics["test"]["recall_at_10"], metrics["baselines"]["popularity"]["recall_at_10"]
    assert metrics["test"]["recall_at_10"] > metrics["baselines"]["ease"]["recall_at_10"]  # its own first stage
    assert recall >= 1.95 * popular, (recall, popular)  # two_stage, seeds 0/1/2: 2.04x/2.06x/2.04x
    assert metrics["test"]["ndcg_at_10"] > metrics["baselines"]["popularity"]["ndcg_at_10"]
    checks = metrics["checks"]
    assert checks["topk_agreement"] == 1.0 and checks["topk_users_checked"] == 459
    assert not any(op.lower().startswith("flex") for op in checks["topk_ops"])
    assert metrics["export"]["float32"]["agreement"] == 1.0
