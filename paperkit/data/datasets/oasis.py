"""OASIS-1 (cross-sectional) and OASIS-2 (longitudinal) brain MRI with their clinical tables.

Layouts as distributed at oasis-brains.org (fact sheets of Marcus et al. 2007, 2010; the
tables are the site's ``oasis_cross-sectional.csv`` and ``oasis_longitudinal.csv``).

OASIS-1 -- 416 subjects aged 18-96, 436 sessions (20 are reliability re-scans ``_MR2``),
Analyze 7.5 pairs, one folder per session, in twelve ``disc<k>`` archives::

    disc1/OAS1_0001_MR1/RAW/OAS1_0001_MR1_mpr-1_anon.hdr (+ .img)        # 3-4 raw MPRAGE runs
    disc1/OAS1_0001_MR1/PROCESSED/MPRAGE/SUBJ_111/OAS1_0001_MR1_mpr_n4_anon_sbj_111.hdr
    disc1/OAS1_0001_MR1/PROCESSED/MPRAGE/T88_111/OAS1_0001_MR1_mpr_n4_anon_111_t88_gfc.hdr
    disc1/OAS1_0001_MR1/PROCESSED/MPRAGE/T88_111/OAS1_0001_MR1_mpr_n4_anon_111_t88_masked_gfc.hdr
    oasis_cross-sectional.csv      # ID, M/F, Hand, Age, Educ, SES, MMSE, CDR, eTIV, nWBV, ASF, Delay

(``n4`` is the number of averaged runs, ``n3`` for some sessions.) The table's ``ID`` is
the session folder name. Labels follow the paper's use of CDR: **CDR > 0 is AD, CDR 0 is
control, and a session without CDR (the young adults) is excluded** and counted in
:attr:`Cohort.excluded`. Re-scan sessions (``_MR2``) are left out by default, so there is
one image per subject as in the paper's Table 1 (236 subjects, 236 images).

OASIS-2 -- 150 subjects aged 60-96, 373 sessions (visits), each with 3-4 raw MPRAGE runs::

    OAS2_RAW_PART1/OAS2_0001_MR1/RAW/mpr-1.nifti.hdr (+ .img) ... mpr-3.nifti.hdr
    oasis_longitudinal.csv         # Subject ID, MRI ID, Group, Visit, MR Delay, M/F, Hand, Age,
                                   # EDUC, SES, MMSE, CDR, eTIV, nWBV, ASF

The table's ``MRI ID`` is the session folder name; ``Group`` is ``Nondemented`` (72 subjects in
the public table), ``Demented`` (64) or ``Converted`` (14: control at the first visits, demented
later). ``Demented`` visits are AD and ``Nondemented`` visits control, whatever their CDR. How
``Converted`` subjects are labelled is the ``converted`` option: ``"cdr"`` (default) labels each
of their visits by that visit's CDR (> 0 AD, 0 control), so every converter is in both classes:
64 + 14 = 78 AD and 72 + 14 = 86 control subjects, 150 in all (:func:`paperkit.data.brain_mri.cohort_table`
counts a subject once per class it has scans in). ``"demented"`` gives 78 AD : 72 control,
``"nondemented"`` 64 : 86 and ``"exclude"`` 64 : 72. None of them gives the paper's Table 1 row,
80 AD : 86 control; its 86 controls match ``"cdr"``. Each MPRAGE run is one image (the paper's
1368 images); ``scans="first"`` keeps ``mpr-1`` only.

Matching is by session id; a session folder with no table row is a :class:`DataError`.
Table columns are matched ignoring case (public copies spell ``ID`` as ``iD``).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from paperkit.data.brain_mri import (
    BrainScan,
    Cohort,
    apply_unreadable_policy,
    parse_age,
    parse_sex,
    read_clinical_csv,
    rows_by_key,
)
from paperkit.data.io.errors import DataError

__all__ = ["OASIS1_COLUMNS", "OASIS1_IMAGES", "OASIS2_COLUMNS", "OASIS_CLASSES", "load_oasis1", "load_oasis2"]

OASIS_CLASSES = ("CN", "AD")
OASIS1_CSV = "oasis_cross-sectional.csv"
OASIS2_CSV = "oasis_longitudinal.csv"
OASIS1_COLUMNS = ("ID", "M/F", "Age", "CDR")
OASIS2_COLUMNS = ("Subject ID", "MRI ID", "Group", "Visit", "M/F", "Age", "CDR")

# image= choice -> glob below the session folder (Analyze header of that processing stage).
OASIS1_IMAGES = {
    "t88_masked_gfc": "PROCESSED/MPRAGE/T88_111/{session}_mpr_n*_anon_111_t88_masked_gfc.hdr",
    "t88_gfc": "PROCESSED/MPRAGE/T88_111/{session}_mpr_n*_anon_111_t88_gfc.hdr",
    "subj": "PROCESSED/MPRAGE/SUBJ_111/{session}_mpr_n*_anon_sbj_111.hdr",
    "raw": "RAW/{session}_mpr-1_anon.hdr",
}
CONVERTED_CHOICES = ("cdr", "demented", "nondemented", "exclude")

_OASIS1_SESSION = re.compile(r"^(OAS1_\d{4})_MR(\d+)$", re.IGNORECASE)
_OASIS2_SESSION = re.compile(r"^(OAS2_\d{4})_MR(\d+)$", re.IGNORECASE)
_OASIS2_SCAN = re.compile(r"^mpr-(\d+)\.nifti\.hdr$", re.IGNORECASE)
_SEARCH_DEPTH = 3  # session folders sit at most this deep below root (disc<k>/<session>)


def _sessions(root: Path, pattern: re.Pattern, dataset: str, example: str) -> dict[str, Path]:
    """``{session id: folder}`` of the session folders up to ``_SEARCH_DEPTH`` below ``root``."""
    if not root.is_dir():
        raise DataError(f"{root}: {dataset} folder not found")
    found: dict[str, Path] = {}
    level = [root]
    for _ in range(_SEARCH_DEPTH):
        below = []
        for folder in level:
            for child in sorted(folder.iterdir()):
                if not child.is_dir() or child.name.startswith("."):
                    continue
                if pattern.match(child.name):
                    same = next((f for s, f in found.items() if s.upper() == child.name.upper()), None)
                    if same is not None:
                        raise DataError(f"{child}: session {child.name} also found at {same}; expected each "
                                        "session folder once (spellings that differ only in case are one session)")
                    found[child.name] = child
                else:
                    below.append(child)
        level = below
    if not found:
        raise DataError(f"{root}: no {dataset} session folders (e.g. {example}) "
                        f"found up to {_SEARCH_DEPTH} levels below; see paperkit.data.datasets.oasis for the layout")
    return found


def _table_path(root: Path, csv_path, name: str) -> Path:
    if csv_path is not None:
        return Path(csv_path)
    for candidate in (root / name, root.parent / name):
        if candidate.is_file():
            return candidate
    raise DataError(f"{root / name}: clinical table not found (also looked in {root.parent}); "
                    f"download {name} from oasis-brains.org or pass csv_path=")


CDR_VALUES = (0.0, 0.5, 1.0, 2.0, 3.0)  # the Clinical Dementia Rating scale
_MISSING = ("", "na", "n/a", "nan")


def _cdr(text: str, where: str) -> float | None:
    """CDR of a table cell: one of :data:`CDR_VALUES`, ``None`` when blank; anything else is a DataError."""
    if str(text).strip().lower() in _MISSING:
        return None
    value = parse_age(text)
    if value not in CDR_VALUES:
        raise DataError(f"{where}: CDR {text!r}; expected one of 0, 0.5, 1, 2, 3 or blank (not rated)")
    return value


def load_oasis1(root: str | os.PathLike, *, csv_path: str | os.PathLike | None = None,
                image: str = "t88_masked_gfc", include_rescans: bool = False, view: str = "axial",
                on_unreadable: str | None = None, cache=None) -> Cohort:
    """OASIS-1 sessions in ``root`` labelled from ``oasis_cross-sectional.csv`` (module docstring).

    ``image`` picks the processing stage (:data:`OASIS1_IMAGES`; default the atlas-registered,
    bias-corrected, skull-stripped ``t88_masked_gfc``). ``csv_path`` defaults to the table in
    ``root`` or its parent. Sessions without CDR, and re-scans unless ``include_rescans``,
    are excluded and listed in :attr:`Cohort.excluded`; so are table rows without a session
    folder. The paper sliced OASIS-1 axially (Table 1). ``on_unreadable`` / ``cache``: see
    :func:`paperkit.data.brain_mri.load_brain_mri`.
    """
    if image not in OASIS1_IMAGES:
        raise ValueError(f"image={image!r}: expected one of {sorted(OASIS1_IMAGES)}")
    root = Path(os.path.abspath(os.fspath(root)))
    sessions = _sessions(root, _OASIS1_SESSION, "OASIS-1", "disc1/OAS1_0001_MR1")
    csv = _table_path(root, csv_path, OASIS1_CSV)
    table = read_clinical_csv(csv, OASIS1_COLUMNS, f"OASIS-1 table ({OASIS1_CSV})")
    rows = rows_by_key(table, "ID", ("CDR", "Age", "M/F"), csv, normalize=str.upper)

    records, excluded = [], []
    for session, folder in sessions.items():
        row = rows.get(session.upper())
        if row is None:
            raise DataError(f"{folder}: session {session} has no row in {csv}; expected its ID in the table")
        subject, visit = _OASIS1_SESSION.match(session.upper()).groups()
        if int(visit) > 1 and not include_rescans:
            excluded.append((session, "re-scan session"))
            continue
        cdr = _cdr(row["CDR"], f"{csv}: ID {session}")
        if cdr is None:
            excluded.append((session, "missing CDR"))
            continue
        pattern = OASIS1_IMAGES[image].format(session=session)
        matches = sorted(folder.glob(pattern))
        if len(matches) != 1:
            found = "none" if not matches else ", ".join(m.name for m in matches)
            raise DataError(f"{folder}: expected one {image} image {pattern}, found {found}")
        label = int(cdr > 0)
        records.append(BrainScan(subject=subject, session=session, scan_id=session, path=matches[0], label=label,
                                 label_name=OASIS_CLASSES[label], age=parse_age(row["Age"]),
                                 sex=parse_sex(row["M/F"]), clinical=dict(row)))
    excluded += [(row["ID"], "no session folder") for sid, row in sorted(rows.items())
                 if sid not in {s.upper() for s in sessions}]
    records.sort(key=lambda r: r.session)
    cohort = Cohort(records, dataset="oasis1", class_names=OASIS_CLASSES, view=view, source=csv, excluded=excluded)
    return apply_unreadable_policy(cohort, on_unreadable, cache)


def _oasis2_label(group: str, cdr: float | None, converted: str, where: str) -> int | str:
    """Label of one visit, or the reason it is excluded."""
    g = group.lower()
    if g == "demented":
        return 1
    if g == "nondemented":
        return 0
    if g != "converted":
        raise DataError(f"{where}: Group {group!r}; expected Demented, Nondemented or Converted")
    if converted == "exclude":
        return "converted subject"
    if converted == "demented":
        return 1
    if converted == "nondemented":
        return 0
    return "converted visit without CDR" if cdr is None else int(cdr > 0)


def load_oasis2(root: str | os.PathLike, *, csv_path: str | os.PathLike | None = None,
                converted: str = "cdr", scans: str = "all", view: str = "sagittal",
                on_unreadable: str | None = None, cache=None) -> Cohort:
    """OASIS-2 MPRAGE runs in ``root`` labelled from ``oasis_longitudinal.csv`` (module docstring).

    ``converted`` is one of :data:`CONVERTED_CHOICES` (how ``Group == "Converted"`` visits are
    labelled); ``scans`` is ``"all"`` (every ``mpr-<n>`` run is one image, as in the paper) or
    ``"first"``. Subjects are the table's ``Subject ID``, so a split keeps all visits of a
    subject together. The paper sliced OASIS-2 sagittally (Table 1). ``on_unreadable`` /
    ``cache``: see :func:`paperkit.data.brain_mri.load_brain_mri`. The synthetic cohort of
    :mod:`paperkit.data.synthetic.brain` is written in this layout and read with this loader.
    """
    if converted not in CONVERTED_CHOICES:
        raise ValueError(f"converted={converted!r}: expected one of {CONVERTED_CHOICES}")
    if scans not in ("all", "first"):
        raise ValueError(f"scans={scans!r}: expected 'all' or 'first'")
    root = Path(os.path.abspath(os.fspath(root)))
    sessions = _sessions(root, _OASIS2_SESSION, "OASIS-2", "OAS2_RAW_PART1/OAS2_0001_MR1")
    csv = _table_path(root, csv_path, OASIS2_CSV)
    table = read_clinical_csv(csv, OASIS2_COLUMNS, f"OASIS-2 table ({OASIS2_CSV})")
    rows = rows_by_key(table, "MRI ID", ("Subject ID", "Group", "CDR", "Age", "M/F"), csv, normalize=str.upper)

    records, excluded = [], []
    for session, folder in sessions.items():
        row = rows.get(session.upper())
        if row is None:
            raise DataError(f"{folder}: session {session} has no row in {csv}; expected its MRI ID in the table")
        if row["Subject ID"] != _OASIS2_SESSION.match(session).group(1):
            raise DataError(f"{csv}: MRI ID {session} belongs to Subject ID {row['Subject ID']!r}; expected "
                            f"{_OASIS2_SESSION.match(session).group(1)!r}")
        where = f"{csv}: MRI ID {session}"
        label = _oasis2_label(row["Group"], _cdr(row["CDR"], where), converted, where)
        if isinstance(label, str):
            excluded.append((session, label))
            continue
        runs = sorted(((int(m.group(1)), p) for p in (folder / "RAW").glob("*.hdr")
                       if (m := _OASIS2_SCAN.match(p.name))), key=lambda t: t[0])
        if not runs:
            raise DataError(f"{folder / 'RAW'}: expected MPRAGE runs mpr-<n>.nifti.hdr (+ .img), found none")
        for number, path in runs[:1] if scans == "first" else runs:
            records.append(BrainScan(subject=row["Subject ID"], session=session, scan_id=f"{session}/mpr-{number}",
                                     path=path, label=label, label_name=OASIS_CLASSES[label],
                                     age=parse_age(row["Age"]), sex=parse_sex(row["M/F"]), clinical=dict(row)))
    excluded += [(row["MRI ID"], "no session folder") for sid, row in sorted(rows.items())
                 if sid not in {s.upper() for s in sessions}]
    records.sort(key=lambda r: (r.subject, r.session, r.scan_id))
    cohort = Cohort(records, dataset="oasis2", class_names=OASIS_CLASSES, view=view, source=csv, excluded=excluded)
    return apply_unreadable_policy(cohort, on_unreadable, cache)
