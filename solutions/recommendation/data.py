"""Ratings: MovieLens in the publisher's layouts and a user's CSV, with every repair counted.

MovieLens files are read from the data directory (`ml-100k/`, `ml-1m/`, `ml-latest-small/`) and,
when missing, the publisher's zip is downloaded there once, checksum checked, and extracted.
A CSV names its columns (`--user-column/--item-column/--rating-column`, optional timestamp:
epoch seconds or dates); a row without a rating or ids is dropped, a rating outside the declared
scale is rejected, a decimal comma (`4,5`) is read as a point, a timestamp that is neither a
number nor a date is ordered first, and a duplicated (user, item) pair keeps its latest rating.
Each is counted.
"""

from __future__ import annotations

import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from solutions.common.catalogue import RemoteFile, data_dir, fetch
from solutions.common.dates import parse_dates
from solutions.common.errors import UserError
from solutions.common.tables import columns_listing, read_table

GROUPLENS = "https://files.grouplens.org/datasets/movielens/{}"
ZIPS = {
    "movielens-100k": RemoteFile("ml-100k.zip", GROUPLENS.format("ml-100k.zip"), "md5:0e33842e24a9c977be4e0107933c0723"),
    "movielens-1m": RemoteFile("ml-1m.zip", GROUPLENS.format("ml-1m.zip"), "md5:c4d9eecfca2ab87c1945afe126590906"),
    # GroupLens updates "latest" in place and publishes no checksum: the loader checks the columns
    "movielens-latest-small": RemoteFile("ml-latest-small.zip", GROUPLENS.format("ml-latest-small.zip"), None),
}
FOLDERS = {"movielens-100k": "ml-100k", "movielens-1m": "ml-1m", "movielens-latest-small": "ml-latest-small"}
SCALES = {"movielens-100k": (1.0, 5.0), "movielens-1m": (1.0, 5.0), "movielens-latest-small": (0.5, 5.0)}
ML100K_GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
                 "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
                 "War", "Western")


@dataclass
class Ratings:
    """One row per (user, item) rating; ids are the publisher's / the CSV's, as strings."""

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray  # float32
    timestamps: np.ndarray | None  # int64 seconds, or None
    name: str
    scale: tuple[float, float]
    scale_from: str = "the publisher's documentation"  # or the data, or --rating-scale
    titles: dict[str, str] = field(default_factory=dict)
    genres: dict[str, list[str]] = field(default_factory=dict)
    user_features: dict[str, dict[str, str]] = field(default_factory=dict)
    repairs: Counter = field(default_factory=Counter)
    files: list[Path] = field(default_factory=list)
    interactions: bool = False  # no ratings: each row one interaction (a click, a play), every rating 1
    # the publisher's own split where it has one: name -> boolean "is test" per row
    publisher_splits: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ratings)


def dataset_folder(name: str, options: dict) -> Path:
    """The publisher's folder under the data directory, extracted from its zip when missing."""
    root = data_dir(options.get("data_dir"))
    folder = root / FOLDERS[name]
    if not folder.is_dir():
        archive = fetch(ZIPS[name], root, name)
        with zipfile.ZipFile(archive) as z:
            z.extractall(root)
    return folder


def _require(folder: Path, *names: str) -> list[Path]:
    paths = [folder / n for n in names]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise UserError(f"{folder} lacks {', '.join(missing)}: not the publisher's layout; delete the folder "
                        "to download it again, or pass --data-dir")
    return paths


PUBLISHER = "the publisher's documentation"


def load_movielens_100k(options: dict) -> Ratings:
    folder = dataset_folder("movielens-100k", options)
    base, test, item, user = _require(folder, "u1.base", "u1.test", "u.item", "u.user")
    columns = ["user", "item", "rating", "timestamp"]
    parts = [pd.read_csv(p, sep="\t", names=columns, dtype=str) for p in (base, test)]
    frame = pd.concat(parts, ignore_index=True)  # u1.base + u1.test = u.data, with the split marked
    is_test = np.r_[np.zeros(len(parts[0]), bool), np.ones(len(parts[1]), bool)]
    items = pd.read_csv(item, sep="|", header=None, encoding="latin-1", dtype=str)
    titles = dict(zip(items[0], items[1]))
    flags = items.iloc[:, 5:5 + len(ML100K_GENRES)].astype(int).to_numpy()
    genres = {i: [g for g, f in zip(ML100K_GENRES, row) if f] for i, row in zip(items[0], flags)}
    people = pd.read_csv(user, sep="|", header=None, dtype=str)
    user_features = {u: {"age": a, "gender": g, "occupation": o} for u, a, g, o in people[[0, 1, 2, 3]].itertuples(False)}
    ratings = _from_frame(frame, "movielens-100k", SCALES["movielens-100k"], "user", "item", "rating", "timestamp",
                          origin=str(folder), keep=is_test, scale_from=PUBLISHER)
    ratings.titles, ratings.genres, ratings.user_features = titles, genres, user_features
    ratings.files = [base, test, item, user]
    return ratings


def load_movielens_1m(options: dict) -> Ratings:
    folder = dataset_folder("movielens-1m", options)
    rating_file, movies, users = _require(folder, "ratings.dat", "movies.dat", "users.dat")
    frame = pd.read_csv(rating_file, sep="::", engine="python", names=["user", "item", "rating", "timestamp"], dtype=str)
    movie = pd.read_csv(movies, sep="::", engine="python", names=["item", "title", "genres"], dtype=str, encoding="latin-1")
    people = pd.read_csv(users, sep="::", engine="python", names=["user", "gender", "age", "occupation", "zip"], dtype=str)
    ratings = _from_frame(frame, "movielens-1m", SCALES["movielens-1m"], "user", "item", "rating", "timestamp",
                          origin=str(folder), scale_from=PUBLISHER)
    ratings.titles = dict(zip(movie["item"], movie["title"]))
    ratings.genres = {i: g.split("|") for i, g in zip(movie["item"], movie["genres"])}
    ratings.user_features = {u: {"age": a, "gender": g, "occupation": o}
                             for u, g, a, o in people[["user", "gender", "age", "occupation"]].itertuples(False)}
    ratings.files = [rating_file, movies, users]
    return ratings


def load_movielens_latest_small(options: dict) -> Ratings:
    folder = dataset_folder("movielens-latest-small", options)
    rating_file, movies = _require(folder, "ratings.csv", "movies.csv")
    frame = pd.read_csv(rating_file, dtype=str)
    movie = pd.read_csv(movies, dtype=str)
    if not {"userId", "movieId", "rating"} <= set(frame.columns):
        raise UserError(f"{rating_file} does not have the publisher's columns userId,movieId,rating")
    ratings = _from_frame(frame, "movielens-latest-small", SCALES["movielens-latest-small"], "userId", "movieId",
                          "rating", "timestamp", origin=str(rating_file),
                          scale_from=PUBLISHER)
    ratings.titles = dict(zip(movie["movieId"], movie["title"]))
    ratings.genres = {i: g.split("|") for i, g in zip(movie["movieId"], movie["genres"])}
    ratings.files = [rating_file, movies]
    return ratings


def parse_scale(text: str | None) -> tuple[float, float] | None:
    """`--rating-scale LOW,HIGH` -> (low, high); None: the scale comes from the data."""
    if text in (None, ""):
        return None
    try:
        low, high = (float(v) for v in str(text).split(","))
    except ValueError:
        raise UserError(f"--rating-scale {text!r}: give LOW,HIGH, e.g. 1,5 or 0.5,5") from None
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise UserError(f"--rating-scale {text!r}: LOW must be below HIGH")
    return low, high


def data_scale(values: np.ndarray, rare: float = 0.001) -> tuple[float, float]:
    """The rating scale a table's ratings use: their lowest and highest value, except that on a
    discrete scale (at most 50 distinct values) a value cut off from the rest by a gap wider than
    the scale's step and held by under `rare` of the ratings is a typo, not the scale (a 7 among
    1-5 stars is rejected; every half star of 0.5-5 is kept)."""
    unique, counts = np.unique(values, return_counts=True)
    if len(unique) < 3 or len(unique) > 50:
        return float(unique[0]), float(unique[-1])
    gaps = np.diff(unique)
    step = float(np.median(gaps))
    blocks = np.split(np.arange(len(unique)), np.flatnonzero(gaps > 1.5 * step) + 1)
    main = max(blocks, key=lambda b: counts[b].sum())
    kept = [b for b in blocks if b is main or counts[b].sum() >= rare * len(values)]
    return float(unique[min(b[0] for b in kept)]), float(unique[max(b[-1] for b in kept)])


NO_RATINGS = "none"  # --rating-column none: a table of interactions (clicks, plays, purchases), for retrieval
IMPLICIT = "no rating column: each row is one interaction (--rating-column none)"
NAMED_IMPLICIT = "its ratings read as interactions, each one 1 (--rating-column none)"


def implicit(rating_column: str | None) -> bool:
    """Whether `--rating-column` says the table has no ratings (every row one interaction)."""
    return isinstance(rating_column, str) and rating_column.strip().lower() == NO_RATINGS


def as_interactions(ratings: Ratings, why: str = IMPLICIT) -> Ratings:
    """Ratings read as interactions: every row a 1, whatever its rating (retrieval ranks rows)."""
    ratings.ratings = np.ones(len(ratings), np.float32)
    ratings.scale, ratings.scale_from, ratings.interactions = (1.0, 1.0), why, True
    return ratings


def check_interactions_task(options: dict) -> None:
    """Interactions without ratings (`--rating-column none`) train retrieval only: a rating model
    has nothing to learn from them."""
    if implicit(options.get("rating_column", "rating")) and (options.get("task") or "rating") != "retrieval":
        raise UserError("--rating-column none (interactions without ratings) needs --task retrieval: a rating "
                        "model learns ratings")


def read_csv(path: Path, *, user_column: str, item_column: str, rating_column: str,
             timestamp_column: str | None, scale: tuple[float, float] | None,
             scoring_task: str | None = None) -> Ratings:
    """A user's ratings table; column names are matched case-insensitively. With `rating_column`
    "none", a table of interactions without ratings: each row counts as one (a rating of 1), which
    retrieval learns from as it learns from every rating. `scoring_task`: the task of a finished
    run the table is scored with (evaluate); a retrieval run reads a table without its rating
    column as interactions, as it would read the ratings (`evaluate` takes no column flags)."""
    path = Path(path).expanduser()
    frame = read_table(path, dtype=str)
    lower = {str(c).strip().lower(): c for c in frame.columns}
    interactions, why = implicit(rating_column), IMPLICIT
    if not interactions and scoring_task == "retrieval" and rating_column.lower() not in lower:
        interactions, scale = True, None  # the run's --rating-scale is for ratings this table lacks
        why = (f"no rating column {rating_column!r}: each row is one interaction (a retrieval run ranks rows, "
               "whatever their rating)")
    if interactions and scale is not None:
        raise UserError("--rating-scale does not apply with --rating-column none (the table has no ratings)")
    wanted = {"user": user_column, "item": item_column, **({} if interactions else {"rating": rating_column})}
    found = {}
    for role, name in wanted.items():
        if name.lower() not in lower:
            hint = ""
            if role == "rating":
                hint = (" (a table of interactions without ratings, such as clicks or plays: --rating-column none "
                        "with --task retrieval)") if scoring_task is None else " (a rating run is scored on ratings)"
            named = f"--{role}-column" if scoring_task is None else "as the run was trained"  # evaluate takes no flag
            raise UserError(f"{path} has no {role} column {name!r} ({named}){hint}; {columns_listing(frame)}")
        found[role] = lower[name.lower()]
    stamp = lower.get((timestamp_column or "timestamp").lower())
    if timestamp_column and stamp is None:
        raise UserError(f"{path} has no timestamp column {timestamp_column!r}; {columns_listing(frame)}")
    if interactions:
        found["rating"] = " interactions"  # stripped names are matched: no table's column is this one
        frame = frame.assign(**{found["rating"]: "1"})
    ratings = _from_frame(frame, f"file:{path.resolve()}", (1.0, 1.0) if interactions else scale, found["user"],
                          found["item"], found["rating"], stamp, origin=str(path),
                          scale_from=why if interactions else "--rating-scale")
    ratings.files = [path.resolve()]
    ratings.interactions = interactions
    return ratings


def read_user_csv(options: dict) -> Ratings:
    """`--data FILE.csv` with the options' column names and scale (read before TensorFlow loads, to
    answer a missing column at once, and again to train). With `trained_run` (evaluate, export)
    the table is read for that finished run's task."""
    check_interactions_task(options)
    return read_csv(Path(options["data"]), user_column=options.get("user_column", "user"),
                    item_column=options.get("item_column", "item"),
                    rating_column=options.get("rating_column", "rating"),
                    timestamp_column=options.get("timestamp_column"), scale=parse_scale(options.get("rating_scale")),
                    scoring_task=(options.get("task") or "rating") if options.get("trained_run") else None)


def clean_id(value: object) -> str:
    """A user or item id as training keys it (stripped text): `predict --user " 006"` must find
    the user the CSV wrote as `006 `."""
    return str(value).strip()


def clean_ids(column: pd.Series) -> pd.Series:
    """`clean_id` over a column, vectorised."""
    return column.astype(str).str.strip()


DECIMAL_COMMA = re.compile(r"\d+,\d+")  # the whole (stripped) value


def _ratings(column: pd.Series, repairs: Counter) -> pd.Series:
    """Ratings as numbers; a decimal comma (`4,5`, as European spreadsheets write it) is read as a
    point, and counted, rather than the row being dropped as one without a rating."""
    values = pd.to_numeric(column, errors="coerce").astype(float)
    candidates = np.flatnonzero(values.isna().to_numpy() & column.notna().to_numpy())
    text = {i: str(column.iloc[i]).strip() for i in candidates}
    comma = [i for i, v in text.items() if DECIMAL_COMMA.fullmatch(v)]
    if comma:
        values.iloc[comma] = [float(text[i].replace(",", ".")) for i in comma]
        repairs["ratings_with_a_decimal_comma_read"] = len(comma)
    return values


EPOCH = pd.Timestamp(0)  # the naive dates of `common.dates` are UTC here


def _timestamps(column: pd.Series, repairs: Counter, where: str) -> pd.Series:
    """Seconds since the epoch as floats (NaN where unreadable): numbers are taken as epoch seconds
    (as MovieLens writes them), other text as dates in one format for the column (`common.dates`:
    ISO, day- or month-first, ...; never a guess per value, which takes "t1" for the year 1), UTC."""
    seconds = pd.to_numeric(column, errors="coerce").astype(float).to_numpy(copy=True)
    seconds[~np.isfinite(seconds)] = np.nan  # "inf" is no time
    pending = np.isnan(seconds) & column.notna().to_numpy()
    if pending.any():  # most unreadable is judged over the whole column (`_check_timestamps`)
        dates = parse_dates(column[pending].astype(str), repairs, where, refuse_unread=False)
        seconds[pending] = ((dates - EPOCH) // pd.Timedelta(seconds=1)).to_numpy(float)
    return pd.Series(seconds, index=column.index)


def _check_timestamps(seconds: pd.Series, raw: pd.Series, column: str, origin: str, repairs: Counter) -> None:
    """Kept ratings whose timestamp is neither a number nor a date are ordered first (counted); when
    most are, the column is not a time at all and a temporal split would follow file order."""
    bad = seconds.isna().to_numpy()
    if not bad.any():
        return
    if bad.sum() * 2 > len(bad):
        samples = [v for v in raw[bad] if isinstance(v, str) and v.strip()]
        sample = repr(samples[0]) if samples else "empty values"
        raise UserError(f"{origin}: timestamp column {column!r} holds neither numbers (epoch seconds) nor dates in "
                        f"{bad.sum()} of {len(bad)} rows (e.g. {sample}); fix it or name another --timestamp-column")
    repairs["ratings_with_an_unreadable_timestamp_ordered_first"] = int(bad.sum())


def _from_frame(frame: pd.DataFrame, name: str, scale: tuple[float, float] | None, user: str, item: str,
                rating: str, timestamp: str | None, *, origin: str, keep: np.ndarray | None = None,
                scale_from: str = "--rating-scale") -> Ratings:
    """Ids as stripped strings; ratings as finite numbers inside `scale` (None: the data's own
    lowest and highest rating; `scale_from` says where a given one comes from); timestamps as
    epoch seconds; one rating per (user, item)."""
    repairs: Counter = Counter()
    users, items = clean_ids(frame[user]), clean_ids(frame[item])
    values = _ratings(frame[rating], repairs)
    stamps = (_timestamps(frame[timestamp], repairs, f"{origin}: timestamp column {timestamp!r}")
              if timestamp and timestamp in frame else None)
    no_id = frame[user].isna() | frame[item].isna() | (users == "") | (items == "")
    values = values.where(np.isfinite(values.astype(float)))  # "inf" is no rating
    missing = values.isna() & ~no_id
    usable = ~values.isna() & ~no_id
    if scale is None:
        if not usable.any():
            raise UserError(f"{origin}: no usable ratings (every row lacks an id or a numeric rating)")
        low, high = data_scale(values[usable].to_numpy(float))
        if low == high:
            raise UserError(f"{origin}: every rating is {low:g}; a rating model needs at least two values "
                            "(or give --rating-scale LOW,HIGH)")
    else:
        low, high = scale
    outside = usable & ((values < low) | (values > high))
    repairs["rows_without_user_or_item_dropped"] = int(no_id.sum())
    repairs["rows_without_rating_dropped"] = int(missing.sum())
    repairs[f"ratings_outside_{low:g}_{high:g}_rejected"] = int(outside.sum())
    ok = ~(no_id | missing | outside)
    table = pd.DataFrame({"user": users, "item": items, "rating": values,
                          "timestamp": stamps if stamps is not None else np.arange(len(frame)),
                          "row": np.arange(len(frame))})[ok.to_numpy()]
    if stamps is not None:
        _check_timestamps(table["timestamp"], frame[timestamp][ok.to_numpy()], timestamp, origin, repairs)
        table["timestamp"] = table["timestamp"].fillna(-1)
    # one rating per pair: the latest (by time, then by row order) wins
    table = table.sort_values(["timestamp", "row"], kind="stable")
    duplicated = table.duplicated(["user", "item"], keep="last")
    repairs["duplicate_user_item_pairs_kept_latest"] = int(duplicated.sum())
    table = table[~duplicated].sort_values("row", kind="stable")
    if len(table) == 0:
        raise UserError(f"{origin}: no usable ratings after repairs ({dict(+repairs)})")
    out = Ratings(users=table["user"].to_numpy(object), items=table["item"].to_numpy(object),
                  ratings=table["rating"].to_numpy(np.float32),
                  timestamps=table["timestamp"].to_numpy(np.int64) if stamps is not None else None,
                  name=name, scale=(float(low), float(high)), repairs=repairs,
                  scale_from="the data's lowest and highest rating" if scale is None else scale_from)
    if keep is not None:
        out.publisher_splits["u1"] = keep[table["row"].to_numpy()]
    return out


LOADERS = {"movielens-100k": load_movielens_100k, "movielens-1m": load_movielens_1m,
           "movielens-latest-small": load_movielens_latest_small}


def load_ratings(options: dict) -> Ratings:
    """A CSV (`--data`) or a named dataset; with `--rating-column none` a named dataset's ratings
    are read as interactions too, as a CSV's would be without its rating column."""
    if options.get("data"):
        return read_user_csv(options)
    name = options["dataset"]
    if name not in LOADERS:
        raise UserError(f"unknown dataset {name!r} for recommendation; known: {', '.join(LOADERS)}, or --data FILE.csv")
    if not options.get("trained_run"):  # a finished run trained with the flag ignored is read as it trained
        check_interactions_task(options)
    ratings = LOADERS[name](options)
    retrieval = (options.get("task") or "rating") == "retrieval"
    return as_interactions(ratings, NAMED_IMPLICIT) if implicit(options.get("rating_column")) and retrieval else ratings
