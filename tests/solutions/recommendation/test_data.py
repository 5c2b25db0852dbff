"""Rating sources: the publisher's files, a user's CSV and every repair counted; splits and id maps."""

from __future__ import annotations

import numpy as np
import pytest

from solutions.common.errors import UserError
from solutions.recommendation.data import load_ratings, read_csv
from solutions.recommendation.splits import IdMaps, bias_baseline, split_ratings
from tests.conftest import require_data
from tests.solutions.recommendation.ratings import write_defective_csv


def _csv(path, **kw):
    return read_csv(path, user_column=kw.get("user", "user_id"), item_column=kw.get("item", "movie"),
                    rating_column=kw.get("rating", "stars"), timestamp_column=kw.get("ts", "ts"), scale=(1.0, 5.0))


def test_movielens_100k_keeps_the_publishers_u1_split_and_latin1_titles():
    require_data("ml-100k/u.data")
    ratings = load_ratings({"dataset": "movielens-100k"})
    assert len(ratings) == 100_000 and ratings.publisher_splits["u1"].sum() == 20_000
    assert ratings.titles["1"] == "Toy Story (1995)" and "Comedy" in ratings.genres["1"]
    assert any("\xe9" in t for t in ratings.titles.values())  # latin-1 accents decoded
    assert ratings.user_features["1"]["occupation"] == "technician"
    assert ratings.scale == (1.0, 5.0) and ratings.scale_from == "the publisher's documentation"


def test_csv_repairs_are_counted_and_the_latest_duplicate_wins(tmp_path):
    path = tmp_path / "r.csv"
    expected = write_defective_csv(path, rows=500)
    ratings = _csv(path)
    for name, count in expected.items():
        assert ratings.repairs[name] == count, name
    assert len(ratings) == 500 - 3  # the duplicate replaced its pair's earlier row
    assert ratings.ratings.min() >= 1 and ratings.ratings.max() <= 5
    pair = (ratings.users == "116") & (ratings.items == "47")
    assert pair.sum() <= 1


def test_the_rating_scale_comes_from_the_data_unless_given(tmp_path):
    """A half-star CSV keeps every rating without --rating-scale; with one, outside ratings are
    rejected and counted; one repeated value, or a bad scale, is one clear error."""
    path = tmp_path / "half.csv"
    stars = [0.5, 1.0, 1.5, 2.5, 3.0, 4.5, 5.0, "inf", "x"]
    path.write_text("user,item,rating\n" + "".join(f"u{i % 3},i{i},{v}\n" for i, v in enumerate(stars)))
    ratings = load_ratings({"data": str(path), "rating_scale": None})
    assert ratings.scale == (0.5, 5.0) and len(ratings) == 7 and ratings.scale_from.startswith("the data")
    assert ratings.repairs["rows_without_rating_dropped"] == 2  # "inf" and "x" are no ratings
    given = load_ratings({"data": str(path), "rating_scale": "1,5"})
    assert given.scale == (1.0, 5.0) and len(given) == 6 and given.repairs["ratings_outside_1_5_rejected"] == 1
    from solutions.recommendation.data import data_scale

    stars = np.repeat([1.0, 2.0, 3.0, 4.0, 5.0], 2000)
    assert data_scale(np.append(stars, 7.0)) == (1.0, 5.0)  # a typo is not the scale
    assert data_scale(np.append(stars, [0.0] * 500)) == (0.0, 5.0)  # a gap of one step is the scale
    assert data_scale(np.append(stars, [9.0] * 50)) == (1.0, 9.0)  # 0.5% of the ratings: a real value
    assert data_scale(np.linspace(0, 1, 1000)) == (0.0, 1.0)  # continuous
    same = tmp_path / "same.csv"
    same.write_text("user,item,rating\na,b,4\nc,d,4\n")
    with pytest.raises(UserError, match="every rating is 4"):
        load_ratings({"data": str(same), "rating_scale": None})
    for bad in ("5,1", "one,five", "1,inf"):
        with pytest.raises(UserError, match="--rating-scale"):
            load_ratings({"data": str(path), "rating_scale": bad})


def test_missing_column_is_one_clear_error(tmp_path):
    path = tmp_path / "r.csv"
    write_defective_csv(path, rows=50)
    with pytest.raises(UserError, match="has no rating column 'score'.*its columns are") as info:
        _csv(path, rating="score")
    assert "\n" not in str(info.value)


def test_a_finished_retrieval_run_reads_a_table_without_its_rating_column_as_interactions(tmp_path):
    """`evaluate` takes no column flags: a retrieval run scored on a table of clicks (no rating
    column) ranks its rows, each one interaction, as it ranks ratings; a rating run is refused, and
    neither is told of `--rating-column none`, which evaluate does not take."""
    path = tmp_path / "clicks.csv"
    path.write_text("user_id,movie,ts\n" + "".join(f"u{i % 4},i{i % 7},{i}\n" for i in range(20)))
    clicks = read_csv(path, user_column="user_id", item_column="movie", rating_column="stars", timestamp_column="ts",
                      scale=(1.0, 5.0), scoring_task="retrieval")
    assert clicks.interactions and clicks.scale == (1.0, 1.0) and (clicks.ratings == 1).all() and len(clicks) == 20
    assert clicks.scale_from.startswith("no rating column 'stars': each row is one interaction")
    with pytest.raises(UserError, match="no rating column 'stars' .as the run was trained. .a rating run is scored "
                                         "on ratings") as info:
        read_csv(path, user_column="user_id", item_column="movie", rating_column="stars", timestamp_column="ts",
                 scale=None, scoring_task="rating")
    assert "--rating-column none" not in str(info.value)
    with pytest.raises(UserError, match="--rating-column none with --task retrieval"):  # training is told
        _csv(path)
    rated = tmp_path / "rated.csv"
    rated.write_text("user_id,movie,stars\na,b,4\nc,d,2\n")  # a run's own rating column is read as ratings
    assert not read_csv(rated, user_column="user_id", item_column="movie", rating_column="stars", timestamp_column=None,
                        scale=None, scoring_task="retrieval").interactions


def test_rating_column_none_reads_a_named_datasets_ratings_as_interactions():
    """`--rating-column none` with `--dataset` was ignored: the run said ratings of 1..5. Now the
    ratings are read as interactions (the same rows and split), and the rating task refuses it."""
    require_data("ml-100k/u.data")
    options = {"dataset": "movielens-100k", "rating_column": "none", "task": "retrieval"}
    ratings = load_ratings(options)
    assert ratings.interactions and ratings.scale == (1.0, 1.0) and (ratings.ratings == 1).all()
    assert len(ratings) == 100_000 and ratings.publisher_splits["u1"].sum() == 20_000
    assert ratings.scale_from.startswith("its ratings read as interactions")  # u.data has a rating column
    with pytest.raises(UserError, match="needs --task retrieval"):
        load_ratings({**options, "task": "rating"})
    # a rating run trained while the flag was ignored here is read as it trained (evaluate, export)
    old = load_ratings({**options, "task": "rating", "trained_run": "/runs/old"})
    assert not old.interactions and old.scale == (1.0, 5.0)


def test_a_u1_run_scored_on_a_csv_uses_the_seeded_split(tmp_path):
    """`--split u1` is ml-100k's own split: a run trained with it and evaluated on a CSV was refused
    ("use random or temporal"), a flag evaluate does not take; it now scores the CSV's seeded split."""
    from solutions.recommendation.options import RecommendationOptions

    path = tmp_path / "r.csv"
    path.write_text("user,item,rating\na,b,4\nc,d,2\n")
    options = {"dataset": None, "data": str(path), "split": "u1", "task": "retrieval", "top_k": 10}
    chosen = RecommendationOptions().resolve({**options, "trained_run": "/runs/u1"})
    assert chosen["split"] == "random"
    RecommendationOptions().check_data_source({**options, **chosen, "trained_run": "/runs/u1"})
    assert RecommendationOptions().resolve(options)["split"] == "u1"  # training is still refused with it
    with pytest.raises(UserError, match="--split u1 is the publisher's split"):
        RecommendationOptions().check_data_source(options)


def test_rating_column_none_for_the_rating_task_is_refused_before_tensorflow_loads():
    from solutions.recommendation.options import RecommendationOptions

    options = {"dataset": "movielens-100k", "rating_column": "none", "task": "rating", "data": None}
    with pytest.raises(UserError, match="needs --task retrieval"):
        RecommendationOptions().check_data_source(options)
    RecommendationOptions().check_data_source({**options, "trained_run": "/runs/old"})  # a finished run: no refusal


@pytest.mark.parametrize("how", ["u1", "random", "temporal"])
def test_splits_are_disjoint_and_validation_comes_from_training(how):
    require_data("ml-100k/u.data")
    ratings = load_ratings({"dataset": "movielens-100k"})
    maps = IdMaps.fit(ratings)
    users = maps.user_index(ratings.users)
    parts, _ = split_ratings(ratings, how, users=users, val_fraction=0.05, test_fraction=0.2, seed=0)
    everything = np.concatenate(list(parts.values()))
    assert len(everything) == len(np.unique(everything)) == len(ratings)
    if how == "u1":
        assert ratings.publisher_splits["u1"][parts["test"]].all()
    if how == "temporal":  # each user's test ratings are no older than any of their training ratings
        for u in np.unique(users[parts["test"]])[:50]:
            train_times = ratings.timestamps[parts["train"]][users[parts["train"]] == u]
            test_times = ratings.timestamps[parts["test"]][users[parts["test"]] == u]
            assert test_times.min() >= train_times.max()


def test_id_maps_round_trip_and_unknown_ids(tmp_path):
    require_data("ml-100k/u.data")
    ratings = load_ratings({"dataset": "movielens-100k"})
    maps = IdMaps.fit(ratings)
    assert maps.n_users == 943 and maps.n_items == 1682 and maps.users[:3] == ["1", "2", "3"]
    maps.save(tmp_path, ratings, ["50"])
    again = IdMaps.load(tmp_path)
    np.testing.assert_array_equal(again.user_index(np.array(["42", "nobody"])), [41, -1])


def _write(path, header: str, rows: list[str]) -> str:
    path.write_text(header + "\n" + "".join(row + "\n" for row in rows), encoding="utf-8")
    return str(path)


def test_date_timestamps_are_epoch_seconds_and_order_duplicates_and_the_temporal_split(tmp_path):
    """ISO 8601 dates (with a T or a space) are read as UTC epoch seconds, not -1: the later rating
    of a pair wins whatever the file order, and the temporal test holds each user's latest."""
    rows = [f"u{u},i{i},{1 + (u + i) % 5},1998-03-{12 - i:02d} 10:00" for u in range(4) for i in range(12)]
    rows += ["u0,i0,5,2020-01-31T12:00:00", "u0,i0,1,2020-01-01T00:00:00"]  # the first row is the later
    ratings = load_ratings({"data": _write(tmp_path / "r.csv", "user,item,rating,ts", rows),
                            "timestamp_column": "ts", "rating_scale": None})
    first = (ratings.users == "u1") & (ratings.items == "i0")
    assert ratings.timestamps[first][0] == 889696800  # 1998-03-12 10:00 UTC
    pair = (ratings.users == "u0") & (ratings.items == "i0")
    assert ratings.ratings[pair].tolist() == [5.0] and ratings.timestamps[pair][0] == 1580472000
    assert ratings.repairs["duplicate_user_item_pairs_kept_latest"] == 2
    users = IdMaps.fit(ratings).user_index(ratings.users)
    parts, _ = split_ratings(ratings, "temporal", users=users, val_fraction=0.3, test_fraction=0.25, seed=0)
    test = parts["test"]
    assert set(ratings.items[test][ratings.users[test] == "u2"]) == {"i0", "i1", "i2"}  # the latest, written first


def test_unreadable_timestamps_are_counted_and_a_column_of_them_is_one_error(tmp_path):
    rows = [f"u{k % 3},i{k},{1 + k % 5},{883603013 + k}" for k in range(20)]
    rows[3] = "u0,i3,4,soon"
    ratings = load_ratings({"data": _write(tmp_path / "some.csv", "user,item,rating,ts", rows),
                            "timestamp_column": "ts", "rating_scale": None})
    assert ratings.repairs["ratings_with_an_unreadable_timestamp_ordered_first"] == 1 and len(ratings) == 20
    junk = [f"u{k % 3},i{k},{1 + k % 5},t{k}" for k in range(20)]
    path = _write(tmp_path / "junk.csv", "user,item,rating,ts", junk)
    with pytest.raises(UserError, match="timestamp column 'ts'.*'t0'") as info:
        load_ratings({"data": path, "timestamp_column": "ts", "rating_scale": None})
    assert "\n" not in str(info.value)


def test_decimal_comma_ratings_are_read_as_points_and_counted(tmp_path):
    rows = [f"u{k % 3};i{k};{1 + k % 5},{5 * (k % 2)};883603013" for k in range(20)]  # 1,0 2,5 3,0 ...
    ratings = load_ratings({"data": _write(tmp_path / "eu.csv", "user;item;rating;ts", rows), "rating_scale": None})
    assert len(ratings) == 20 and ratings.repairs["ratings_with_a_decimal_comma_read"] == 20
    assert ratings.scale == (1.0, 5.5) and sorted(set(ratings.ratings.tolist()))[:2] == [1.0, 1.5]
    mixed = [f"u{k % 3},i{k},{1 + k % 5}" for k in range(20)] + ['u0,i99,"4,5"', "u1,i98,4.5.1"]
    ratings = load_ratings({"data": _write(tmp_path / "mixed.csv", "user,item,rating", mixed), "rating_scale": "1,5"})
    assert ratings.repairs["ratings_with_a_decimal_comma_read"] == 1
    assert ratings.ratings[ratings.items == "i99"].tolist() == [4.5]
    assert ratings.repairs["rows_without_rating_dropped"] == 1


def test_ids_of_unicode_digits_sort_as_text(tmp_path):
    """`str.isdigit` accepts "²", which `int` refuses: such ids sort as text, ASCII numbers as numbers."""
    rows = [f"{u},{i},{1 + (u + len(i)) % 5}" for u in (10, 9) for i in ("²", "3", "12")]
    maps = IdMaps.fit(load_ratings({"data": _write(tmp_path / "r.csv", "user,item,rating", rows),
                                    "rating_scale": None}))
    assert maps.items == ["12", "3", "²"] and maps.users == ["9", "10"]


def test_bias_baseline_matches_surprise_baselineonly_on_u1():
    """Surprise's BaselineOnly scores 0.960 on u1 (the issue's figure)."""
    from solutions.common.data import Split

    require_data("ml-100k/u.data")
    ratings = load_ratings({"dataset": "movielens-100k"})
    maps = IdMaps.fit(ratings)
    pairs = np.stack([maps.user_index(ratings.users), maps.item_index(ratings.items)], 1)
    test = ratings.publisher_splits["u1"]
    predict = bias_baseline(Split(pairs[~test], ratings.ratings[~test]), maps)
    rmse = np.sqrt(np.mean((np.clip(predict(pairs[test]), 1, 5) - ratings.ratings[test]) ** 2))
    assert rmse == pytest.approx(0.960, abs=0.005)


def test_day_first_timestamps_order_ratings_as_written(tmp_path):
    """A per-value guess read 03/04/1998 month-first and 13/04/1998 day-first in one column; the
    column's one format (`common.dates`) keeps the days in order."""
    rows = [f"u0,i{d},{1 + d % 5},{d:02d}/04/1998 10:00" for d in range(1, 16)]
    ratings = load_ratings({"data": _write(tmp_path / "r.csv", "user,item,rating,ts", rows),
                            "timestamp_column": "ts", "rating_scale": None})
    order = [int(item[1:]) for item in ratings.items[ratings.timestamps.argsort(kind="stable")]]
    assert order == list(range(1, 16)) and ratings.repairs["dates_read_as_day_month_year"] == 15
