"""sentiment's predictions: texts -> labels with probabilities, by Keras or any TFLite variant."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from solutions.common.classifier import run_labels
from solutions.common.errors import UserError
from solutions.common.rundir import Run
from solutions.sentiment.source import vectorize
from solutions.sentiment.tokenizer import Tokenizer, split, standardize


class TextPredictor:
    """Answers for new texts."""

    def predict(self, run: Run, inputs: list[str], options: dict[str, Any], variant: str | None) -> list[dict[str, Any]]:
        """Per text: the label and its probability. Keras reads the text through the model's own
        vocabulary layer; a TFLite variant gets the plain-Python tokenizer's ids, as a device would."""
        from solutions.common.prediction import run_outputs

        texts = input_texts(inputs, options.get("file"))
        labels = run_labels(run)
        if variant == "edge":  # the words the device's regex tokenizer gives, from the file's own metadata
            edge = edge_tokenizer(run)
            x = ids = edge(texts)
            known, words = ids > 2, edge.length - 1
            known_words = known  # the edge model reads words only
            lengths = [len(edge.words(text)) for text in texts]
        else:
            tokenizer = Tokenizer.load(run.path)
            ids = tokenizer(texts)
            x = vectorize(tokenizer.keras_layer(), np.asarray(texts, dtype=object)) if variant in (None, "keras") else ids
            # in a vocabulary: above padding and [UNK], in the word segment and (if any) the character one
            known, words = ids > tokenizer.config.oov_id, run.config["source"]["sequence_length"]
            known_words = known[:, : tokenizer.config.sequence_length]
            lengths = [len(split(standardize(text))) for text in texts]
        probs = run_outputs(run, self, x, variant)
        answers = []
        for text, p, row, row_words, length in zip(texts, probs, known, known_words, lengths):
            best = int(np.argmax(p))
            note = None
            if not row.any():
                note = "no known tokens: the answer reflects the model's prior, not the text"
            elif not row_words.any():
                note = "no known words: the answer rests on its characters alone"
            elif length > words:
                note = f"cut to the first {words} words"
            answers.append({"text": text, "label": labels[best], "probability": float(p[best]),
                            "probabilities": [float(v) for v in p], "note": note})
        return answers

    def describe(self, answers: list[dict[str, Any]], options: dict[str, Any]) -> list[str]:
        lines = []
        for a in answers:
            shown = " ".join(a["text"].split())
            shown = shown if len(shown) <= 70 else shown[:67] + "..."
            note = f"  ({a['note']})" if a["note"] else ""
            lines.append(f"{a['label']}\t{a['probability']:.3f}\t{shown}{note}")
        return lines


def input_texts(inputs: list[str], file: str | None) -> list[str]:
    """The texts on the command line, then every line of `file`: an empty line is answered (the
    model's prior, flagged) like "", so the answers line up with the file's lines one for one."""
    texts = list(inputs)
    if file:
        from solutions.sentiment.data import all_lines

        path = Path(file)
        if not path.is_file():
            raise UserError(f"{path} is not a file")
        texts += all_lines(path)[0]
    if not texts:
        raise UserError('give one or more texts to answer for: solutions predict RUN "a text" ... or --file FILE')
    return texts


def edge_tokenizer(run: Run):
    """The regex tokenizer the run's edge model describes in its metadata."""
    from solutions.common.variants import TFLITE_FILES
    from solutions.sentiment.edge import RegexTokenizer

    path = run / TFLITE_FILES["edge"]
    if not path.exists():
        raise UserError(f"{run.path} has no edge TFLite model ({path.name}); re-export with "
                        f"`solutions export {run.path} --format tflite`")
    return RegexTokenizer.from_tflite(path.read_bytes(), str(path))
