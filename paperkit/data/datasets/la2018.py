"""2018 Atrial Segmentation Challenge (LA 2018) volumes, quality scores, splits and slice datasets.

The challenge (Xiong et al., "A global benchmark of algorithms for segmenting the left atrium
from late gadolinium-enhanced cardiac MRI", Medical Image Analysis 2021; data at
cardiacatlas.org, atriaseg2018) released 3D LGE-MRI of atrial-fibrillation patients with the
left-atrium cavity segmented. Two layouts are read, both with axial slices along the *last*
array axis (pynrrd keeps the NRRD (X, Y, Z) order; the HDF5 files keep it too):

``"nrrd"`` -- the release as unzipped::

    Training Set/<CASE_ID>/lgemri.nrrd     # the LGE volume, e.g. 576 x 576 x 88
    Training Set/<CASE_ID>/laendo.nrrd     # LA cavity (endocardium) mask, values 0 / 255
    Testing Set/<CASE_ID>/...              # (lawall.nrrd etc. may be present; ignored)

  Case folders directly under the root are accepted too. The file names were confirmed from
  several public programs reading the release (``nrrd.read(.../lgemri.nrrd)``,
  ``laendo.nrrd`` with ``label == 255``); we found no organiser page listing them.

``"hdf5"`` -- the widely used preprocessed form (Yu et al., "Uncertainty-aware self-ensembling
model for semi-supervised 3D left atrium segmentation", MICCAI 2019, and the code bases
built on it): each case cropped around the atrium and z-scored::

    <cases folder>/<CASE_ID>/mri_norm2.h5   # datasets "image" (float32) and "label" (uint8 0/1)
    train.list, test.list                    # one case id per line (80 / 20 in the original)

  The cases folder is ``cases/`` (the project's sample in ``$PAPERKIT_DATA/la2018``),
  ``2018LA_Seg_Training Set/`` (the original code's name) or the root itself. The lists sit
  in the root (or next to the cases folder); when they exist the stage-1 split follows them
  (:func:`split_stage1`).

Quality scores (no public file exists: the paper's 196 scored scans are private) are read
from paperkit's own CSV, by default ``<root>/scores.csv`` (:data:`SCORE_COLUMNS`)::

    case_id,myocardium_nulling,sharpness,enhancement_aorta_valve,fibrosis_quality[,subject_id]

integers 1-5 (5 = best), binarised as diagnostic (1) when >= 3 (Sultan et al., Sec. 4.1).
``subject_id`` (optional) groups cases of one patient, so splits never separate them.
"""
from __future__ import annotations

import csv
import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
from torch.utils.data import Dataset

from paperkit.data.io.errors import DataError
from paperkit.data.io.readers import Volume, read_hdf5
from paperkit.data.splits import check_no_overlap, subject_split

__all__ = [
    "ATTRIBUTE_COLUMNS", "DIAGNOSTIC_THRESHOLD", "H5_FILE", "IMAGE_FILE", "MASK_FILE", "QA_COLUMN",
    "SCORE_COLUMNS", "CaseSplit", "LACase", "LGESlices", "binarise", "cases_table", "default_augmentation",
    "detect_layout", "find_cases", "load_la2018", "read_case_lists", "read_nrrd", "read_scores", "scan_mode", "slices_with_atrium", "split_qa",
    "split_stage1", "write_scores",
]

IMAGE_FILE = "lgemri.nrrd"
MASK_FILE = "laendo.nrrd"
H5_FILE = "mri_norm2.h5"
NRRD_SET_FOLDERS = ("Training Set", "Testing Set")
H5_CASE_FOLDERS = ("cases", "2018LA_Seg_Training Set", "2018LA_Seg_TrainingSet")
LIST_NAMES = ("train", "test")
ATTRIBUTE_COLUMNS = ("myocardium_nulling", "sharpness", "enhancement_aorta_valve")
QA_COLUMN = "fibrosis_quality"
SCORE_COLUMNS = ("case_id", *ATTRIBUTE_COLUMNS, QA_COLUMN)
SCORES_FILE = "scores.csv"
DIAGNOSTIC_THRESHOLD = 3  # scores >= 3 are diagnostic (1)
LAYOUTS = ("auto", "nrrd", "hdf5")


def binarise(score) -> np.ndarray | int:
    """1 (diagnostic) where a 1-5 score is >= 3, else 0 (Sultan et al., Sec. 4.1)."""
    out = (np.asarray(score) >= DIAGNOSTIC_THRESHOLD).astype(np.int64)
    return int(out) if out.ndim == 0 else out


# --------------------------------------------------------------------------- reading


def read_nrrd(path: str | os.PathLike) -> Volume:
    """Read an NRRD file with pynrrd into a :class:`Volume` (array in the file's axis order).

    Spacing comes from ``space directions`` (the column norms) or ``spacings``, in mm; else 1.0
    per axis in pixel units. Raises ``FileNotFoundError`` / :class:`DataError` naming the file.
    """
    import nrrd

    p = Path(os.path.abspath(os.fspath(path)))
    if not p.is_file():
        raise FileNotFoundError(f"{p}: NRRD file not found")
    try:
        array, header = nrrd.read(str(p))
    except Exception as e:  # pynrrd raises NRRDError, ValueError, OSError... for corrupt files
        raise DataError(f"{p}: not a readable NRRD file (pynrrd: {type(e).__name__}: {e})") from e
    spacing, unit = (1.0,) * array.ndim, "pixel"
    directions = header.get("space directions")
    if directions is not None:
        rows = [np.asarray(d, dtype=float) for d in directions]
        norms = [float(np.linalg.norm(d)) if np.all(np.isfinite(d)) else 1.0 for d in rows]
        if len(norms) == array.ndim:
            spacing, unit = tuple(norms), "mm"
    elif header.get("spacings") is not None:
        values = [float(s) for s in header["spacings"]]
        if len(values) == array.ndim and all(np.isfinite(values)):
            spacing, unit = tuple(values), "mm"
    return Volume(np.asarray(array), spacing, None, p, {"format": "nrrd", "spacing_unit": unit})


@dataclass(eq=False)
class LACase:
    """One LGE scan: where its image and LA mask are, and its quality scores (if any).

    ``subject`` groups scans of one patient (defaults to ``case_id``); ``list_name`` is
    ``"train"``/``"test"`` when ``train.list``/``test.list`` name the case; ``release_set``
    the NRRD release folder (``"Training Set"``...). ``scores`` maps :data:`SCORE_COLUMNS`
    (without ``case_id``) to 1-5 integers.
    """

    case_id: str
    layout: str
    image_path: Path
    mask_path: Path
    subject: str = ""
    list_name: str | None = None
    release_set: str | None = None
    scores: dict[str, int] | None = None
    spacing: tuple[float, ...] | None = field(default=None, repr=False)

    def __post_init__(self):
        self.subject = self.subject or self.case_id

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """``(image float32, mask uint8 {0,1})``, both (X, Y, Z) with axial slices along the last axis.

        Raises :class:`DataError` naming the file when the mask's shape differs from the image's.
        """
        if self.layout == "nrrd":
            image_volume, mask_volume = read_nrrd(self.image_path), read_nrrd(self.mask_path)
            where = f"{self.mask_path}"
        else:
            image_volume = read_hdf5(self.image_path, key="image")
            mask_volume = read_hdf5(self.mask_path, key="label")
            where = f"{self.mask_path} (dataset 'label')"
        image, mask = image_volume.array, mask_volume.array
        if image.ndim != 3:
            raise DataError(f"{self.image_path}: expected a 3D volume, got shape {image.shape}")
        if mask.shape != image.shape:
            raise DataError(f"{where}: mask of shape {mask.shape}; expected the image's {image.shape}")
        self.spacing = image_volume.spacing
        return image.astype(np.float32, copy=False), (mask > 0).astype(np.uint8)

    @property
    def attribute_labels(self) -> np.ndarray:
        """(3,) binarised attribute scores in :data:`ATTRIBUTE_COLUMNS` order."""
        return binarise([self._scores()[c] for c in ATTRIBUTE_COLUMNS])

    @property
    def qa_label(self) -> int:
        """Binarised fibrosis-quality score (1 = diagnostic)."""
        return binarise(self._scores()[QA_COLUMN])

    def _scores(self) -> dict[str, int]:
        if self.scores is None:
            raise DataError(f"case {self.case_id} ({self.image_path.parent}) has no quality scores")
        return self.scores


def detect_layout(root: str | os.PathLike) -> str:
    """``"nrrd"`` or ``"hdf5"``, from the files under ``root``; :class:`DataError` when neither is there."""
    root = Path(root)
    if _h5_case_dirs(root):
        return "hdf5"
    if _nrrd_case_dirs(root):
        return "nrrd"
    raise DataError(
        f"{root}: not an LA 2018 folder; expected 'Training Set/<case>/{IMAGE_FILE}' + '{MASK_FILE}' "
        f"(challenge release) or 'cases/<case>/{H5_FILE}' (preprocessed HDF5), or case folders directly in it")


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _nrrd_case_dirs(root: Path) -> list[tuple[Path, str | None]]:
    found = []
    parents = [(root / name, name) for name in NRRD_SET_FOLDERS if (root / name).is_dir()] or [(root, None)]
    for parent, release in parents:
        found += [(d, release) for d in _subdirs(parent) if (d / IMAGE_FILE).is_file() or (d / MASK_FILE).is_file()]
    return found


def _h5_case_dirs(root: Path) -> list[Path]:
    for parent in [root / name for name in H5_CASE_FOLDERS] + [root]:
        if parent.is_dir():
            dirs = [d for d in _subdirs(parent) if (d / H5_FILE).is_file()]
            if dirs:
                return dirs
    return []


def _read_list(path: Path) -> list[str]:
    ids = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    ids = [i for i in ids if i and not i.startswith("#")]
    duplicates = sorted(i for i, n in Counter(ids).items() if n > 1)
    if duplicates:
        raise DataError(f"{path}: case ids listed twice: {', '.join(duplicates[:5])}; expected each once")
    return ids


def read_case_lists(root: str | os.PathLike) -> dict[str, list[str]]:
    """``{"train": [...], "test": [...]}`` from ``train.list``/``test.list`` in ``root`` (only the files present)."""
    root = Path(root)
    lists = {name: _read_list(root / f"{name}.list") for name in LIST_NAMES if (root / f"{name}.list").is_file()}
    both = sorted(set(lists.get("train", [])) & set(lists.get("test", [])))
    if both:
        raise DataError(f"{root}: cases in both train.list and test.list: {', '.join(both[:5])}; expected disjoint lists")
    return lists


def find_cases(root: str | os.PathLike, layout: str = "auto") -> list[LACase]:
    """Every case under ``root`` in ``layout`` (``"auto"``, ``"nrrd"``, ``"hdf5"``), sorted by id.

    NRRD cases must hold both ``lgemri.nrrd`` and ``laendo.nrrd`` (:class:`DataError` naming
    the folder and the missing file otherwise). ``train.list``/``test.list`` in ``root`` set
    each case's ``list_name``. Volumes are not read here (see :meth:`LACase.load`).
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: LA 2018 folder not found")
    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r}: expected one of {', '.join(LAYOUTS)}")
    if layout == "auto":
        layout = detect_layout(root)
    cases: list[LACase] = []
    if layout == "nrrd":
        for folder, release in _nrrd_case_dirs(root):
            for name in (IMAGE_FILE, MASK_FILE):
                if not (folder / name).is_file():
                    raise DataError(f"{folder}: expected {name} in every case folder (with "
                                    f"{IMAGE_FILE} = image, {MASK_FILE} = LA cavity mask), not found")
            cases.append(LACase(folder.name, "nrrd", folder / IMAGE_FILE, folder / MASK_FILE, release_set=release))
    else:
        cases = [LACase(d.name, "hdf5", d / H5_FILE, d / H5_FILE) for d in _h5_case_dirs(root)]
    if not cases:
        raise DataError(f"{root}: no {layout} cases found (see paperkit.data.datasets.la2018 for the layout)")
    duplicates = sorted(i for i, n in Counter(c.case_id for c in cases).items() if n > 1)
    if duplicates:
        raise DataError(f"{root}: case ids found in more than one folder: {', '.join(duplicates[:5])}")
    lists = read_case_lists(root)
    for case in cases:
        case.list_name = next((name for name, ids in lists.items() if case.case_id in ids), None)
    return sorted(cases, key=lambda c: c.case_id)


# --------------------------------------------------------------------------- scores


def read_scores(path: str | os.PathLike) -> dict[str, dict]:
    """Read a scores CSV: ``{case_id: {column: int score, ..., "subject_id": str (if given)}}``.

    Required columns :data:`SCORE_COLUMNS`; scores are integers 1-5. Raises
    :class:`DataError` naming the file (and line) for a missing column, a non-integer or
    out-of-range score, an empty or duplicated case id.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: scores CSV not found")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        missing = [c for c in SCORE_COLUMNS if c not in columns]
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(SCORE_COLUMNS)} "
                            f"(+ optional subject_id), found {', '.join(columns) or '(none)'}")
        table: dict[str, dict] = {}
        for line, row in enumerate(reader, start=2):
            row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
            case = row["case_id"]
            if not case:
                raise DataError(f"{path}: line {line}: empty case_id")
            if case in table:
                raise DataError(f"{path}: line {line}: case {case!r} scored twice; expected one row per case")
            entry: dict = {}
            for column in SCORE_COLUMNS[1:]:
                text = row[column]
                try:
                    value = float(text)
                except ValueError:
                    value = float("nan")
                if not (np.isfinite(value) and value == int(value) and 1 <= value <= 5):
                    raise DataError(f"{path}: line {line}: {column}={text!r} for case {case!r}; "
                                    f"expected an integer score from 1 to 5")
                entry[column] = int(value)
            if row.get("subject_id"):
                entry["subject_id"] = row["subject_id"]
            table[case] = entry
    return table


def write_scores(path: str | os.PathLike, scores: Mapping[str, Mapping[str, int]]) -> Path:
    """Atomically write ``{case_id: {column: score[, "subject_id": ...]}}`` as a scores CSV."""
    from paperkit.atomic import atomic_path

    with_subject = any("subject_id" in s for s in scores.values())
    columns = list(SCORE_COLUMNS) + (["subject_id"] if with_subject else [])
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            for case in sorted(scores):
                s = scores[case]
                writer.writerow([case] + [int(s[c]) for c in SCORE_COLUMNS[1:]]
                                + ([s.get("subject_id", case)] if with_subject else []))
    return Path(path)


def load_la2018(root: str | os.PathLike, scores: str | os.PathLike | None = "auto",
                layout: str = "auto") -> list[LACase]:
    """The cases of ``root`` (:func:`find_cases`) with their quality scores attached.

    ``scores``: a CSV path, ``"auto"`` (``<root>/scores.csv`` when it exists, else none) or
    ``None``. With scores, every case must have a row (:class:`DataError` naming the cases
    without); rows for cases not found are reported with a warning.
    """
    root = Path(root).expanduser()
    cases = find_cases(root, layout)
    if isinstance(scores, str) and scores == "auto":
        scores = root / SCORES_FILE if (root / SCORES_FILE).is_file() else None
    if scores is None:
        return cases
    table = read_scores(scores)
    unscored = [c.case_id for c in cases if c.case_id not in table]
    if unscored:
        raise DataError(f"{scores}: no scores for {len(unscored)} case(s) found in {root}: "
                        f"{', '.join(unscored[:10])}; expected a row for every case")
    extra = sorted(set(table) - {c.case_id for c in cases})
    if extra:
        warnings.warn(f"{scores}: {len(extra)} scored case(s) have no folder in {root}: {', '.join(extra[:10])}",
                      stacklevel=2)
    for case in cases:
        entry = dict(table[case.case_id])
        case.subject = entry.pop("subject_id", case.case_id)
        case.scores = entry
    return cases


# --------------------------------------------------------------------------- stage 1 and voting


def slices_with_atrium(probabilities, threshold: float = 0.5, axis: int = -1) -> np.ndarray:
    """Indices along ``axis`` of slices with any pixel above ``threshold`` (the paper's stage-1 rule).

    ``probabilities`` are sigmoid outputs of the LA UNet (a volume, or a (Z, ...) stack with ``axis=0``).
    """
    p = np.asarray(probabilities.detach().cpu() if hasattr(probabilities, "detach") else probabilities)
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold={threshold!r}: expected a probability in [0, 1)")
    other = tuple(a for a in range(p.ndim) if a != axis % p.ndim)
    return np.flatnonzero((p > threshold).any(axis=other))


def scan_mode(case_ids: Sequence, predictions: Sequence) -> dict:
    """Per scan, the most frequent slice prediction (Sultan et al., Sec. 4.3).

    Ties go to the smallest label (0, non-diagnostic, for binary predictions), as
    ``scipy.stats.mode`` breaks them. Returns ``{case_id: label}`` in order of first appearance.
    """
    case_ids, predictions = list(case_ids), np.asarray(predictions).reshape(-1)
    if len(case_ids) != len(predictions):
        raise ValueError(f"scan_mode: {len(case_ids)} case ids for {len(predictions)} predictions")
    votes: dict = {}
    for case, pred in zip(case_ids, predictions.tolist()):
        votes.setdefault(case, Counter())[pred] += 1
    result = {}
    for case, counter in votes.items():
        best = max(counter.values())
        result[case] = min(label for label, n in counter.items() if n == best)
    return result


# --------------------------------------------------------------------------- splits


class CaseSplit(dict):
    """``{"train": [cases], "val": [...], "test": [...]}`` plus ``source`` (how it was made) and ``notes``."""

    def __init__(self, groups: Mapping[str, list[LACase]], source: str, notes: Sequence[str] = ()):
        super().__init__(groups)
        self.source = source
        self.notes = list(notes)
        check_no_overlap({name: [c.subject for c in group] for name, group in self.items()})

    def ids(self) -> dict[str, list[str]]:
        """Case ids per split."""
        return {name: [c.case_id for c in group] for name, group in self.items()}

    def summary(self) -> str:
        """One line per split, then the notes."""
        lines = [f"split ({self.source}): " + ", ".join(f"{k} {len(v)}" for k, v in self.items())]
        return "\n".join(lines + [f"  note: {n}" for n in self.notes])


def _split_rows(cases: list[LACase], fractions, names, seed, stratify):
    labels = [c.qa_label for c in cases] if stratify else None
    rows = subject_split([c.subject for c in cases], fractions, labels=labels, seed=seed, names=names)
    return {name: [cases[i] for i in idx] for name, idx in rows.items()}


def _train_val(cases: list[LACase], val_fraction: float, seed: int, stratify: bool) -> dict[str, list[LACase]]:
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction={val_fraction!r}: expected a value in (0, 1)")
    n_subjects = len({c.subject for c in cases})
    if n_subjects < 2:
        raise ValueError(f"{n_subjects} subject(s) left for train and val; expected at least 2")
    # At least one validation subject on small data (10 % of 5 would round to none).
    val_fraction = max(val_fraction, 1.0 / n_subjects)
    return _split_rows(cases, (1 - val_fraction, val_fraction), ("train", "val"), seed, stratify)


def _stratifiable(cases: Sequence[LACase]) -> bool:
    return all(c.scores is not None for c in cases)


def split_qa(cases: Sequence[LACase], n_test: int = 20, val_fraction: float = 0.1, seed: int = 0,
             max_test_fraction: float = 0.2, stratify: bool = True) -> CaseSplit:
    """The QA split of Sultan et al. (Sec. 4.2): ``n_test`` test scans, the rest 90:10 train/val.

    By subject (cases sharing a ``subject`` stay together), stratified by the binarised QA
    label when every case has scores and ``stratify``. On small data the test set is capped
    at ``max_test_fraction`` of the subjects (at least 1): 30 cases give 6 test scans; the
    paper's 196 keep 20. The cap is recorded in ``notes``. Validation gets at least one subject.
    """
    cases = list(cases)
    subjects = sorted({c.subject for c in cases})
    if len(subjects) < 3:
        raise ValueError(f"split_qa: {len(subjects)} subject(s); expected at least 3 (test, train, val)")
    if isinstance(n_test, bool) or not isinstance(n_test, int) or n_test < 1:
        raise ValueError(f"split_qa: n_test={n_test!r}; expected a positive int")
    notes = []
    cap = max(1, int(max_test_fraction * len(subjects)))
    n_eff = min(n_test, cap)
    if n_eff < n_test:
        notes.append(f"test set capped at {n_eff} of {len(subjects)} subjects "
                     f"(n_test={n_test}, max_test_fraction={max_test_fraction})")
    stratify = stratify and _stratifiable(cases)
    outer = _split_rows(cases, (1 - n_eff / len(subjects), n_eff / len(subjects)), ("rest", "test"), seed, stratify)
    inner = _train_val(outer["rest"], val_fraction, seed + 1, stratify)
    return CaseSplit({"train": inner["train"], "val": inner["val"], "test": outer["test"]},
                     f"random by subject, seed {seed}", notes)


def split_stage1(cases: Sequence[LACase], val_fraction: float = 0.1, seed: int = 0, use_lists: bool = True,
                 test_fraction: float = 0.2) -> CaseSplit:
    """The split for the stage-1 LA UNet: ``train.list``/``test.list`` when present, else random.

    With lists: test = the present ``test.list`` cases, train/val = the present
    ``train.list`` cases split ``1 - val_fraction : val_fraction`` by subject; unlisted cases
    are left out (noted). When no ``test.list`` case is present (e.g. the 30-case sample holds
    training cases only) the split falls back to random by subject (``test_fraction`` test),
    and says so in ``notes``.
    """
    cases = list(cases)
    notes = []
    if use_lists and any(c.list_name for c in cases):
        test = [c for c in cases if c.list_name == "test"]
        listed_train = [c for c in cases if c.list_name == "train"]
        unlisted = [c.case_id for c in cases if c.list_name is None]
        if unlisted:
            notes.append(f"{len(unlisted)} case(s) in neither list left out: {', '.join(unlisted[:5])}")
        if test and len(listed_train) >= 2:
            inner = _train_val(listed_train, val_fraction, seed, stratify=False)
            return CaseSplit({"train": inner["train"], "val": inner["val"], "test": test},
                             "train.list / test.list", notes)
        notes.append("no test.list case present; random split by subject instead")
        cases = listed_train or cases
    outer = _split_rows(cases, (1 - test_fraction, test_fraction), ("rest", "test"), seed, stratify=False)
    inner = _train_val(outer["rest"], val_fraction, seed + 1, stratify=False)
    return CaseSplit({"train": inner["train"], "val": inner["val"], "test": outer["test"]},
                     f"random by subject, seed {seed}", notes)


# --------------------------------------------------------------------------- torch dataset


def default_augmentation():
    """The paper's geometric augmentation, each with p = 0.5, for image + mask jointly (torchvision v2).

    Random horizontal flip; perspective (distortion 0.2); shift-scale-rotate as albumentations'
    ``ShiftScaleRotate`` defaults (shift 6.25 %, scale +-10 %, rotation +-45 deg). Masks are
    resampled with nearest neighbours by torchvision.
    """
    from torchvision.transforms import v2

    return v2.Compose([
        v2.RandomHorizontalFlip(p=0.5),
        v2.RandomPerspective(distortion_scale=0.2, p=0.5),
        v2.RandomApply([v2.RandomAffine(degrees=45, translate=(0.0625, 0.0625), scale=(0.9, 1.1))], p=0.5),
    ])


class LGESlices(Dataset):
    """Torch dataset of axial slices of LA 2018 cases, resized and normalised, with case ids and labels.

    Per case the volume is normalised (``normalize="volume"``: zero mean, unit std over the
    volume; ``"slice"``: per slice; ``None``: as stored), the chosen axial slices (last axis)
    are resized to ``image_size`` -- bilinear with antialiasing for the image (plain linear
    interpolation would alias when shrinking 576 px slices, adding edges the sharpness score is
    about), nearest for the mask -- and kept in memory.

    ``slices``: ``"mask"`` (slices where the LA mask has a voxel: ground truth standing in
    for stage 1), ``"all"``, or ``{case_id: indices}`` (e.g. from :func:`slices_with_atrium`
    on the stage-1 UNet's output). ``augment``: ``True`` for :func:`default_augmentation`,
    a callable taking and returning ``(tv_tensors.Image, tv_tensors.Mask)``, or ``False``.

    Items are dicts: ``image`` (1, H, W) float, ``mask`` (1, H, W) float 0/1, ``case_id``,
    ``case_index``, ``slice``; when every case has scores also ``attributes`` (3,) and ``qa``
    (1,) float 0/1 labels and ``scores`` (4,) int64 raw 1-5 scores. ``slice_case_ids`` lists
    each item's case id (for :func:`scan_mode`).
    """

    def __init__(self, cases: Sequence[LACase], image_size: int = 128, slices="mask", augment=False,
                 normalize: str | None = "volume"):
        import torch

        self.cases = list(cases)
        if not self.cases:
            raise ValueError("LGESlices: expected at least one case, got none")
        if normalize not in ("volume", "slice", None):
            raise ValueError(f"normalize={normalize!r}: expected 'volume', 'slice' or None")
        if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 8:
            raise ValueError(f"image_size={image_size!r}: expected an int >= 8")
        scored = [c.scores is not None for c in self.cases]
        if any(scored) and not all(scored):
            missing = [c.case_id for c in self.cases if c.scores is None]
            raise DataError(f"LGESlices: cases {', '.join(missing[:5])} have no scores while others do; "
                            "expected all or none scored")
        self.with_labels = all(scored)
        self.image_size = image_size
        self.normalize = normalize
        self.transform = default_augmentation() if augment is True else (augment or None)
        images, masks, index = [], [], []
        for ci, case in enumerate(self.cases):
            chosen = self._choose(case, slices)
            image, mask = case.load()
            if chosen is None:
                chosen = np.flatnonzero(mask.any(axis=(0, 1))) if slices == "mask" else np.arange(image.shape[-1])
            chosen = np.asarray(chosen, dtype=np.int64)
            if chosen.size and (chosen.min() < 0 or chosen.max() >= image.shape[-1]):
                raise ValueError(f"slices for case {case.case_id}: indices outside 0..{image.shape[-1] - 1}")
            if normalize == "volume":
                image = (image - image.mean()) / max(float(image.std()), 1e-6)
            img = torch.from_numpy(np.ascontiguousarray(np.moveaxis(image[..., chosen], -1, 0)))[:, None].float()
            msk = torch.from_numpy(np.ascontiguousarray(np.moveaxis(mask[..., chosen], -1, 0)))[:, None].float()
            if len(chosen):
                img = torch.nn.functional.interpolate(img, size=(image_size,) * 2, mode="bilinear",
                                                      align_corners=False, antialias=True)
                msk = torch.nn.functional.interpolate(msk, size=(image_size,) * 2, mode="nearest")
            else:  # no slice chosen for this case
                img = msk = torch.zeros(0, 1, image_size, image_size)
            if normalize == "slice" and len(chosen):
                mean = img.mean(dim=(1, 2, 3), keepdim=True)
                img = (img - mean) / img.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
            images.append(img)
            masks.append(msk.to(torch.uint8))
            index += [(ci, int(z)) for z in chosen]
        self.images = torch.cat(images) if index else torch.zeros(0, 1, image_size, image_size)
        self.masks = torch.cat(masks) if index else torch.zeros(0, 1, image_size, image_size, dtype=torch.uint8)
        self.index = index

    @staticmethod
    def _choose(case: LACase, slices):
        if isinstance(slices, str):
            if slices not in ("mask", "all"):
                raise ValueError(f"slices={slices!r}: expected 'mask', 'all' or a {{case_id: indices}} mapping")
            return None
        if case.case_id not in slices:
            raise KeyError(f"slices: no entry for case {case.case_id!r}; expected one per case")
        return slices[case.case_id]

    @property
    def slice_case_ids(self) -> list[str]:
        """The case id of every item, in order."""
        return [self.cases[ci].case_id for ci, _ in self.index]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict:
        import torch
        from torchvision import tv_tensors

        ci, z = self.index[i]
        case = self.cases[ci]
        image, mask = self.images[i], self.masks[i]
        if self.transform is not None:
            image, mask = self.transform(tv_tensors.Image(image), tv_tensors.Mask(mask))
        item = {"image": image.as_subclass(torch.Tensor).float(), "mask": mask.as_subclass(torch.Tensor).float(),
                "case_id": case.case_id, "case_index": ci, "slice": z}
        if self.with_labels:
            item["attributes"] = torch.as_tensor(case.attribute_labels, dtype=torch.float32)
            item["qa"] = torch.tensor([case.qa_label], dtype=torch.float32)
            item["scores"] = torch.tensor([case.scores[c] for c in SCORE_COLUMNS[1:]], dtype=torch.int64)
        return item


def cases_table(cases: Iterable[LACase]):
    """A pandas DataFrame, one row per case: id, subject, layout, list, scores and their binarised labels."""
    import pandas as pd

    rows = []
    for c in cases:
        row = {"case_id": c.case_id, "subject": c.subject, "layout": c.layout, "list": c.list_name,
               "release_set": c.release_set}
        if c.scores is not None:
            row.update(c.scores)
            row.update({f"{k}_diagnostic": int(v >= DIAGNOSTIC_THRESHOLD) for k, v in c.scores.items()})
        rows.append(row)
    return pd.DataFrame(rows)
