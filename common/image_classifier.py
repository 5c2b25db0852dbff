"""Everything an image-classification domain shares: options, folder data, pipelines, training
setup, metrics, plots and `predict`. A domain adds its named datasets and its models.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from solutions.common import ranges
from solutions.common.catalogue import fingerprint_files, fingerprint_layout
from solutions.common.data import Split, Splits, given_splits, stratified_split
from solutions.common.errors import UserError
from solutions.common.hooks import ReportText
from solutions.common.image_io import (IMAGE_SUFFIXES, guess_channels, load_scan, read_image, resize_batch,
                                      scan_class_folders, typical_side)
from solutions.common.classifier import ClassifierSolution, run_labels
from solutions.common.rundir import Run

AUGMENT_CHOICES = ("none", "light", "strong")
MIN_FOLDER_SIZE = 16  # smaller images are upscaled to it (a residual CNN halves the size twice)
# The batch size every measured default ran at (digits, PneumoniaMNIST, the 5,000-digit folder).
MAX_BATCH = 64
MIN_STEPS = 16  # a small training split still gives BatchNorm and the schedule this many steps an epoch
BATCH_PIXELS = MAX_BATCH * 64 * 64 * 3  # the largest batch measured: 64 RGB images of 64x64
# A user's folder trains for about this many samples (epochs x training images), within
# MIN_EPOCHS..the domain's default: 5,000 28x28 digits (3,500 training) take 23 epochs, not 40.
FOLDER_SAMPLES = 80_000
MIN_EPOCHS = 15
# A user's images of this side or more train with the residual CNN's first stage at half their
# resolution (`--first-stride 2`): the 5,000 28x28 digits' default run trained 2.2x as fast (README, Data).
FIRST_STRIDE_SIDE = 28
# Below this many epochs the residual CNN's BatchNorm moving averages lag behind weights that still
# change fast: digits trained 3 epochs scored test accuracy 0.10 (training accuracy 0.97, best
# validation epoch the first), and 0.978 with the statistics recomputed before each validation
# (`recalibrate_batch_norm`); 6 and 10 epochs on the moving averages scored 0.985 (2026-12-07). Every
# default (and `make bench-throughput`'s 10 epochs) trains at least this many, on its moving averages.
SHORT_SCHEDULE_EPOCHS = 10


def _power_of_two_below(value: float) -> int:
    return 1 << max(0, int(np.floor(np.log2(max(value, 1)))))


def image_batch_size(n_train: int, side: int, channels: int) -> tuple[int, str]:
    """(batch, why) for `n_train` images of side x side x channels: at most MAX_BATCH; small enough
    for MIN_STEPS steps an epoch (never below 8 for that); and, for large images, no more pixels
    per batch than the measured default (down to 2), so --image-size 512 does not exhaust memory."""
    by_steps = max(8, n_train // MIN_STEPS)
    by_pixels = max(2, BATCH_PIXELS // (side * side * channels))
    batch = _power_of_two_below(min(MAX_BATCH, by_steps, by_pixels))
    limits = [f"at most {MAX_BATCH}"]
    if by_steps < MAX_BATCH:
        limits.append(f"{n_train} training images, {-(-n_train // batch)} steps an epoch")
    if by_pixels < MAX_BATCH:
        limits.append(f"{side}x{side}x{channels} images: at most {BATCH_PIXELS // 1024} Ki pixels a batch")
    return batch, "; ".join(limits)


def folder_epochs(n_train: int, most: int) -> tuple[int, str]:
    """(epochs, why) for a user's own data: about FOLDER_SAMPLES samples seen, within
    MIN_EPOCHS..`most`, so a large folder does not train for the named datasets' epoch count."""
    least = min(MIN_EPOCHS, most)
    wanted = -(-FOLDER_SAMPLES // max(n_train, 1))
    epochs = int(np.clip(wanted, least, most))
    if epochs == wanted:
        return epochs, f"{n_train} training images, about {FOLDER_SAMPLES:,} samples seen"
    return epochs, f"{n_train} training images; {FOLDER_SAMPLES:,} samples would take {wanted} epochs, held to {least}..{most}"


def default_first_stride(own_images: bool, side: int, model: str | None) -> tuple[int, str | None]:
    """(stride, why) of the residual CNN's first stage when --first-stride is not given: 2 for a
    user's own images trained at `side` >= FIRST_STRIDE_SIDE px, else 1 (named datasets keep the
    stride their published figures were measured with; smaller images have too few pixels to halve)."""
    if model not in (None, "resnet") or not own_images:
        return 1, None
    if side < FIRST_STRIDE_SIDE:
        return 1, f"{side}x{side} images, under {FIRST_STRIDE_SIDE} px: the first stage at full resolution"
    half = -(-side // 2)
    return 2, f"{side}x{side} images: the first residual stage at {half}x{half}, about twice as fast as at full resolution"


class ImageClassifierSolution(ClassifierSolution):
    """A Solution for "which class is this image": raw uint8 pixels in, class probabilities out."""
    # No fixed batch size or epochs: without the flags they are chosen from the images
    # (`image_batch_size`; `default_epochs` for a named dataset, `folder_epochs` for the user's own).
    # Patience None (a domain's choice): no early stop, every epoch of the schedule trained.
    train_defaults = {"batch_size": None, "epochs": None}
    default_epochs: int = 40
    # Datasets whose labels survive a horizontal mirror (digits and letters do not).
    flip_safe: frozenset[str] = frozenset()
    # File types a class folder may hold (a domain may read more, e.g. DICOM).
    file_suffixes: frozenset[str] = frozenset(IMAGE_SUFFIXES)
    default_dropout: float = 0.2
    # Runs from before --first-stride trained their first stage at full resolution.
    legacy_defaults = {"first_stride": 1}

    # --- options -----------------------------------------------------------------------------
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--image-size", type=ranges.integer(8, 1024), default=None,
                            help="side length images are resized to (default: per dataset)")
        parser.add_argument("--augment", choices=AUGMENT_CHOICES, default="light",
                            help="augmentation strength, applied in the input pipeline only")
        parser.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                            help="random horizontal flips (default: only for datasets where a mirror keeps the label)")
        parser.add_argument("--cutout", type=ranges.real(0.0, 1.0, high_open=True), default=0.0,
                            help="erase one square of this fraction of the shorter side per training image "
                                 "(Cutout), in the input pipeline only; 0 = off (default)")
        parser.add_argument("--model", choices=self.models, default=self.default_model)
        parser.add_argument("--width", type=ranges.POSITIVE, default=32, help="filters of the first residual stage")
        parser.add_argument("--depth", type=ranges.POSITIVE, default=1, help="residual blocks per stage")
        parser.add_argument("--first-stride", type=int, choices=(1, 2), default=None,
                            help="stride of the residual CNN's first stage: 2 halves its resolution, about twice as "
                                 f"fast (default: 2 for your own images trained at {FIRST_STRIDE_SIDE} px or more, else 1)")
        parser.add_argument("--dropout", type=ranges.DROPOUT, default=self.default_dropout)
        parser.add_argument("--bn-momentum", type=ranges.real(0.0, 1.0, high_open=True), default=None,
                            help="BatchNorm moving-average momentum (default: averages about one epoch of batches)")

    def add_predict_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--top-k", type=ranges.POSITIVE, default=3, help="how many labels to print per image")

    def search_space(self, hp, options: dict[str, Any]) -> dict[str, Any]:
        """Residual CNN width/depth, dropout, augmentation strength and Cutout (published gains on
        natural images such as CIFAR-10; none on PneumoniaMNIST here: a search decides per dataset)."""
        from solutions.common.search_space import optimisation

        return {"width": hp.Choice("width", [16, 32, 48]),
                "depth": hp.Int("depth", 1, 2),
                "dropout": hp.Float("dropout", 0.0, 0.5, step=0.1),
                "augment": hp.Choice("augment", ["none", "light", "strong"]),
                "cutout": hp.Choice("cutout", [0.0, 0.25]),
                **optimisation(hp, lr=(3e-4, 1e-2), batches=[32, 64, 128])}

    def default_image_size(self, options: dict[str, Any]) -> int:
        return 64

    def image_size(self, options: dict[str, Any]) -> int:
        size = options.get("image_size") or self.default_image_size(options)
        if not 8 <= size <= 1024:
            raise UserError(f"--image-size {size} is out of range (8..1024)")
        return size

    # --- data --------------------------------------------------------------------------------
    def known_dataset(self, name: str) -> bool:
        return name in {d.name for d in self.datasets} or name.startswith("tfds:")

    def check_data_source(self, options: dict[str, Any]) -> None:
        if options.get("data"):
            scan_class_folders(options["data"], set(self.file_suffixes))
        elif not self.known_dataset(options["dataset"]):
            known = ", ".join(d.name for d in self.datasets)
            raise UserError(f"unknown dataset {options['dataset']!r} for {self.name}; known: {known}, tfds:<name>, or --data FOLDER")
        self.image_size(options)

    def load_named(self, name: str, options: dict[str, Any]) -> Splits:
        """A named dataset's splits at its native size (uint8 NHWC); the domain implements it."""
        raise UserError(f"unknown dataset {name!r}")

    def folder_image_size(self, files: list[Path], options: dict[str, Any]) -> tuple[int, str]:
        """(side, why): --image-size, else the files' median longer side within
        [MIN_FOLDER_SIZE, the domain's default]: small images train at their own size (a folder of
        28x28 digits is not upscaled fivefold), large ones are brought down to the default."""
        if options.get("image_size"):
            return self.image_size(options), "the option"
        cap = self.default_image_size(options)
        median = typical_side(files)
        if median is None:
            return cap, "the default (no readable image to measure)"
        size = int(np.clip(median, min(MIN_FOLDER_SIZE, cap), cap))
        return size, f"the files' median side {median}, within {min(MIN_FOLDER_SIZE, cap)}..{cap}"

    def load_folder(self, root: str, options: dict[str, Any]) -> Splits:
        scan = scan_class_folders(root, set(self.file_suffixes))
        files = [p for p, _ in scan.files]
        size, why = self.folder_image_size(files, options)
        channels = options.get("channels") or guess_channels(files)
        notes = [f"Image size {size}x{size} (from {why}); {'grayscale' if channels == 1 else 'RGB'} "
                 f"({'the run' if options.get('channels') else 'from the files'})"]
        if scan.parts:
            loaded = {name: Split(*load_scan(part, size, channels, reader=self.read_file, every_class=name == "train"))
                      for name, part in scan.parts.items()}
            scan.skipped = sum((part.skipped for part in scan.parts.values()), Counter())
            train, val, test, rule = given_splits(loaded, val_fraction=options["val_split"],
                                                  test_fraction=options["test_split"], seed=options["seed"])
            notes.append(f"Splits from the folders: {rule}")
        else:
            x, y = load_scan(scan, size, channels, reader=self.read_file)
            train, val, test = stratified_split(x, y, val_fraction=options["val_split"],
                                                test_fraction=options["test_split"], seed=options["seed"],
                                                class_names=scan.class_names)
            rule = (f"stratified {1 - options['val_split'] - options['test_split']:.0%}/"
                    f"{options['val_split']:.0%}/{options['test_split']:.0%}, seed {options['seed']}")
        return Splits(train, val, test, scan.class_names, resolved={"channels": channels, "image_size": size}, source={
            "notes": notes,
            "name": f"folder:{Path(root).expanduser().resolve()}",
            "fingerprint": fingerprint_files([p for p, _ in scan.files]),
            "layout": fingerprint_layout([p for p, _ in scan.files], Path(root).expanduser()),
            "split": rule,
            "skipped": dict(scan.skipped),
            "images_read": int(len(train.y) + len(val.y) + len(test.y)),
        })

    def read_file(self, path: Path, size: int, channels: int) -> np.ndarray:
        """Decode one image file (a domain may accept more formats, e.g. DICOM)."""
        return read_image(path, size, channels)

    def load_tfds(self, name: str, options: dict[str, Any]) -> Splits:
        """A TFDS image dataset; its own validation/test splits are kept when it has them."""
        from solutions.common.catalogue import data_dir, fingerprint_arrays
        from solutions.common.data import Split, split_off_validation
        from solutions.common.image_io import load_tfds_images

        parts, classes = load_tfds_images(name, data_dir(options.get("data_dir")), self.image_size(options))
        seed, val_fraction = options["seed"], options["val_split"]
        if "train" in parts and "test" in parts:
            train, test = Split(*parts["train"]), Split(*parts["test"])
            if "validation" in parts:
                val, rule = Split(*parts["validation"]), "TFDS train/validation/test"
            else:
                train, val = split_off_validation(train, val_fraction=val_fraction, seed=seed)
                rule = f"TFDS test; validation {val_fraction:.0%} of train, seed {seed}"
        else:
            x = np.concatenate([p[0] for p in parts.values()])
            y = np.concatenate([p[1] for p in parts.values()])
            train, val, test = stratified_split(x, y, val_fraction=val_fraction,
                                                test_fraction=options["test_split"], seed=seed, class_names=classes)
            rule = f"stratified split of all TFDS splits, seed {seed}"
        return Splits(train, val, test, classes, source={
            "name": f"tfds:{name}", "fingerprint": fingerprint_arrays(train.x, val.x, test.x), "split": rule,
        })

    def load_splits(self, options: dict[str, Any]) -> Splits:
        if options.get("data"):
            splits = self.load_folder(options["data"], options)
        elif options["dataset"].startswith("tfds:"):
            splits = self.load_tfds(options["dataset"][5:], options)
        else:
            splits = self.load_named(options["dataset"], options)
        return self._resize_and_resolve(splits, options)

    def _resize_and_resolve(self, splits: Splits, options: dict[str, Any]) -> Splits:
        """Bring every split to the model's input size (recorded as `image_shape`), and resolve what
        was not given from the images: batch size, epochs, and a domain's patience of None (every epoch)."""
        size = splits.resolved.get("image_size") or self.image_size(options)  # a folder's own, or the option's
        splits.resolved["image_size"] = size  # in the plan (config.json); evaluate/export reuse it
        for split in (splits.train, splits.val, splits.test):
            split.x = resize_batch(split.x, size)
        splits.source["image_shape"] = list(splits.train.x.shape[1:])
        if not options.get("batch_size"):  # in the plan too, so config.json says what ran
            height, width, channels = splits.train.x.shape[1:]
            batch, why = image_batch_size(len(splits.train), max(height, width), channels)
            splits.resolved["batch_size"] = batch
            splits.source.setdefault("notes", []).append(f"Batch size {batch} (from the images: {why})")
        if not options.get("epochs"):
            if options.get("data"):
                epochs, why = folder_epochs(len(splits.train), self.default_epochs)
                splits.source.setdefault("notes", []).append(f"Epochs {epochs} (from the data: {why})")
            else:
                epochs = self.default_epochs
            splits.resolved["epochs"] = epochs
        if not options.get("first_stride"):
            stride, why = default_first_stride(bool(options.get("data")), size, options.get("model"))
            splits.resolved["first_stride"] = stride
            if why:
                splits.source.setdefault("notes", []).append(f"First stride {stride} ({why})")
        if "patience" in options and options["patience"] is None:  # the domain's default: every epoch
            patience = splits.resolved.get("epochs") or options["epochs"]
            splits.resolved["patience"] = patience
            splits.source.setdefault("notes", []).append(
                f"Patience {patience} (every epoch of the schedule is trained; the best validation epoch is kept)")
        return splits

    def batch_norm_callbacks(self, splits: Splits, options: dict[str, Any]) -> list:
        """BatchNorm statistics recomputed before each validation, from a fixed sample of training
        images, where moving averages cannot keep up: a keras.applications backbone (a no-op while
        pretrained ones are frozen), and the residual CNN in a fit of fewer than
        `SHORT_SCHEDULE_EPOCHS` (a run's, or a Hyperband trial's few)."""
        from solutions.common.vision_models import BatchNormRecalibration

        below = SHORT_SCHEDULE_EPOCHS if options["model"] == "resnet" else None
        # one pass over as many images as 8 default batches hold pixels (512 at 64x64x3, 40 at
        # 224x224x3), whatever --batch-size says: little memory
        height, width, _ = splits.train.x.shape[1:]
        count = max(16, 8 * BATCH_PIXELS // (height * width * 3))
        sample = np.random.default_rng(options["seed"]).permutation(len(splits.train.y))[:count]
        return [BatchNormRecalibration(splits.train.x[np.sort(sample)], below_epochs=below)]

    def bn_momentum(self, splits: Splits, options: dict[str, Any]) -> float:
        """BatchNorm statistics averaged over about one epoch: 1 - 1/steps, within [0.9, 0.99].

        Keras' 0.99 needs hundreds of steps to settle (a small dataset's eval-mode model can output
        a constant: AUC 0.5); 0.9 on a large dataset follows the last ~10 augmented batches and
        makes validation metrics jump from epoch to epoch.
        """
        if options.get("bn_momentum"):
            return float(options["bn_momentum"])
        steps = max(1, int(np.ceil(len(splits.train) / options["batch_size"])))
        return float(np.clip(1 - 1 / steps, 0.9, 0.99))

    def flip(self, options: dict[str, Any]) -> bool:
        if options.get("flip") is not None:
            return bool(options["flip"])
        return bool(options.get("dataset")) and options["dataset"] in self.flip_safe

    def training_datasets(self, splits: Splits, options: dict[str, Any]):
        from solutions.common.augment import Cutout, chained, image_augmenter
        from solutions.common.pipeline import make_dataset

        cutout = options.get("cutout", 0.0)  # a run made before the option has none
        augment = chained(image_augmenter(options["augment"], flip=self.flip(options), seed=options["seed"]),
                          Cutout(cutout, seed=options["seed"] + 5) if cutout else None)
        train = make_dataset(splits.train.x, splits.train.y, batch_size=options["batch_size"],
                             training=True, seed=options["seed"], augment=augment)
        val = make_dataset(splits.val.x, splits.val.y, batch_size=options["batch_size"])
        return train, val

    def representative_samples(self, splits: Splits) -> np.ndarray:
        from solutions.common.pipeline import make_dataset, representative_samples

        ds = make_dataset(splits.train.x, splits.train.y, batch_size=32, training=True, seed=0)
        return representative_samples(ds, limit=500)

    # --- evaluation and outputs --------------------------------------------------------------
    def plots(self, run: Run, splits: Splits, y_score: np.ndarray, model, fitted: dict) -> list[str]:
        from solutions.common.plots import image_grid

        pred = self.predicted_classes(y_score, fitted)
        names = splits.class_names
        self.confusion_plot(run, splits, y_score, fitted)
        wrong = np.flatnonzero(pred != splits.test.y)[:12]
        right = np.flatnonzero(pred == splits.test.y)[: 24 - len(wrong)]
        shown = np.concatenate([wrong, right])
        image_grid(splits.test.x[shown], splits.test.y[shown], pred[shown], names, run / "test_predictions.png",
                   title=f"Test images: predicted (true); {len(wrong)} mistakes first, in red")
        return ["confusion_matrix.png", "test_predictions.png"]

    def tflite_tensors(self, splits: Splits, options, variant: str):
        """An image input (grayscale or RGB, 0-255, normalization mean 0 std 1) and the class
        probabilities with labels.txt packed in: what ImageClassifier runtimes read."""
        from solutions.common.edge import image_tensor, probabilities_tensor
        from solutions.common.variants import EDGE_VARIANTS

        height, width, channels = splits.train.x.shape[1:]
        image = image_tensor(height, width, 3 if variant in EDGE_VARIANTS else channels)
        return [image], [probabilities_tensor(list(splits.class_names))]

    edge_variants = ("edge", "edge_uint8")

    def edge_models(self, model, splits: Splits, fitted: dict, options, variants: list[str]):
        """RGB batch-1 variants of the run's model: float32, and uint8 in/out with int8."""
        from solutions.common.edge import image_edge_models
        from solutions.common.prediction import predict_keras

        x_test = self.model_inputs(splits.test)
        representative = self.representative_samples(splits) if "int8" in variants else None
        wanted = ["edge"] + (["edge_uint8"] if "int8" in variants else [])
        threshold = (fitted.get("decision") or {}).get("threshold")  # a binary screen's stored rule
        return image_edge_models(model, x_test, predict_keras(model, x_test), representative, wanted, threshold,
                                 self.tflite_tensors(splits, options, "edge"))

    def serving_instances(self, split) -> list:
        from solutions.common.serving_export import png_instances

        return png_instances(split.x)

    def serving_model(self, model, splits: Splits, fitted: dict, options):
        """serving_default: image files ({"b64": ...} of PNG, JPEG, GIF or BMP, any size) -> class
        probabilities; `serve`: pixel arrays [batch, H, W, C] 0-255 as saved_model/ takes them;
        `labels`: image files -> the label under the run's decision rule (medical: its stored
        threshold), its probability and every class's."""
        from solutions.common.serving_export import (Endpoint, ServingModel, decode_images, label_outputs,
                                                     model_endpoint, tf)

        height, width, channels = splits.train.x.shape[1:]
        threshold = (fitted.get("decision") or {}).get("threshold")
        names = list(splits.class_names)
        files = (tf.TensorSpec([None], tf.string, name="image_bytes"),)

        def probabilities(image_bytes):
            return model(decode_images(image_bytes, height, width, channels), training=False)

        return ServingModel((
            Endpoint("serving_default", lambda image_bytes: {"probabilities": probabilities(image_bytes)}, files),
            model_endpoint(model, "serve", "probabilities"),
            Endpoint("labels", lambda image_bytes: label_outputs(probabilities(image_bytes), names, threshold), files),
        ), track=(model,), instances=self.serving_instances(splits.test))

    def pinned_options(self, run: Run) -> dict[str, Any]:
        """Also the input shape the model takes (height and channels), for runs of any age."""
        height, _, channels = run.config["source"]["image_shape"]
        return {**super().pinned_options(run), "image_size": height, "channels": channels}

    def report_text(self, splits: Splits, run_path: Path) -> ReportText:
        """Notes on the split and skipped files; usage of the exported image models."""
        return ReportText(f"{self.name} on {splits.source.get('name')}", _notes(splits), _usage(run_path))

    def predict(self, run: Run, inputs: list[str], options: dict[str, Any], variant: str | None) -> list[dict[str, Any]]:
        """Per image file: the label the run's decision rule picks, and the top-k labels with their
        probabilities."""
        return self.classify_files(run, inputs, options, variant)[0]

    def classify_files(self, run: Run, inputs: list[str], options: dict[str, Any], variant: str | None
                       ) -> tuple[list[dict[str, Any]], np.ndarray, np.ndarray]:
        """(answers, the decoded images in the Keras model's channels, the chosen class indices) for
        image files: what `predict` answers, and what a domain adds to it (e.g. Grad-CAM) works from."""
        from solutions.common.prediction import run_outputs
        from solutions.common.variants import EDGE_VARIANTS

        if not inputs:
            raise UserError("give one or more image files to predict")
        labels = run_labels(run)
        height, _, channels = run.config["source"]["image_shape"]
        # An edge model takes the RGB file and makes gray inside its graph, as on a device.
        x, names = self.read_inputs(inputs, height, 3 if variant in EDGE_VARIANTS else channels)
        probs = run_outputs(run, self, x, variant)
        if x.shape[-1] != channels:  # what the Keras model takes (e.g. for Grad-CAM): gray, as in the graph
            from solutions.common.edge import to_gray

            x = to_gray(x)
        chosen = self.predicted_classes(probs, self.load_fitted(run))
        k = max(1, min(options.get("top_k", 3), len(labels)))
        answers = []
        for name, p, c in zip(names, probs, chosen):
            top = np.argsort(p)[::-1][:k]
            answers.append({"input": name, "label": labels[c],
                            "top": [{"label": labels[i], "probability": float(p[i])} for i in top],
                            "probabilities": [float(v) for v in p]})
        return answers, x, chosen

    def describe(self, answers: list[dict[str, Any]], options: dict[str, Any]) -> list[str]:
        return [a["input"] + ": " + ", ".join(f"{t['label']} {t['probability']:.3f}" for t in a["top"])
                for a in answers]

    def read_inputs(self, inputs: list[str], size: int, channels: int) -> tuple[np.ndarray, list[str]]:
        """The files named on the command line, decoded to the model's input shape."""
        images, names = [], []
        for item in inputs:
            path = Path(item)
            if not path.is_file():
                raise UserError(f"{path} is not a file")
            images.append(self.read_file(path, size, channels))
            names.append(str(path))
        return np.stack(images).astype(np.float32), names


def _notes(splits: Splits) -> list[str]:
    notes = [f"Split: {splits.source.get('split')}; early stopping watched the validation split only."]
    skipped = {k: v for k, v in splits.source.get("skipped", {}).items() if v}
    if skipped:
        notes.append("Skipped files: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in skipped.items()))
    return notes


def _usage(run_path: Path) -> str:
    return f"""```
solutions predict {run_path} image1.png image2.jpg            # Keras model, top-3 labels
solutions predict {run_path} image1.png --tflite              # the float32 TFLite model
solutions predict {run_path} image1.png --tflite --variant edge_uint8   # what a phone runs
```
Exported inputs are raw pixels (float32, 0-255, shape [batch, H, W, C] as in config.json
`source.image_shape`); outputs are class probabilities in the order of `labels.txt`. The int8 TFLite
model takes int8 inputs and gives int8 outputs: quantize with the input scale and zero point recorded in
metrics.json (`export.int8.input_quantization`), dequantize with `output_quantization`.

For MediaPipe Tasks `ImageClassifier` (Android, iOS, web, Python) or the TFLite Task Library, ship
`model_edge.tflite` (float32) or `model_edge_uint8.tflite` (quantized, uint8 pixels in and uint8
scores out): both take one RGB frame [1, H, W, 3] (a grayscale model converts it to gray inside
the graph) and carry their metadata (image properties, normalization, labels.txt), so they load
as they are, e.g. in Python:
```python
from mediapipe.tasks.python import BaseOptions, vision
classifier = vision.ImageClassifier.create_from_options(vision.ImageClassifierOptions(
    base_options=BaseOptions(model_asset_path="{run_path}/model_edge_uint8.tflite"), max_results=3))
```
Feed RGB frames: a grayscale image file must be converted to RGB first (MediaPipe reads it as one
channel and does not convert it)."""
