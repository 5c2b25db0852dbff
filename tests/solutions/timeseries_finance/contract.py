"""timeseries-finance's fixtures for the contract test: S&P 500 prices that ship with `arch`."""

from pathlib import Path


def case(tmp_path: Path) -> dict:
    return {"options": dict(dataset="sp500", epochs=1, model="conv1d", lookback=10, width=8, seed=0),
            "inputs": [], "predict": {}}
