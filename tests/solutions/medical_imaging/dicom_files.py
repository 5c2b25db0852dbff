"""Writing real DICOM files (secondary capture, uncompressed) for the tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_dicom(path: Path, pixels: np.ndarray | None, *, monochrome1: bool = False, slope: float = 1.0,
                intercept: float = 0.0, window: tuple[float, float] | None = None) -> Path:
    """A grayscale DICOM; `pixels` None writes one without pixel data (as a structured report would)."""
    ds = _secondary_capture("OT")
    ds.PatientName = "Test^Phantom"
    if pixels is not None:
        stored = pixels.astype(np.uint16)
        ds.Rows, ds.Columns = stored.shape
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME1" if monochrome1 else "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
        if window is not None:
            ds.WindowCenter, ds.WindowWidth = window
        ds.PixelData = stored.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(str(path), enforce_file_format=True)
    return path


def write_multiframe_dicom(path: Path, frames: np.ndarray) -> Path:
    """A multi-frame DICOM as an ultrasound cine or a CT stack is stored: uint8 RGB frames
    (n, rows, cols, 3), or 16-bit grey frames (n, rows, cols); NumberOfFrames says how many."""
    ds = _secondary_capture("US")
    ds.NumberOfFrames = len(frames)
    ds.Rows, ds.Columns = frames.shape[1:3]
    ds.PixelRepresentation = 0
    if frames.ndim == 4:
        stored = frames.astype(np.uint8)
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    else:
        stored = frames.astype(np.uint16)
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelData = stored.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(str(path), enforce_file_format=True)
    return path


def _secondary_capture(modality: str):
    """An empty secondary-capture dataset with its file meta, uncompressed."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    return ds
