"""Brain-MRI cohorts: one record per scan, the paper's Table 1, and the subject-level split.

Every brain-MRI loader (:func:`paperkit.data.datasets.ida.load_adni`, :func:`~paperkit.data.datasets.ida.load_ppmi`,
:func:`paperkit.data.datasets.oasis.load_oasis1`, :func:`~paperkit.data.datasets.oasis.load_oasis2`, and the
synthetic cohort read back through ``load_adni``) returns a :class:`Cohort`: a ``list`` of
:class:`BrainScan` records plus what the loader left out and why. From it

* :func:`cohort_table` computes the Video4MRI Table 1 equivalent per class (subjects, scans,
  sessions, age, sex) and :func:`table1_row` the paper's own one-line form
  (``"228(AD):188(CN)"``, total images, view);
* :func:`split_cohort` makes the paper's 7:3 split by *subject* (never by scan), stratified by
  class, through :func:`paperkit.data.splits.subject_split`, which checks for overlap;
* :class:`paperkit.data.mri_frames.MRIFrames` turns records into video-like tensors.

:func:`load_brain_mri` picks the loader by dataset name.
"""
from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from paperkit.data.io.errors import DataError
from paperkit.data.io.text import read_csv_table
from paperkit.data.splits import check_no_overlap, subject_split

__all__ = [
    "BRAIN_DATASETS",
    "BrainScan",
    "Cohort",
    "cohort_table",
    "exclusion_counts",
    "load_brain_mri",
    "read_clinical_csv",
    "rows_by_key",
    "apply_unreadable_policy",
    "split_cohort",
    "table1_row",
]

# dataset name -> (module, loader) ; the names the chapter's `dataset` parameter accepts.
BRAIN_DATASETS = {
    "adni": ("paperkit.data.datasets.ida", "load_adni"),
    "ppmi": ("paperkit.data.datasets.ida", "load_ppmi"),
    "oasis1": ("paperkit.data.datasets.oasis", "load_oasis1"),
    "oasis2": ("paperkit.data.datasets.oasis", "load_oasis2"),
}


@dataclass(frozen=True)
class BrainScan:
    """One brain MRI volume with its label and the clinical columns of its table row.

    ``subject`` is the id every split is made by; ``session`` the visit / MR session;
    ``scan_id`` identifies the volume (IDA Image Data ID ``"I13722"``, OASIS-1 MRI ID,
    OASIS-2 ``"<MRI ID>/mpr-1"``). ``path`` is what :func:`paperkit.data.io.readers.read_volume`
    reads: a NIfTI file, the ``.hdr`` of an Analyze pair, or a DICOM series folder.
    ``label`` indexes the cohort's ``class_names`` (0 = control). ``age`` (years) and
    ``sex`` (``"F"``/``"M"``) are ``None`` when the table has no value; ``clinical`` is the
    whole table row as read (strings), for anything else a summary needs.
    """

    subject: str
    session: str
    scan_id: str
    path: Path
    label: int
    label_name: str
    age: float | None = None
    sex: str | None = None
    clinical: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


class Cohort(list):
    """A list of :class:`BrainScan` records plus the loader's bookkeeping.

    ``dataset`` names the layout, ``class_names`` maps labels to names (index = label),
    ``view`` is the slicing plane the paper used for this dataset, ``source`` the table
    that gave the labels, and ``excluded`` lists ``(id, reason)`` for every scan, session or
    table row the loader left out (e.g. ``"missing CDR"``, ``"group MCI not in classes"``,
    ``"no image on disk"``, ``"unreadable volume"``), so a Table 1 can say how many were
    dropped and why. ``unreadable`` lists ``(path, error)`` of every volume skipped because it
    could not be read (``on_unreadable="skip"``, see :func:`paperkit.data.mri_frames.check_readable`).
    """

    def __init__(self, records: Sequence[BrainScan] = (), *, dataset: str, class_names: Sequence[str],
                 view: str = "sagittal", source: Path | None = None,
                 excluded: Sequence[tuple[str, str]] = ()):
        super().__init__(records)
        self.dataset = dataset
        self.class_names = tuple(class_names)
        self.view = view
        self.source = source
        self.excluded = list(excluded)
        self.unreadable: list[tuple[str, str]] = []

    def like(self, records: Sequence[BrainScan]) -> "Cohort":
        """A cohort of ``records`` with this cohort's metadata (and no exclusions)."""
        return Cohort(records, dataset=self.dataset, class_names=self.class_names, view=self.view,
                      source=self.source)

    @property
    def subjects(self) -> list[str]:
        """Subject id of every record, in record order."""
        return [r.subject for r in self]

    @property
    def labels(self) -> list[int]:
        """Label of every record, in record order."""
        return [r.label for r in self]

    def __repr__(self) -> str:
        counts = ", ".join(f"{sum(r.label == i for r in self)} {n}" for i, n in enumerate(self.class_names))
        return (f"Cohort({self.dataset}: {len(self)} scans of {len(set(self.subjects))} subjects "
                f"({counts}); {len(self.excluded)} excluded)")


def load_brain_mri(dataset: str, root: str | os.PathLike, **options: Any) -> Cohort:
    """Load ``dataset`` (one of :data:`BRAIN_DATASETS`) from ``root`` with its loader's ``options``.

    Every loader accepts ``on_unreadable=None`` (default: volumes are decoded when first
    used, an unreadable one is then a DataError naming it), ``"raise"`` (decode all now, into
    the volume cache ``cache=``, and fail on the first unreadable file) or ``"skip"`` (decode
    all now and leave unreadable ones out, listed in ``cohort.excluded`` / ``cohort.unreadable``
    and in a warning with their count). The synthetic cohort is read with
    ``load_brain_mri(paperkit.data.synthetic.brain.SYNTHETIC_LAYOUT, root)``.
    """
    import importlib

    key = str(dataset).lower().replace("-", "")
    if key not in BRAIN_DATASETS:
        raise ValueError(f"dataset={dataset!r}: expected one of {sorted(BRAIN_DATASETS)}")
    module, name = BRAIN_DATASETS[key]
    return getattr(importlib.import_module(module), name)(root, **options)


def apply_unreadable_policy(cohort: Cohort, on_unreadable: str | None, cache=None) -> Cohort:
    """The loaders' ``on_unreadable`` option: ``None`` returns ``cohort`` as is, ``"raise"`` /
    ``"skip"`` run :func:`paperkit.data.mri_frames.check_readable` with that policy."""
    if on_unreadable is None:
        return cohort
    from paperkit.data.mri_frames import check_readable

    return check_readable(cohort, on_unreadable, cache=cache)


def read_clinical_csv(path: str | os.PathLike, required: Sequence[str], what: str) -> pd.DataFrame:
    """Read a clinical table as strings, with the ``required`` columns under their canonical names.

    Header names are matched ignoring case and surrounding spaces (public copies of the
    OASIS tables differ in case, e.g. ``ID`` vs ``iD``) and renamed to the spelling in
    ``required``; other columns are kept as they are. Values are stripped strings, ``""``
    when empty. A missing file or column is a :class:`DataError` naming the file, the
    column, what the table should be (``what``) and the columns it does have.
    """
    p = Path(os.path.abspath(os.fspath(path)))
    if not p.is_file():
        raise DataError(f"{p}: {what} not found")
    table = read_csv_table(p, f"the {what}", dtype=str, keep_default_na=False, skipinitialspace=True)
    by_folded = {str(c).strip().lower(): c for c in table.columns}
    absent = [c for c in required if c.lower() not in by_folded]
    if absent:
        raise DataError(f"{p}: column(s) {absent} missing; expected the {what} with columns "
                        f"{list(required)}, found {[str(c) for c in table.columns]}")
    table = table.rename(columns={by_folded[c.lower()]: c for c in required})
    return table.apply(lambda column: column.str.strip())


def rows_by_key(table: pd.DataFrame, key: str, used: Sequence[str], csv: Path, *,
                normalize=lambda value: value) -> dict[str, dict]:
    """``{key value: row}`` of a clinical table (from :func:`read_clinical_csv`), duplicates checked.

    Several rows with the same ``normalize(row[key])`` must agree on every column in ``used``
    (the ones the loader reads: labels, subject, age, sex); otherwise the label of that
    image or session would depend on row order, so it is a :class:`DataError` naming the
    file, the lines, the key and the disagreeing columns. Agreeing duplicates are harmless:
    the first row is kept and one ``UserWarning`` counts them. ``normalize`` maps key
    spellings to one form and may raise ``ValueError(what is wrong)``, reported with the line.
    """
    rows: dict[str, dict] = {}
    lines: dict[str, int] = {}
    duplicates = 0
    for line, row in enumerate(table.to_dict("records"), start=2):  # line 1 is the header
        try:
            value = normalize(row[key])
        except ValueError as e:
            raise DataError(f"{csv}: line {line}: {key} {row[key]!r} {e}") from None
        if value not in rows:
            rows[value], lines[value] = row, line
            continue
        differ = [c for c in used if str(rows[value].get(c, "")) != str(row.get(c, ""))]
        if differ:
            listed = ", ".join(f"{c} {rows[value].get(c, '')!r} vs {row.get(c, '')!r}" for c in differ)
            raise DataError(f"{csv}: lines {lines[value]} and {line} both describe {key} {value} but disagree "
                            f"({listed}); expected one row per {key}")
        duplicates += 1
    if duplicates:
        warnings.warn(f"{csv}: {duplicates} duplicate row(s) (same {key}, same {', '.join(used)}) ignored",
                      UserWarning, stacklevel=3)
    return rows


def parse_age(text: str) -> float | None:
    """Age in years from a table cell, ``None`` when empty or not a number."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def parse_sex(text: str) -> str | None:
    """``"F"`` / ``"M"`` from ``F``, ``M``, ``female``, ``male`` (any case), else ``None``."""
    value = str(text).strip().upper()[:1]
    return value if value in ("F", "M") else None


# --------------------------------------------------------------------------- Table 1


def _per_subject(records: Sequence[BrainScan]) -> dict[str, BrainScan]:
    """The earliest record (youngest age, then session id) of each subject."""
    first: dict[str, BrainScan] = {}
    for r in records:
        key = (r.age if r.age is not None else math.inf, r.session, r.scan_id)
        best = first.get(r.subject)
        if best is None or key < (best.age if best.age is not None else math.inf, best.session, best.scan_id):
            first[r.subject] = r
    return first


def _summary(records: Sequence[BrainScan]) -> dict[str, Any]:
    first = _per_subject(records)
    ages = pd.Series([r.age for r in first.values() if r.age is not None], dtype=float)
    sexes = [r.sex for r in first.values()]
    return {
        "subjects": len(first),
        "sessions": len({(r.subject, r.session) for r in records}),
        "scans": len(records),
        "age_mean": round(float(ages.mean()), 1) if len(ages) else float("nan"),
        "age_sd": round(float(ages.std(ddof=1)), 1) if len(ages) > 1 else float("nan"),
        "female": sum(s == "F" for s in sexes),
        "male": sum(s == "M" for s in sexes),
    }


def cohort_table(cohort: Cohort) -> pd.DataFrame:
    """The Table 1 equivalent of ``cohort``: one row per class, then ``"all"``.

    Columns: ``subjects``, ``sessions``, ``scans``, ``age_mean``, ``age_sd``, ``female``,
    ``male``. Age and sex are per subject, taken at the subject's earliest scan in that row
    (so a subject counts once per row); NaN / 0 when the table had no such column. A
    subject whose scans carry different labels (OASIS-2 converters labelled by visit) is
    counted in both class rows and once in ``"all"``, as the paper's OASIS-2 row does.
    """
    rows = {name: _summary([r for r in cohort if r.label == i]) for i, name in enumerate(cohort.class_names)}
    rows["all"] = _summary(list(cohort))
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "class"
    return table


def exclusion_counts(cohort: Cohort) -> dict[str, int]:
    """``{reason: number of items}`` the loader left out (see :attr:`Cohort.excluded`)."""
    counts: dict[str, int] = {}
    for _, reason in cohort.excluded:
        counts[reason] = counts.get(reason, 0) + 1
    return dict(sorted(counts.items()))


def table1_row(cohort: Cohort, name: str | None = None) -> dict[str, Any]:
    """The paper's Table 1 row: ``Dataset``, ``Total subjects`` (``"97(PD):81(Control)"``,
    disease class first as in the paper), ``Total images`` and ``View``."""
    table = cohort_table(cohort)
    classes = list(cohort.class_names)[::-1]  # the paper lists the disease class first
    subjects = ":".join(f"{int(table.loc[c, 'subjects'])}({c})" for c in classes)
    return {"Dataset": name or cohort.dataset, "Total subjects": subjects,
            "Total images": int(table.loc["all", "scans"]), "View": cohort.view}


# --------------------------------------------------------------------------- split


def split_cohort(cohort: Cohort, fractions: Sequence[float] = (0.7, 0.3), *, seed: int = 0,
                 names: Sequence[str] = ("train", "test"), stratify: bool = True) -> dict[str, Cohort]:
    """Split ``cohort`` by subject (the paper's 7:3), stratified by class unless ``stratify=False``.

    Whole subjects go to one side (all their visits and scans), through
    :func:`paperkit.data.splits.subject_split` (a subject's class is its most frequent
    label); the result is checked again with :func:`check_no_overlap` before returning
    ``{name: Cohort}``, records kept in their original order.
    """
    if not cohort:
        raise ValueError(f"split_cohort: the {cohort.dataset} cohort is empty, nothing to split")
    rows = subject_split(cohort.subjects, fractions, labels=cohort.labels if stratify else None,
                         seed=seed, names=names)
    parts = {name: cohort.like([cohort[i] for i in idx]) for name, idx in rows.items()}
    check_no_overlap({name: part.subjects for name, part in parts.items()})
    return parts
