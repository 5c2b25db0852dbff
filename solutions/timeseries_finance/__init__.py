"""`timeseries-finance`: next-day (or H-day) volatility and return forecasts of a daily price
series, scored against naive, historical-mean, EWMA and GARCH forecasts on the same test days.

Assembled from its parts: options.py, source.py (prices -> windows), builder.py (forecasters,
interval), evaluation.py (scores, baselines, backtest), export.py (forecast.json), report.py,
predictor.py; beside them data.py (price tables and repairs), features.py, model.py, baselines.py,
scores.py and plots.py. Training, resuming, walk-forward folds and export checks are the shared layer.
"""

from __future__ import annotations

from solutions.common.solution import DatasetInfo, Solution, register
from solutions.timeseries_finance.builder import ForecasterBuilder
from solutions.timeseries_finance.data import ARCH_DATASETS
from solutions.timeseries_finance.evaluation import ForecastEvaluation
from solutions.timeseries_finance.export import ForecastExport
from solutions.timeseries_finance.options import MODEL_NAMES, FinanceOptions
from solutions.timeseries_finance.predictor import ForecastPredictor
from solutions.timeseries_finance.report import ForecastReport
from solutions.timeseries_finance.source import PriceSource


@register
class TimeseriesFinance(FinanceOptions, PriceSource, ForecasterBuilder, ForecastEvaluation, ForecastExport,
                        ForecastReport, ForecastPredictor, Solution):
    name = "timeseries-finance"
    summary = "next-day volatility or return of a daily price series, judged against naive/EWMA/GARCH"
    default_dataset = "sp500"
    datasets = tuple(DatasetInfo(k, f"{v}, daily OHLCV 1999-2018 (ships with the arch package)")
                     for k, v in ARCH_DATASETS.items())
    models = MODEL_NAMES
    default_model = "gru"  # best measured on sp500 volatility (README)
    layers_module = "solutions.timeseries_finance.model"
    headline_metric = "qlike"
    train_defaults = {"epochs": 60, "patience": 10, "batch_size": 64, "learning_rate": 1e-3,
                      "val_split": 0.1, "test_split": 0.2}
