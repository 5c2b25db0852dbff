"""From a user's (defective) price CSV to a run, forecasts, the backtest and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from solutions.common.errors import UserError
from solutions.common.solution import get_solution
from solutions.common.workflow import evaluate, train
from tests.conftest import run_cli
from tests.solutions.timeseries_finance.prices import sp500, write_defective_csv

OPTIONS = dict(epochs=2, batch_size=64, learning_rate=1e-3, patience=5, seed=0, val_split=0.1, test_split=0.2,
               data_dir=None, quantize="none", no_export=False, dataset=None, model="gru", target="volatility",
               horizon=1, lookback=10, quantiles=False, width=8, depth=1, dropout=0.1, walk_forward=None,
               cost_bps=5.0)
BASELINES = {"naive", "historical_mean", "ewma", "garch11"}


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("prices") / "prices.csv"
    write_defective_csv(path, days=900)
    return path


@pytest.fixture(scope="module")
def cli_run(csv_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "vol"
    result = run_cli("train", "timeseries-finance", "--data", str(csv_file), "--epochs", "2", "--lookback", "10",
                     "--width", "8", "--quantize", "dynamic", "--output", str(out))
    assert result.returncode == 0, result.stderr
    return out, result.stdout


def test_defective_csv_trains_and_reports_its_repairs(cli_run):
    out, stdout = cli_run
    for line in ("Data repair: 2 bad close rows dropped", "Data repair: 1 duplicate dates dropped",
                 "Data repair: 1 bad open high low rebuilt", "rows out of order"):
        assert line in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert BASELINES | {"gjr_garch11"} == set(metrics["baselines"])
    assert set(metrics["test"]) == {"qlike", "mse", "mae"}
    f32 = metrics["export"]["float32"]
    assert f32["input_shape"][0] == 1  # the GRU's TFLite signature has batch 1 (builtin ops only)
    assert f32["max_abs_diff"] <= 1e-4 and f32["agreement"] == 1.0
    config = json.loads((out / "config.json").read_text())
    assert config["source"]["repairs"]["duplicate_dates_dropped"] == 1
    report = (out / "report.md").read_text()
    assert "Data repairs: " in report and "2 bad close rows dropped" in report
    assert "The model's test qlike" in report or "It does not beat" in report
    # the report is written while the run is `<run>.partial`: its serving commands name the final path
    assert ".partial" not in report and f"--model_base_path={out.resolve()}/serving" in report
    for name in ("forecast_vs_realized.png", "qlike_vs_baselines.png", "forecast.json", "model.tflite"):
        assert (out / name).exists(), name
    forecast = json.loads((out / "forecast.json").read_text())
    assert set(forecast["feature_formulas"]) == set(forecast["features"]) and "1e-4" in \
        forecast["feature_formulas"]["log_parkinson_variance"]  # a client can build the window itself


def test_serving_refuses_a_window_with_nan(cli_run):
    """A window with ln(0) in it answered NaN with 200 OK (TF Serving's model: serving/)."""
    from solutions.common.export import tf

    out, _ = cli_run
    loaded = tf.saved_model.load(str(out / "serving" / "timeseries_finance" / "1"))
    window = np.zeros((1, 10, len(json.loads((out / "forecast.json").read_text())["features"])), np.float32)
    for name in ("serving_default", "forecast"):
        signature = loaded.signatures[name]
        key = next(iter(signature.structured_input_signature[1]))
        assert np.isfinite(list(signature(**{key: tf.constant(window)}).values())[0].numpy()).all()
        window[0, 3, 1] = np.nan
        with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or infinite"):
            signature(**{key: tf.constant(window)})
        window[0, 3, 1] = 0.0


def test_predict_gives_the_next_forecast_with_its_interval(cli_run, csv_file, tmp_path):
    out, _ = cli_run
    recent = tmp_path / "recent.csv"
    frame = sp500(40, start=2000)
    frame.to_csv(recent, index=False)
    for extra in ([], ["--tflite"]):
        result = run_cli("predict", str(out), "--data", str(recent), *extra)
        assert result.returncode == 0, result.stderr
        assert f"Forecast made at the close of {frame['Date'].iloc[-1]}" in result.stdout  # the CSV's last day
        assert "80% interval for the log return" in result.stdout
    short = tmp_path / "short.csv"
    sp500(5).to_csv(short, index=False)
    result = run_cli("predict", str(out), "--data", str(short))
    assert result.returncode == 2 and "need at least 11 price rows" in result.stderr


def test_csv_without_close_is_one_clear_error(tmp_path):
    path = tmp_path / "no_close.csv"
    sp500(50)[["Date", "Open", "High", "Low", "Volume"]].to_csv(path, index=False)
    out = tmp_path / "run"
    result = run_cli("train", "timeseries-finance", "--data", str(path), "--output", str(out))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "has no close column" in lines[0]
    assert not out.exists() and not out.with_name("run.partial").exists()


def test_return_target_scores_backtest_and_quantiles(csv_file, tmp_path):
    run = train(get_solution("timeseries-finance"), {**OPTIONS, "target": "return", "quantiles": True,
                                                      "data": str(csv_file), "output": str(tmp_path / "ret")})
    metrics = run.read_json("metrics.json")
    wanted = {"rmse", "mae", "directional_accuracy", "r2_oos"}
    assert wanted <= set(metrics["test"]) and {"coverage_q10_q90", "below_q10", "below_q90"} <= set(metrics["test"])
    for name in BASELINES:
        assert wanted <= set(metrics["baselines"][name]), name
    assert metrics["baselines"]["historical_mean"]["r2_oos"] == pytest.approx(0.0, abs=1e-12)
    backtest = metrics["backtest"]
    for name in ("model", "buy_and_hold", *BASELINES):
        assert {"annual_return", "sharpe", "max_drawdown"} <= set(backtest[name]), name
    assert backtest["cost_bps"] == 5.0 and backtest["buy_and_hold"]["exposure"] == 1.0
    report = (run / "report.md").read_text()
    assert "Out-of-sample R^2 against the training mean" in report and "buy-and-hold on Sharpe" in report
    assert (run / "equity_curves.png").exists()
    result = evaluate(str(run.path), {})
    assert result["test"]["rmse"] == pytest.approx(metrics["test"]["rmse"], rel=1e-5)
    # other prices (here: the same series with its first day cut) score their latest days, never
    # the whole series, whose early days the run trained on
    other = tmp_path / "other.csv"
    head, _, rest = csv_file.read_text().partition("\n")
    other.write_text(head + "\n" + rest.split("\n", 1)[1])
    again = evaluate(str(run.path), {"data": str(other)})
    assert again["split"] == "test" and again["size"] <= result["size"] + 1
    with pytest.raises(UserError, match="latest days"):
        evaluate(str(run.path), {"data": str(other)}, "all")


def test_walk_forward_refits_on_expanding_windows(csv_file, tmp_path):
    run = train(get_solution("timeseries-finance"), {**OPTIONS, "walk_forward": 2, "epochs": 1, "no_export": True,
                                                      "data": str(csv_file), "output": str(tmp_path / "wf")})
    cv = run.read_json("metrics.json")["cross_validation"]
    assert cv["scheme"] == "walk-forward" and cv["folds"] == 2 and len(cv["per_fold"]) == 2
    assert "garch11" in cv["baselines_mean"] and "qlike" in cv["baselines_mean"]["garch11"]
    fold2 = cv["per_fold"][1]
    assert np.isfinite(fold2["qlike"]) and "garch11" in fold2["baselines"]
    config = run.read_json("config.json")
    assert config["source"]["test_days"]["last_forecast_for"] == config["source"]["last_day"]  # fold 1: last block
