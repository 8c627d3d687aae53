"""Datasets: loaders for the real public layouts and procedural phantoms written in those
layouts (DESIGN §4, docs/contracts.md "Data")."""

from __future__ import annotations

from reprolib.data.base import ImageDataset, Record
from reprolib.data.errors import CorruptImageError, DataError, DataLayoutError, UnknownDatasetError
from reprolib.data.registry import REAL, available_datasets, dataset_dir, get_dataset
from reprolib.data.transforms import (
                                  CLAHE,
                                  CenterCrop,
                                  Compose,
                                  Normalize,
                                  Resize,
                                  Standardize,
                                  ToGray,
                                  ToRGB,
                                  denormalize,
)

#: phantom name -> the real dataset of the paper's table that it imitates
STANDS_IN_FOR: dict[str, str] = {
    "phantom_oct": "oct2017", "phantom_oct_flat": "anogan_clinical_oct",
    "phantom_cxr": "kermany_cxr", "phantom_brain": "brain_tumor_mri",
    "phantom_covid": "covid19", "phantom_eyeq": "eyeq", "phantom_idrid": "idrid",
    "phantom_octid": "octid"}

__all__ = ["CLAHE", "REAL", "STANDS_IN_FOR", "CenterCrop", "Compose", "CorruptImageError",
           "DataError", "DataLayoutError", "ImageDataset", "Normalize", "Record", "Resize",
           "Standardize", "ToGray", "ToRGB", "UnknownDatasetError", "available_datasets",
           "dataset_dir", "denormalize", "get_dataset"]
