"""recommendation's evaluation: rating errors against global-mean and bias baselines, or
recall/NDCG@10 against popularity and random rankings."""

from __future__ import annotations


import numpy as np


def rating_scores(y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    error = predicted - y
    return {"rmse": float(np.sqrt(np.mean(error**2))), "mae": float(np.mean(np.abs(error)))}


class RatingEvaluation:
    """Ratings: RMSE and MAE against the global mean and the user + item bias model."""

    whole_data_refused = ("other ratings must be by the run's users of its items, so they are usually a later "
                          "export that holds the ratings it trained on")

    def monitoring(self, options) -> tuple[str, str]:
        """The plan's task's validation metric (asked of the registered object, too)."""
        task = self.for_plan(options)
        return task.monitor, task.monitor_mode

    def headline(self, options) -> str:
        """The plan's task's headline test metric."""
        return self.for_plan(options).headline_metric

    def agreement(self, reference: np.ndarray, other: np.ndarray, fitted: dict) -> float:
        """Share of ratings within 0.01 stars of Keras's."""
        return float(np.mean(np.abs(other - reference) <= 0.01))

    def test_metrics(self, y_true: np.ndarray, y_score: np.ndarray, fitted: dict) -> dict[str, float]:
        """RMSE and MAE of the predicted ratings."""
        return rating_scores(y_true, y_score[:, 0])

    def test_extras(self, splits, y_score: np.ndarray, fitted: dict) -> dict:
        """AutoRec's blend weights (item side, user side, bias model, intercept), for the record."""
        return {"blend": fitted["blend"]} if "blend" in fitted else {}

    def baselines(self, splits) -> dict[str, dict[str, float]]:
        """The global mean, and the regularised user + item bias model (Surprise's BaselineOnly:
        0.960 on u1)."""
        from solutions.recommendation.splits import bias_baseline

        low, high = splits.fitted["ratings"].scale
        test = splits.test
        mean = np.full(len(test), splits.train.y.mean())
        biases = np.clip(bias_baseline(splits.train, splits.fitted["maps"])(test.x), low, high)
        return {"global_mean": rating_scores(test.y, mean), "user_item_bias": rating_scores(test.y, biases)}


class RankingEvaluation:
    """Retrieval: recall@10 and NDCG@10 over the catalogue against popularity and random rankings."""

    monitor, monitor_mode, headline_metric = "val_recall_at_10", "max", "recall_at_10"

    def agreement(self, reference: np.ndarray, other: np.ndarray, fitted: dict) -> float:
        """Share of users whose top-10 of the catalogue is Keras's (ties aside)."""
        from solutions.recommendation.ranking import same_top_k

        return float(np.mean(same_top_k(reference, other, np.zeros(reference.shape, np.int8))))

    def test_metrics(self, y_true: np.ndarray, y_score: np.ndarray, fitted: dict) -> dict[str, float]:
        """recall@10 and NDCG@10 of each test user's ranking of the catalogue."""
        from solutions.recommendation.ranking import ranking_scores

        return ranking_scores(y_true, y_score)

    def baselines(self, splits) -> dict[str, dict[str, float]]:
        """The most-rated items, a random ranking, and EASE (a linear item-item model in closed
        form, its lambda chosen on the validation split; on u1 just below the two-tower model, and
        the two-stage model's first stage), all from the training ratings only, as the model is. EASE is left out for a
        catalogue over EASE_MAX_ITEMS items."""
        from solutions.recommendation.ranking import (ease_scores, popularity_scores, random_scores, ranking_scores,
                                                      tuned_ease)

        relevance, n_items, train = splits.test.y, splits.fitted["maps"].n_items, splits.train.x
        scores = {"popularity": ranking_scores(relevance, popularity_scores(train[:, 1], n_items, len(relevance))),
                  "random": ranking_scores(relevance, random_scores(len(relevance), n_items, seed=0))}
        ease = tuned_ease(train, n_items, *splits.fitted["val_relevance"])
        if ease is not None:
            scores["ease"] = ranking_scores(relevance, ease_scores(train, splits.test.x, ease[1]))
        return scores
