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
