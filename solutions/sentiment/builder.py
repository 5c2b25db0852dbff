"""sentiment's model builder: the token-id models, their pipelines, and the naive-Bayes mixing
fitted on the validation split."""

from __future__ import annotations

from typing import Any

import numpy as np


class TokenIdModelBuilder:
    """Build, feed and finish the token-id classifiers of model.py."""

    def build_model(self, options: dict[str, Any], splits):
        from solutions.sentiment.model import build_model

        settings = self.model_settings(options)
        tokenizer = splits.fitted["tokenizer"]
        prior = np.bincount(splits.train.y, minlength=len(splits.class_names)) / len(splits.train.y)
        chars = tokenizer.config.char_sequence_length if tokenizer.config.char_ngrams else 0
        return build_model(
            options["model"], vocab_size=len(tokenizer.vocabulary),
            sequence_length=splits.train.x.shape[1] - chars, num_classes=len(splits.class_names),
            embedding_dim=settings["embedding_dim"], width=options["width"], depth=options["depth"],
            dropout=options["dropout"], train_ids=splits.train.x, train_labels=splits.train.y, class_prior=prior,
            char_vocab_size=len(tokenizer.char_vocabulary) if chars else 0, char_length=chars,
        )

    def compile(self, model, optimizer) -> None:
        """The two-view bow trainer: one cross-entropy per view; anything else as a classifier."""
        from solutions.sentiment.model import TWO_VIEW_TRAINER

        if model.name != TWO_VIEW_TRAINER:
            return super().compile(model, optimizer)
        import keras

        from solutions.sentiment.model import mean_view_accuracy, per_view_crossentropy

        model.compile(optimizer=optimizer, loss=per_view_crossentropy,
                      metrics=[keras.metrics.MeanMetricWrapper(mean_view_accuracy, name="accuracy")])

    def finalize_model(self, model, splits, options):
        """bow: mix naive Bayes and the trained discriminative part (of each view) on the
        validation split; the two-view trainer gives way to the summed model that ships."""
        if options["model"] == "bow":
            from solutions.sentiment.model import TWO_VIEW_TRAINER, exported_bow, fit_mixing

            if model.name == TWO_VIEW_TRAINER:
                model = exported_bow(model)
            mixing = fit_mixing(model, splits.val.x, splits.val.y)
            weights = ", ".join(f"{name.replace('_', ' ')} {value:.3f}" for name, value in mixing.items()
                                if not name.startswith("val_"))
            print(f"Mixing weights (validation log-loss {mixing['val_log_loss_discriminative_only']:.4f} -> "
                  f"{mixing['val_log_loss_mixed']:.4f}): {weights}")
            return model, {"mixing": mixing}
        return model, {}

    def training_datasets(self, splits, options: dict[str, Any]):
        from solutions.common.pipeline import make_dataset

        train = make_dataset(splits.train.x, splits.train.y, batch_size=options["batch_size"], training=True,
                             seed=options["seed"], cast=None)
        val = make_dataset(splits.val.x, splits.val.y, batch_size=options["batch_size"], cast=None)
        return train, val
