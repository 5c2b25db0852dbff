"""sentiment's baselines: the majority class and a TF-IDF logistic regression on the same split."""

from __future__ import annotations

import numpy as np

from solutions.sentiment.tokenizer import split, standardize


class SentimentEvaluation:
    """The classical reference beside the shared classifier metrics."""

    def baselines(self, splits) -> dict[str, dict[str, float]]:
        """Majority class, and TF-IDF uni+bigram logistic regression on the same tokens and split
        (the classical reference: 0.780 on rt-polarity in 10-fold CV)."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        from solutions.common.metrics import classification_metrics
        from solutions.sentiment.tokenizer import grams

        def analyzer(text: str) -> list[str]:
            return grams(split(standardize(text)), 2)

        vectorizer = TfidfVectorizer(analyzer=analyzer, sublinear_tf=True)
        features = vectorizer.fit_transform(splits.train.raw)
        classifier = LogisticRegression(C=10.0, max_iter=2000).fit(features, splits.train.y)
        probs = np.zeros((len(splits.test), len(splits.class_names)))
        probs[:, classifier.classes_] = classifier.predict_proba(vectorizer.transform(splits.test.raw))
        return {**super().baselines(splits), "tfidf_logistic_regression": classification_metrics(splits.test.y, probs)}
