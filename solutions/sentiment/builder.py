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
        prior = np.bincount(splits.train.y, minlength=len(splits.class_names)) / len(splits.train.y)
        return build_model(
            options["model"], vocab_size=len(splits.fitted["tokenizer"].vocabulary),
            sequence_length=splits.train.x.shape[1], num_classes=len(splits.class_names),
            embedding_dim=settings["embedding_dim"], width=options["width"], depth=options["depth"],
            dropout=options["dropout"], train_ids=splits.train.x, train_labels=splits.train.y, class_prior=prior,
        )

    def finalize_model(self, model, splits, options):
        """bow: mix naive Bayes and the trained discriminative part on the validation split."""
        if options["model"] == "bow":
            from solutions.sentiment.model import fit_mixing

            mixing = fit_mixing(model, splits.val.x, splits.val.y)
            print(f"Mixing weights (validation log-loss {mixing['val_log_loss_discriminative_only']:.4f} -> "
                  f"{mixing['val_log_loss_mixed']:.4f}): naive Bayes {mixing['naive_bayes']:.3f}, "
                  f"discriminative {mixing['discriminative']:.3f}")
            return model, {"mixing": mixing}
        return model, {}

    def training_datasets(self, splits, options: dict[str, Any]):
        from solutions.common.pipeline import make_dataset

        train = make_dataset(splits.train.x, splits.train.y, batch_size=options["batch_size"], training=True,
                             seed=options["seed"], cast=None)
        val = make_dataset(splits.val.x, splits.val.y, batch_size=options["batch_size"], cast=None)
        return train, val
