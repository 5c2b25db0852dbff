"""Real S&P 500 prices (from the `arch` package) written as the CSVs users bring, defects included."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def sp500(days: int | None = None, start: int = 0) -> pd.DataFrame:
    """Date, Open, High, Low, Close, Adj Close, Volume rows of the real index, oldest first."""
    import arch.data.sp500

    frame = arch.data.sp500.load().reset_index()
    frame["Date"] = frame["Date"].dt.strftime("%Y-%m-%d")
    return frame.iloc[start: start + days if days else None].reset_index(drop=True)


def write_defective_csv(path: Path, days: int = 900, seed: int = 0) -> dict[str, int]:
    """The acceptance CSV: rows shuffled, one date duplicated, one NaN close, a zero close and a zero open.
    Returns the defects put in, so a test can compare them with what the run reports."""
    frame = sp500(days)
    at = [days * k // 5 for k in (1, 2, 3, 4)]
    frame.loc[at[0], "Adj Close"] = np.nan
    frame.loc[at[1], "Adj Close"] = 0.0
    frame.loc[at[2], "Open"] = 0.0
    duplicate = frame.iloc[[at[3]]].copy()
    frame = pd.concat([frame, duplicate], ignore_index=True)
    frame = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    frame.columns = [c.upper() if i % 2 else c.lower() for i, c in enumerate(frame.columns)]  # any case
    frame.to_csv(path, index=False)
    return {"bad_close_rows_dropped": 2, "duplicate_dates_dropped": 1, "bad_open_high_low_rebuilt": 1}
