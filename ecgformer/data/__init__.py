"""PhysioNet ECG data: readers, label maps, preprocessing, augmentation, record cache, synthetic ECGs.

Readers (``PTBXL``, ``CinC2021``, ``CinC2017``, ``MITBIH``, ``LUDB``; one file each, registered by name in
``DATASETS``) read the folders PhysioNet publishes; each exposes ``record_ids``, ``classes``, ``labels``,
``metadata``, ``split()`` and ``load(i)`` -> :class:`EcgRecord` (``(leads, T)`` float32 mV). Preprocessing and
augmentation are numpy/scipy only. ``EcgDataModule``/``EcgDataset`` (torch, Lightning) are imported on first use.
"""

from __future__ import annotations

import importlib
import pkgutil

from .._lazy import lazy_attributes
from .augment import (
    Augment,
    amplitude_scale,
    baseline_wander,
    cutmix,
    gaussian_noise,
    lead_dropout,
    mixup,
    powerline_noise,
    random_crop,
    time_warp,
)
from .base import LabelledSource, WfdbReader, data_root
from .cache import RecordCache
from .cinc2017 import CINC2017_CLASSES, CinC2017
from .cinc2021 import CinC2021
from .errors import DataError, EmptySplitError, FlatSignalError, RecordError, Skipped
from .leads import LEAD_SETS, STANDARD_LEADS
from .ludb import LUDB
from .mitdb import AAMI_CLASSES, AAMI_MAP, DS1, DS2, MITBIH, PACED, MITBIHBeats, MITBIHWindows
from .preprocess import (
    Preprocess,
    bandpass,
    fixed_length,
    normalize,
    notch,
    remove_baseline,
    resample,
    select_leads,
    sliding_windows,
)
from .ptbxl import PTBXL, SUPERDIAG_CLASSES
from .registry import DATASETS, open_dataset
from .synthetic import SYNTHETIC_CLASSES, SyntheticECG, synthesize_ecg
from .wfdb_io import FLAT_PEAK_TO_PEAK_MV, EcgRecord, flat_leads, read_header, read_signal

__all__ = [
    "PTBXL", "CinC2021", "CinC2017", "MITBIH", "MITBIHBeats", "MITBIHWindows", "LUDB", "SyntheticECG",
    "LabelledSource", "WfdbReader", "RecordCache", "EcgRecord", "DATASETS", "open_dataset", "data_root",
    "read_header", "read_signal", "flat_leads", "FLAT_PEAK_TO_PEAK_MV", "DataError", "RecordError",
    "FlatSignalError", "EmptySplitError", "Skipped",
    "STANDARD_LEADS", "LEAD_SETS", "SUPERDIAG_CLASSES", "CINC2017_CLASSES", "AAMI_CLASSES", "AAMI_MAP",
    "DS1", "DS2", "PACED", "SYNTHETIC_CLASSES", "synthesize_ecg",
    "Preprocess", "resample", "bandpass", "notch", "remove_baseline", "normalize", "select_leads",
    "fixed_length", "sliding_windows",
    "Augment", "random_crop", "amplitude_scale", "gaussian_noise", "baseline_wander", "powerline_noise",
    "lead_dropout", "time_warp", "mixup", "cutmix",
    "EcgDataModule", "EcgDataset", "collate_ecg",
]

__getattr__, __dir__ = lazy_attributes(__name__, globals(), dict.fromkeys(
    ("EcgDataModule", "EcgDataset", "collate_ecg", "seed_worker"), "datamodule"))

# every other module of the package is imported now, so a reader in a new file registers itself with no other edit
# (datamodule needs torch and stays lazy: the predictor imports this package without torch)
for _module in sorted(module.name for module in pkgutil.iter_modules(__path__)):
    if _module != "datamodule":
        importlib.import_module(f"{__name__}.{_module}")
