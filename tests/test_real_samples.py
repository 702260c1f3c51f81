"""The data core on REAL public samples, found through $PAPERKIT_DATA (skipped when it is not set).

The samples stay where they are (never copied into the repository); see book/data_guide.md.
"""
import os
from pathlib import Path

import numpy as np
import pytest

from paperkit.data import DataError, VolumeCache, read_dicom_image, read_dicom_series, read_volume, subject_split

ROOT = Path(os.environ["PAPERKIT_DATA"]) if os.environ.get("PAPERKIT_DATA") else None


def sample(*parts) -> Path:
    if ROOT is None:
        pytest.skip("PAPERKIT_DATA is not set: no real public samples to test against")
    path = ROOT.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not present in PAPERKIT_DATA")
    return path


def test_sunnybrook_cine_folder_is_refused_as_one_volume_and_its_images_read():
    folder = next(p for p in sorted(sample("sunnybrook", "full_series").iterdir()) if p.is_dir())
    with pytest.raises(DataError, match="position"):  # 20 cine phases share each slice position
        read_dicom_series(folder)
    image = read_dicom_image(next(iter(sorted(folder.glob("*.dcm")))))
    assert image.array.shape == (256, 256) and 0.5 < image.spacing[0] < 3.0


def test_la2018_hdf5_case_reads_and_caches(tmp_path):
    case = next(iter(sorted(sample("la2018", "cases").glob("*/mri_norm2.h5"))))
    image = read_volume(case, key="image")
    label = read_volume(case, key="label")
    assert image.array.shape == label.array.shape and image.array.ndim == 3
    assert set(np.unique(label.array)) <= {0, 1} and label.array.sum() > 0
    cache = VolumeCache(tmp_path)
    a = cache.load(case, key="image")
    b = cache.load(case, key="image")
    assert cache.misses == 1 and cache.hits == 1 and np.array_equal(a, b)


def test_oasis2_visits_split_by_subject():
    import pandas as pd
    table = pd.read_csv(sample("oasis", "oasis_longitudinal.csv"))
    assert {"Subject ID", "MRI ID", "Group", "CDR"} <= set(table.columns)
    splits = subject_split(table["Subject ID"].to_numpy(), (0.7, 0.3), labels=table["Group"].to_numpy(), seed=0)
    train, test = (set(table["Subject ID"].iloc[splits[k]]) for k in ("train", "test"))
    assert not train & test and len(splits["train"]) + len(splits["test"]) == len(table)
    assert 0.6 < len(train) / (len(train) + len(test)) < 0.8
