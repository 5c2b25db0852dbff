"""Acceptance on sp500 at default settings (under a minute each on 2 cores): `make test-slow`."""

import pytest

from tests.conftest import train_default_run


@pytest.mark.slow
@pytest.mark.ci
def test_default_volatility_forecast_beats_garch_on_the_last_20_percent(tmp_path):
    metrics, wall = train_default_run(tmp_path / "run", "timeseries-finance")
    test, garch = metrics["test"], metrics["baselines"]["garch11"]
    print(f"qlike model {test['qlike']:.4f}, garch11 {garch['qlike']:.4f}")

    assert wall <= 10 * 60
    assert metrics["sizes"]["test"] >= 950  # the last 20% of 5030 days, less one window
    assert test["qlike"] < garch["qlike"]  # the acceptance bar (GARCH(1,1) 0.404 on these days)
    assert test["qlike"] < metrics["baselines"]["gjr_garch11"]["qlike"]  # 0.366; seeds 0/1/2: 0.293/0.338/0.321
    assert test["qlike"] < metrics["baselines"]["ewma"]["qlike"]
    f32 = metrics["export"]["float32"]
    assert f32["input_shape"][0] == 1 and f32["max_abs_diff"] <= 1e-4 and f32["agreement"] == 1.0
    assert 0.7 <= metrics["interval"]["coverage"] <= 0.9  # the 80% interval, calibrated on validation only


@pytest.mark.slow
@pytest.mark.ci
def test_default_return_forecast_reports_every_comparison(tmp_path):
    metrics, _ = train_default_run(tmp_path / "run", "timeseries-finance", "--target", "return", "--quantiles")
    for name in ("naive", "historical_mean", "ewma", "garch11"):
        assert {"rmse", "mae", "directional_accuracy", "r2_oos"} <= set(metrics["baselines"][name])
    assert {"model", "buy_and_hold"} <= set(metrics["backtest"])
    assert 0.7 <= metrics["test"]["coverage_q10_q90"] <= 0.9
    assert metrics["export"]["float32"]["max_abs_diff"] <= 1e-4


@pytest.mark.slow
@pytest.mark.ci
def test_default_volatility_forecast_beats_gjr_garch_on_nasdaq(tmp_path):
    metrics, _ = train_default_run(tmp_path / "run", "timeseries-finance", "--dataset", "nasdaq")
    test, gjr = metrics["test"]["qlike"], metrics["baselines"]["gjr_garch11"]["qlike"]
    print(f"qlike model {test:.4f}, gjr_garch11 {gjr:.4f}")
    assert test < gjr  # 0.815; seeds 0/1/2: 0.750/0.744/0.735


@pytest.mark.slow
def test_default_walk_forward_beats_garch_in_every_block(tmp_path):
    metrics, _ = train_default_run(tmp_path / "run", "timeseries-finance", "--walk-forward", "4")
    blocks = metrics["cross_validation"]["per_fold"]
    rows = [(b["qlike"], b["baselines"]["garch11"]["qlike"]) for b in blocks]
    print("qlike per block (model, garch11):", rows)
    assert len(rows) == 4 and all(model < garch for model, garch in rows)
