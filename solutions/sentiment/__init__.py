"""`sentiment`: the polarity (or star rating) of a text, shipped as a SavedModel that takes raw
strings and a TFLite model on int32 token ids with a plain-Python tokenizer beside it.

Assembled from its parts: options.py (flags, checks, search space), source.py (texts -> token-id
splits), builder.py (models, pipelines, mixing), evaluation.py (baselines), export.py (what each
exported model takes), report.py, predictor.py; the Keras models are model.py, the tokenizer and its
Keras twin tokenizer.py. Training, K-fold cross-validation, metrics, export checks and the report
are the shared classifier layer.
"""

from __future__ import annotations

from solutions.common.classifier import ClassifierSolution
from solutions.common.solution import DatasetInfo, register
from solutions.sentiment.builder import TokenIdModelBuilder
from solutions.sentiment.evaluation import SentimentEvaluation
from solutions.sentiment.export import TextExport
from solutions.sentiment.options import MODEL_NAMES, SentimentOptions
from solutions.sentiment.predictor import TextPredictor
from solutions.sentiment.report import SentimentReport
from solutions.sentiment.source import TextSource


@register
class Sentiment(SentimentOptions, TextSource, TokenIdModelBuilder, SentimentEvaluation, TextExport,
                SentimentReport, TextPredictor, ClassifierSolution):
    name = "sentiment"
    summary = "polarity of a text: raw strings in (SavedModel), token ids in (TFLite, builtin ops)"
    default_dataset = "rt-polarity"
    datasets = (
        DatasetInfo("rt-polarity", "Movie Review sentence polarity v1.0, 10,662 sentences (rt-polaritydata/)"),
        DatasetInfo("imdb", "IMDB reviews, 25k/25k (TFDS imdb_reviews)"),
        DatasetInfo("sst2", "Stanford Sentiment Treebank, binary (TFDS glue/sst2; its validation split is the test)"),
    )
    models = MODEL_NAMES
    default_model = "bow"  # best measured on rt-polarity (README): NB-initialised bag of n-grams
    layers_module = "solutions.sentiment.model"
    # 10% validation: it only stops training and fits two mixing weights; the rest trains
    train_defaults = {"epochs": 15, "patience": 3, "batch_size": 64, "learning_rate": 3e-3, "val_split": 0.1}
