"""sentiment's report: the confusion matrix, notes on the split and vocabulary, and usage."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from solutions.common.hooks import ReportText
from solutions.common.rundir import Run


class SentimentReport:
    """What report.md says about a sentiment run."""

    def plots(self, run: Run, splits, y_score: np.ndarray, model, fitted: dict) -> list[str]:
        return [self.confusion_plot(run, splits, y_score, fitted)]

    def report_text(self, splits, run_path: Path) -> ReportText:
        """The report's heading, notes on the split and method, and usage."""
        return ReportText(f"{self.name} on {splits.source.get('name')}", _notes(splits), _usage(run_path))


def _notes(splits) -> list[str]:
    s = splits.source
    notes = [f"Split: {s.get('split')}; the vocabulary ({s['vocabulary_size']} entries) was adapted on the "
             "training texts only; early stopping watched the validation split only.",
             f"Texts are cut to {s['sequence_length']} words; {s['train_texts_truncated']} training texts were longer."]
    if s.get("char_ngrams"):
        low, high = s["char_ngrams"]
        notes.append(f"A second view reads {low}-{high}-character n-grams ({s['char_vocabulary_size']} in its own "
                     "vocabulary, char_vocab.txt); the two views are trained as two models and their logits "
                     "summed with weights fitted on the validation split (mixing.json).")
    skipped = {k: v for k, v in s.get("skipped", {}).items() if v}
    if skipped:
        notes.append("Skipped texts: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in skipped.items()))
    if s.get("read_as_latin1"):
        notes.append(f"{s['read_as_latin1']} lines were not valid UTF-8 and were read as Latin-1.")
    return notes + s.get("notes", [])  # labels merged as one class, with their variants


def _usage(run_path: Path) -> str:
    return f"""```
solutions predict {run_path} "a gripping , funny film" "dull and lifeless"   # Keras model
solutions predict {run_path} --file texts.txt --tflite                         # TFLite + plain-Python tokenizer
```
The SavedModel (`saved_model/`, signature `serving_default`) takes raw strings `[batch]` and returns
class probabilities in the order of `labels.txt`. The TFLite models take int32 token ids (shape in
metrics.json `export.float32.input_shape`; batch 1 for the recurrent model) made by
`solutions/sentiment/tokenizer.py` from `vocab.txt`, `tokenizer.json` (and `char_vocab.txt` when
the model reads character n-grams: their ids follow the words' in the same row):
```python
from solutions.sentiment.tokenizer import Tokenizer
ids = Tokenizer.load(Path("{run_path}"))(["a gripping , funny film"])  # int32 [1, total_length]
```
For MediaPipe Tasks `TextClassifier` (Android, iOS, web, Python), ship `model_edge.tflite`: a model
of its own (scored in the export table above) whose metadata holds the regex tokenizer and its
vocabulary, so the runtime takes raw strings; `solutions predict {run_path} "a text" --tflite
--variant edge` runs it the same way."""
