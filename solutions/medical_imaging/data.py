"""Medical image sources: MedMNIST v2 files (the publisher's split kept) and DICOM files.

A MedMNIST file is `<name>.npz` with `{train,val,test}_{images,labels}`; it is read from
`<data dir>/medmnist/` and downloaded from the publisher's Zenodo record (MD5 checked) if missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from solutions.common.catalogue import RemoteFile, data_dir, fetch, fingerprint_files
from solutions.common.data import Split, Splits
from solutions.common.errors import UserError

ZENODO = "https://zenodo.org/records/10519652/files/{name}.npz?download=1"
ORGANS = ["bladder", "femur-left", "femur-right", "heart", "kidney-left", "kidney-right", "liver", "lung-left",
          "lung-right", "pancreas", "spleen"]
# name -> (MD5 of the publisher's 28px file, class names). Multi-label chestmnist is not a
# single-label screen and is left out.
MEDMNIST: dict[str, tuple[str, list[str]]] = {
    "pneumoniamnist": ("28209eda62fecd6e6a2d98b1501bb15f", ["normal", "pneumonia"]),
    "breastmnist": ("750601b1f35ba3300ea97c75c52ff8f6", ["malignant", "normal, benign"]),
    "dermamnist": ("0744692d530f8e62ec473284d019b0c7", [
        "actinic keratoses and intraepithelial carcinoma", "basal cell carcinoma", "benign keratosis-like lesions",
        "dermatofibroma", "melanoma", "melanocytic nevi", "vascular lesions"]),
    "bloodmnist": ("7053d0359d879ad8a5505303e11de1dc", [
        "basophil", "eosinophil", "erythroblast", "immature granulocytes", "lymphocyte", "monocyte",
        "neutrophil", "platelet"]),
    "pathmnist": ("a8b06965200029087d5bd730944a56c1", [
        "adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle", "normal colon mucosa",
        "cancer-associated stroma", "colorectal adenocarcinoma epithelium"]),
    "octmnist": ("c68d92d5b585d8d81f7112f81e2d0842", [
        "choroidal neovascularization", "diabetic macular edema", "drusen", "normal"]),
    "retinamnist": ("bd4c0672f1bba3e3a89f0e4e876791e4", ["grade 0", "grade 1", "grade 2", "grade 3", "grade 4"]),
    "tissuemnist": ("ebe78ee8b05294063de985d821c1c34b", [
        "collecting duct, connecting tubule", "distal convoluted tubule", "glomerular endothelial cells",
        "interstitial endothelial cells", "leukocytes", "podocytes", "proximal tubule segments",
        "thick ascending limb"]),
    "organamnist": ("866b832ed4eeba67bfb9edee1d5544e6", ORGANS),
    "organcmnist": ("0afa5834fb105f7705a7d93372119a21", ORGANS),
    "organsmnist": ("e5c39f1af030238290b9557d9503af9d", ORGANS),
}
NPZ_KEYS = [f"{part}_{kind}" for part in ("train", "val", "test") for kind in ("images", "labels")]


def load_medmnist(name: str, options: dict[str, Any]) -> Splits:
    md5, classes = MEDMNIST[name]
    # Checked after a download; a copy already present is validated by content instead (np.load
    # without pickles, keys, shapes, label range): equal copies circulate with their rows in another
    # order, hence another md5 (the shared PneumoniaMNIST copy is one).
    remote = RemoteFile(f"medmnist/{name}.npz", ZENODO.format(name=name), "md5:" + md5, verify_on_read=False)
    path = fetch(remote, data_dir(options.get("data_dir")), name)
    return read_medmnist_npz(path, classes, name)


def read_medmnist_npz(path: Path, class_names: list[str] | None, name: str) -> Splits:
    """A MedMNIST-format file; classes default to `class_0..` when the file is not a known one."""
    try:
        with np.load(path) as f:
            missing = [k for k in NPZ_KEYS if k not in f.files]
            if missing:
                raise UserError(f"{path} is not a MedMNIST file: missing keys {missing} (it has {sorted(f.files)})")
            parts = {k: f[k] for k in NPZ_KEYS}
    except (OSError, ValueError) as exc:
        raise UserError(f"{path} is not a readable .npz file ({exc.__class__.__name__})") from None
    splits = {}
    for part in ("train", "val", "test"):
        x, y = parts[f"{part}_images"], parts[f"{part}_labels"]
        if y.ndim > 1 and y.shape[-1] > 1:
            raise UserError(f"{path} has multi-label targets {y.shape}; only single-label tasks are supported")
        x = x[..., None] if x.ndim == 3 else x
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[-1] not in (1, 3):
            raise UserError(f"{path}: {part}_images must be uint8 (n, h, w[, 1|3]), got {x.dtype} {x.shape}")
        splits[part] = Split(x, y.reshape(-1).astype(np.int32))
    n_classes = int(max(s.y.max() for s in splits.values())) + 1
    names = class_names or [f"class_{i}" for i in range(n_classes)]
    if len(names) < n_classes or n_classes < 2:
        raise UserError(f"{path}: labels span {n_classes} classes; expected at least 2 and at most {len(names)}")
    return Splits(splits["train"], splits["val"], splits["test"], names, source={
        "name": name, "fingerprint": fingerprint_files([path]),
        "split": "publisher's train/val/test split (MedMNIST v2)",
    })


def read_dicom(path: Path, size: int, channels: int) -> np.ndarray:
    """A DICOM image as uint8: modality rescale, the stored window (else min-max), MONOCHROME1
    inverted; of a multi-frame series (a CT stack, an ultrasound cine) the middle frame."""
    import pydicom

    try:
        ds = pydicom.dcmread(str(path))
    except Exception as exc:  # pydicom raises InvalidDicomError and others on non-DICOM bytes
        raise UserError(f"{path}: not a readable DICOM file ({exc.__class__.__name__})") from None
    if "PixelData" not in ds:
        raise UserError(f"{path}: DICOM file has no pixel data")
    try:
        pixels = ds.pixel_array.astype(np.float64)
    except Exception as exc:  # compressed syntaxes without a decoder, truncated data
        raise UserError(f"{path}: DICOM pixel data cannot be decoded ({exc.__class__.__name__})") from None
    frame = _one_frame(pixels, ds, path)
    if frame.ndim == 3:  # colour (RGB, or YBR that pydicom converted): no window, MONOCHROME1 does not apply
        return _to_model_input(np.clip(frame, 0, 255), size, channels)
    return _to_model_input(_windowed(frame, ds), size, channels)


def _one_frame(pixels: np.ndarray, ds, path: Path) -> np.ndarray:
    """The image to read, (rows, cols) or (rows, cols, 3), chosen by the file's own tags (frames,
    samples per pixel), never by guessing from the shape: a 5-frame grey series 3 pixels wide and
    one RGB image have the same number of axes."""
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    samples = int(getattr(ds, "SamplesPerPixel", 1) or 1)
    expected = (frames,) * (frames > 1) + (int(ds.Rows), int(ds.Columns)) + (samples,) * (samples > 1)
    if samples not in (1, 3) or pixels.shape != expected:
        raise UserError(f"{path}: DICOM pixel data of shape {pixels.shape} does not match its tags "
                        f"({frames} frame(s) of {ds.Rows}x{ds.Columns}, {samples} sample(s) per pixel)")
    return pixels[frames // 2] if frames > 1 else pixels  # a multi-frame series: the middle frame


def _windowed(pixels: np.ndarray, ds) -> np.ndarray:
    """Grey values to 0..255: modality rescale, the stored window (else min-max), MONOCHROME1 inverted."""
    import pydicom

    pixels = pixels * float(getattr(ds, "RescaleSlope", 1) or 1) + float(getattr(ds, "RescaleIntercept", 0) or 0)
    center, width = getattr(ds, "WindowCenter", None), getattr(ds, "WindowWidth", None)
    if center is not None and width is not None:
        center = float(center[0] if isinstance(center, pydicom.multival.MultiValue) else center)
        width = float(width[0] if isinstance(width, pydicom.multival.MultiValue) else width)
    if center is not None and width is not None and width >= 1:  # the standard's minimum: 0 would be a bare threshold
        low, high = center - width / 2, center + width / 2
    else:
        low, high = float(pixels.min()), float(pixels.max())
    scaled = np.clip((pixels - low) / max(high - low, 1e-9), 0, 1) * 255
    if getattr(ds, "PhotometricInterpretation", "") == "MONOCHROME1":
        scaled = 255 - scaled  # MONOCHROME1 stores bright as low values
    return scaled


def _to_model_input(scaled: np.ndarray, size: int, channels: int) -> np.ndarray:
    """0..255 grey (h, w) or colour (h, w, 3) values as uint8 (size, size, channels)."""
    from PIL import Image

    img = Image.fromarray(scaled.astype(np.uint8))
    img = img.convert("L" if channels == 1 else "RGB").resize((size, size), Image.Resampling.BILINEAR)
    arr = np.asarray(img, dtype=np.uint8)
    return arr[..., None] if channels == 1 else arr
