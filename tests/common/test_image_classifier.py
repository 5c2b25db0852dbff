"""The shared image-classifier layer, through the image-classification domain that uses it."""

import numpy as np

from solutions.common.solution import get_solution

OPTS = dict(val_split=0.2, test_split=0.15, seed=0, data=None, flip=None)


def test_tfds_dataset_is_split_and_resized(tmp_path):
    import tensorflow_datasets as tfds

    solution = get_solution("image-classification")
    options = {**OPTS, "dataset": "tfds:mnist", "data_dir": str(tmp_path), "image_size": 20}
    with tfds.testing.mock_data(num_examples=200):
        splits = solution.load_splits(options)
    assert splits.train.x.shape[1:] == (20, 20, 1) and splits.train.x.dtype == np.uint8
    assert len(splits.class_names) == 10 and splits.sizes()["test"] > 0
    assert splits.source["name"] == "tfds:mnist" and splits.source["image_shape"] == [20, 20, 1]


def test_flips_only_where_the_label_survives_a_mirror():
    solution = get_solution("image-classification")
    assert not solution.flip({"dataset": "digits", "flip": None})
    assert solution.flip({"dataset": "cifar10", "flip": None})
    assert solution.flip({"dataset": "digits", "flip": True})
    assert not solution.flip({"dataset": None, "data": "/x", "flip": None})


def test_batchnorm_momentum_averages_about_one_epoch():
    from solutions.common.data import Split, Splits

    solution = get_solution("image-classification")

    def splits(n):
        part = Split(np.zeros((n, 2, 2, 1), np.uint8), np.zeros(n, np.int32))
        return Splits(part, part, part, ["a", "b"])

    assert solution.bn_momentum(splits(640), {"batch_size": 64}) == 0.9  # 10 steps: the floor
    assert abs(solution.bn_momentum(splits(64 * 40), {"batch_size": 64}) - 0.975) < 1e-9
    assert solution.bn_momentum(splits(64 * 500), {"batch_size": 64}) == 0.99  # the ceiling
    assert solution.bn_momentum(splits(640), {"batch_size": 64, "bn_momentum": 0.8}) == 0.8


def test_a_folders_image_size_and_channels_follow_its_files(tmp_path):
    """28x28 grayscale files train at 28 (not upscaled to 64); big photos come down to the
    default; tiny ones go up to 16; --image-size wins. Each says where its size came from."""
    from PIL import Image

    solution = get_solution("image-classification")
    rng = np.random.default_rng(0)

    def folder(name: str, size: tuple[int, int], mode: str):
        root = tmp_path / name
        for label in ("a", "b"):
            (root / label).mkdir(parents=True)
            for i in range(10):
                shape = size[::-1] + ((3,) if mode == "RGB" else ())
                Image.fromarray(rng.integers(0, 256, shape).astype(np.uint8), mode).save(root / label / f"{i}.png")
        return root

    cases = [("mnist-like", (28, 28), "L", None, 28, 1, "median side 28"),
             ("photos", (200, 150), "RGB", None, 64, 3, "median side 200, within 16..64"),
             ("tiny", (8, 8), "L", None, 16, 1, "median side 8"),
             ("asked", (28, 28), "RGB", 40, 40, 3, "the option")]
    for name, size, mode, asked, side, channels, why in cases:
        options = {**OPTS, "dataset": None, "data": str(folder(name, size, mode)), "image_size": asked}
        splits = solution.load_splits(options)
        assert splits.train.x.shape[1:] == (side, side, channels), name
        assert splits.resolved["image_size"] == side and splits.resolved["channels"] == channels
        assert why in splits.source["notes"][0] and f"{side}x{side}" in splits.source["notes"][0], splits.source


def test_the_batch_size_follows_the_images():
    """64 where the defaults were measured; fewer for a small folder (enough steps an epoch) and
    for large images (pixels per batch held to the measured default's); never below 2."""
    from solutions.common.image_classifier import image_batch_size

    assert image_batch_size(1257, 16, 1)[0] == 64  # digits
    assert image_batch_size(4708, 28, 1)[0] == 64  # PneumoniaMNIST
    assert image_batch_size(3500, 64, 3)[0] == 64  # the measured default at its largest
    small, why = image_batch_size(300, 28, 1)
    assert small == 16 and "300 training images, 19 steps an epoch" in why
    assert image_batch_size(14, 28, 1)[0] == 8  # never below 8 for the step count
    big, why = image_batch_size(5000, 224, 3)
    assert big == 4 and "224x224x3" in why
    assert image_batch_size(5000, 1024, 3)[0] == 2
    assert image_batch_size(5000, 128, 1)[0] == 32


def noise_folder(root, per_class: int):
    """Class folders "a" and "b" of random 28x28 grayscale PNGs."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (28, 28)).astype(np.uint8), "L").save(root / label / f"{i}.png")
    return root


def test_a_run_without_batch_size_gets_one_from_its_images_and_keeps_a_given_one(tmp_path):
    solution = get_solution("image-classification")
    root = noise_folder(tmp_path / "folder", 100)
    options = {**OPTS, "dataset": None, "data": str(root), "image_size": None, "batch_size": None}
    splits = solution.load_splits(options)
    n_train = len(splits.train)
    assert n_train == 129 and splits.resolved["batch_size"] == 8  # 129 // 16 = 8: 17 steps an epoch
    assert any(note.startswith("Batch size 8 (from the images") for note in splits.source["notes"])
    assert splits.resolved["epochs"] == 40  # 129 images: the domain's most
    assert any(note.startswith("Epochs 40 (from the data") for note in splits.source["notes"])
    given = solution.load_splits({**options, "batch_size": 32, "epochs": 7})
    assert "batch_size" not in given.resolved and not any("Batch size" in n for n in given.source["notes"])
    assert "epochs" not in given.resolved


def test_a_folder_of_images_of_28_px_and_more_halves_the_first_stage_and_says_so(tmp_path):
    """Own images of 28 px and up train with --first-stride 2 (the 5,000-digit folder 2.2x as fast,
    README); smaller images, named datasets, backbones and a given --first-stride keep theirs."""
    from solutions.common.image_classifier import default_first_stride

    stride, why = default_first_stride(True, 28, "resnet")
    assert stride == 2 and "14x14" in why
    assert default_first_stride(True, 64, None)[0] == 2  # a plan without a model option
    assert default_first_stride(True, 27, "resnet")[0] == 1
    assert default_first_stride(False, 32, "resnet") == (1, None)  # cifar10: as measured
    assert default_first_stride(True, 64, "mobilenet_v3_small") == (1, None)
    solution = get_solution("image-classification")
    options = {**OPTS, "dataset": None, "data": str(noise_folder(tmp_path / "folder", 20)), "image_size": None,
               "batch_size": None, "epochs": None, "model": "resnet"}
    splits = solution.load_splits(options)
    assert splits.resolved["first_stride"] == 2
    assert any(note.startswith("First stride 2 (28x28 images") for note in splits.source["notes"])
    small = solution.load_splits({**options, "image_size": 20})
    assert small.resolved["first_stride"] == 1
    given = solution.load_splits({**options, "first_stride": 1})
    assert "first_stride" not in given.resolved and not any("First stride" in n for n in given.source["notes"])
    named = solution.load_splits({**OPTS, "dataset": "digits", "image_size": None, "batch_size": None, "epochs": None})
    assert named.resolved["first_stride"] == 1 and not any("First stride" in n for n in named.source.get("notes", []))


def test_medical_imaging_resolves_the_first_stride_from_its_images_too(tmp_path):
    solution = get_solution("medical-imaging")
    options = {**OPTS, "dataset": None, "data": str(noise_folder(tmp_path / "folder", 20)), "image_size": None,
               "batch_size": None, "epochs": None, "patience": None, "model": "resnet"}
    assert solution.load_splits(options).resolved["first_stride"] == 2
    assert solution.load_splits({**options, "image_size": 24}).resolved["first_stride"] == 1


def test_runs_and_searches_from_before_first_stride_replay_and_resume_at_stride_1(tmp_path):
    """An older config.json or search.json has no first_stride: --config replay and a resumed search
    read it as 1, what those runs trained; a newer one keeps its own (None: resolved from the data)."""
    import json

    from solutions.api import train_options
    from tuning.search import SEARCH_FILE, prepare_search

    for domain in ("image-classification", "medical-imaging"):
        solution = get_solution(domain)
        assert solution.with_legacy_options({"width": 8}) == {"width": 8, "first_stride": 1}
        assert solution.with_legacy_options({"first_stride": None})["first_stride"] is None
        assert solution.with_legacy_options({"first_stride": 2})["first_stride"] == 2
    assert get_solution("sentiment").with_legacy_options({"width": 8}) == {"width": 8}
    old = {"domain": "image-classification", "plan": {"image_size": 28},
           "options": {"data": str(tmp_path), "dataset": None, "epochs": 3}}
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert train_options("image-classification", config=tmp_path / "old.json")["first_stride"] == 1
    new = {**old, "options": {**old["options"], "first_stride": None}}
    (tmp_path / "new.json").write_text(json.dumps(new))
    assert train_options("image-classification", config=tmp_path / "new.json")["first_stride"] is None
    for saved, expected in ((old["options"], 1), (new["options"], None)):
        search = tmp_path / f"search-{expected}"
        search.mkdir()
        (search / SEARCH_FILE).write_text(json.dumps({"domain": "image-classification", "options": saved,
                                                      "settings": {}}))
        path, options, _, lock = prepare_search(get_solution("image-classification"), {"output": str(search)}, {},
                                                resume=True)
        lock.release()
        assert path == search and options["first_stride"] == expected


def test_first_stride_2_with_a_backbone_is_refused_not_ignored(tmp_path):
    import pytest

    from solutions.common.errors import UserError

    solution = get_solution("image-classification")
    folder = str(noise_folder(tmp_path / "folder", 2))
    options = {**OPTS, "dataset": None, "data": folder, "image_size": None, "weights": "none"}
    with pytest.raises(UserError, match="--first-stride 2 shapes the residual CNN"):
        solution.check_data_source({**options, "model": "mobilenet_v3_small", "first_stride": 2})
    solution.check_data_source({**options, "model": "mobilenet_v3_small", "first_stride": 1})
    solution.check_data_source({**options, "model": "resnet", "first_stride": 2})


def test_the_builders_pass_the_first_stride_to_the_model():
    from solutions.common.data import Split, Splits

    part = Split(np.zeros((8, 28, 28, 1), np.uint8), np.array([0, 1] * 4, np.int32))
    splits = Splits(part, part, part, ["a", "b"])
    base = {"width": 16, "depth": 1, "dropout": 0.2, "batch_size": 8, "model": "resnet", "weights": "none"}
    for domain in ("image-classification", "medical-imaging"):
        solution = get_solution(domain)
        sides = {stride: solution.build_model({**base, "first_stride": stride}, splits)
                 .get_layer("features").output.shape[1] for stride in (1, 2, None)}
        assert sides == {1: 7, 2: 4, None: 7}, domain  # None: a plan from before the option


def test_a_large_folder_trains_for_fewer_epochs_and_a_named_dataset_for_its_own():
    from solutions.common.image_classifier import folder_epochs

    assert folder_epochs(3500, 40)[0] == 23  # the 5,000-digit folder: about 80,000 samples
    assert folder_epochs(1257, 40)[0] == 40
    assert folder_epochs(100_000, 40)[0] == 15  # never fewer than 15
    assert folder_epochs(100_000, 10)[0] == 10
    solution = get_solution("image-classification")
    splits = solution.load_splits({**OPTS, "dataset": "digits", "image_size": None, "batch_size": None, "epochs": None})
    assert splits.resolved["epochs"] == 40 and not any("Epochs" in n for n in splits.source.get("notes", []))


def test_medical_imaging_patience_defaults_to_the_runs_epochs_unless_given(tmp_path):
    """A patience of 10 ended PneumoniaMNIST runs while the learning rate was high (README)."""
    from solutions.api import train_options

    assert train_options("medical-imaging")["patience"] is None
    assert train_options("medical-imaging", argv=["--patience", "4"])["patience"] == 4
    assert train_options("image-classification", dataset="digits")["patience"] == 10  # unchanged
    root = noise_folder(tmp_path / "folder", 60)
    solution = get_solution("medical-imaging")
    options = {**OPTS, "dataset": None, "data": str(root), "image_size": None, "batch_size": None,
               "epochs": None, "patience": None}
    splits = solution.load_splits(options)
    assert splits.resolved["epochs"] == 30 and splits.resolved["patience"] == 30  # the folder's epochs
    assert any(note.startswith("Patience 30 (every epoch") for note in splits.source["notes"])
    assert solution.load_splits({**options, "epochs": 7}).resolved["patience"] == 7
    given = solution.load_splits({**options, "patience": 4})
    assert "patience" not in given.resolved and not any("Patience" in n for n in given.source["notes"])
    plain = get_solution("image-classification").load_splits({**options, "patience": 10})
    assert "patience" not in plain.resolved


def test_image_domains_leave_the_batch_size_to_the_data():
    from solutions.api import train_options

    assert train_options("image-classification", dataset="digits")["batch_size"] is None
    assert train_options("medical-imaging")["batch_size"] is None
    assert train_options("medical-imaging")["epochs"] is None  # 30 for a named dataset, below
    assert get_solution("medical-imaging").default_epochs == 30
    assert get_solution("image-classification").default_epochs == 40
    assert train_options("sentiment")["epochs"] is not None  # other domains keep their fixed default
    assert train_options("sentiment")["batch_size"] == 64
    assert train_options("image-classification", batch_size=32)["batch_size"] == 32


def test_cutout_is_off_by_default_checked_and_reaches_the_training_pipeline_only():
    import pytest

    from solutions.api import train_options
    from solutions.common.data import Split, Splits
    from solutions.common.errors import UserError

    # off: on PneumoniaMNIST the kit's runs with 0.3 scored lower and worse calibrated (README)
    assert train_options("medical-imaging")["cutout"] == 0.0
    assert train_options("image-classification")["cutout"] == 0.0
    assert train_options("medical-imaging", argv=["--cutout", "0.3"])["cutout"] == 0.3
    for bad in ("1", "-0.1", "nan"):
        with pytest.raises(UserError, match="--cutout.*out of range"):
            train_options("medical-imaging", argv=["--cutout", bad])
    # the training pipeline erases a square only when the option is on
    solution = get_solution("medical-imaging")
    x = np.full((16, 28, 28, 1), 250, np.uint8)
    x[:, ::2] = 10  # stripes: the image's mean differs from every pixel
    part = Split(x, np.arange(16) % 2)
    splits = Splits(part, part, part, ["normal", "pneumonia"])
    for cutout, changed in ((0.3, True), (0.0, False), (None, False)):  # None: a run made before the option
        options = {"augment": "none", "flip": False, "seed": 0, "batch_size": 16, "dataset": "pneumoniamnist",
                   **({"cutout": cutout} if cutout is not None else {})}
        train, val = solution.training_datasets(splits, options)
        images = next(iter(train))[0].numpy()
        assert (not np.isin(images, [10, 250]).all()) == changed
        assert np.isin(next(iter(val))[0].numpy(), [10, 250]).all()
