"""Sunnybrook splits by patient: the 2009 challenge's own sets, or a seeded random split.

The sets and where their lists come from are documented at :data:`OFFICIAL_SPLIT`; the
folder layouts in :mod:`paperkit.data.datasets.sunnybrook.layout`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from paperkit.data.io.errors import DataError
from paperkit.data.splits import Split, subject_split

__all__ = ["OFFICIAL_SPLIT", "split_patients"]

if TYPE_CHECKING:
    from paperkit.data.datasets.sunnybrook.pairing import SunnybrookSample

# The challenge's own patient lists: training / validation / online, 15 studies each.
# Sources. The challenge page (Radau et al., http://smial.sri.utoronto.ca/LV_Challenge/Data.html)
# says the 45 studies were "randomly divided into three groups" of 15 (training, testing =
# validation, online) but lists no ids; the Cardiac Atlas Project page
# (cardiacatlas.org/studies/sunnybrook-cardiac-data) gives the groups (12 HF-I, 12 HF, 12 HYP,
# 9 N), which these lists reproduce. The per-patient assignment is that of the release's own
# folders (ContoursPart3/TrainingDataContours, ContoursPart2/ValidationDataContours,
# ContoursPart1/OnlineDataContours, and challenge_training / _validation / _online), as read
# by several independent public programs: the per-set "challenge training / validation /
# online" SAX_SERIES tables of the Data Science Bowl 2015 Sunnybrook tutorials, a MATLAB
# reader that walks TrainingDataContours + challenge_training and ValidationDataContours +
# challenge_validation, scripts of a 2009 challenge entry listing its training and
# validation directories, and code reading OnlineDataContours/SC-HF-I-9 and /SC-HF-NI-14.
# They agree on every id. No organiser-published table was found: if you hold the release,
# split="official" reports which listed patients your folder holds (Split.missing) and
# load_sunnybrook records each contour's own set (SunnybrookSample.release_set).
OFFICIAL_SPLIT: dict[str, tuple[str, ...]] = {
    "training": (
        "SC-HF-I-01", "SC-HF-I-02", "SC-HF-I-04", "SC-HF-I-40",
        "SC-HF-NI-03", "SC-HF-NI-04", "SC-HF-NI-34", "SC-HF-NI-36",
        "SC-HYP-01", "SC-HYP-03", "SC-HYP-38", "SC-HYP-40",
        "SC-N-02", "SC-N-03", "SC-N-40",
    ),
    "validation": (
        "SC-HF-I-05", "SC-HF-I-06", "SC-HF-I-07", "SC-HF-I-08",
        "SC-HF-NI-07", "SC-HF-NI-11", "SC-HF-NI-31", "SC-HF-NI-33",
        "SC-HYP-06", "SC-HYP-07", "SC-HYP-08", "SC-HYP-37",
        "SC-N-05", "SC-N-06", "SC-N-07",
    ),
    "online": (
        "SC-HF-I-09", "SC-HF-I-10", "SC-HF-I-11", "SC-HF-I-12",
        "SC-HF-NI-12", "SC-HF-NI-13", "SC-HF-NI-14", "SC-HF-NI-15",
        "SC-HYP-09", "SC-HYP-10", "SC-HYP-11", "SC-HYP-12",
        "SC-N-09", "SC-N-10", "SC-N-11",
    ),
}


def split_patients(
    samples: Sequence[SunnybrookSample],
    split: str = "official",
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    seed: int = 0,
    names: Sequence[str] | None = None,
) -> Split:
    """Split samples by patient: the challenge's own sets, or a seeded random split.

    ``split="official"``: sets ``training`` / ``validation`` / ``online`` from
    :data:`OFFICIAL_SPLIT` (``fractions``, ``seed`` and ``names`` are not used); a patient
    in none of the lists (e.g. synthetic data) is an error -- use ``"random"``. The result's
    ``missing`` and :meth:`~paperkit.data.splits.Split.summary` say which listed patients are absent.

    ``split="random"``: :func:`paperkit.data.splits.subject_split` over patients with
    ``fractions`` (default 60/20/20) and ``seed``; ``names`` default to
    ``("train", "val", "test")`` for three fractions, ``("train", "test")`` for two.

    Either way the result is a :class:`~paperkit.data.splits.Split` (``subjects`` lists each set's
    patients), checked to hold no patient in two sets.
    """
    samples = list(samples)
    if not samples:
        raise ValueError("split_patients: expected at least one sample, got none")
    if split == "official":
        set_of = {p: name for name, ids in OFFICIAL_SPLIT.items() for p in ids}
        unknown = sorted({s.patient for s in samples if s.patient not in set_of})
        if unknown:
            raise DataError(
                f"split='official': patients {', '.join(unknown[:10])} are in none of the challenge's lists "
                "(training/validation/online); expected original ids such as SC-HF-I-01 -- use split='random'"
            )
        groups = {name: [s for s in samples if set_of[s.patient] == name] for name in OFFICIAL_SPLIT}
        return Split(groups, subject="patient", source="official, by patient", official=OFFICIAL_SPLIT)
    if split == "random":
        fractions = [float(f) for f in fractions]
        if names is None:
            defaults = {2: ("train", "test"), 3: ("train", "val", "test")}
            if len(fractions) not in defaults:
                raise ValueError(f"split_patients: pass names= for {len(fractions)} fractions")
            names = defaults[len(fractions)]
        rows = subject_split([s.patient for s in samples], fractions, seed=seed, names=names)
        return Split({name: [samples[i] for i in idx] for name, idx in rows.items()}, subject="patient",
                     source=f"random by patient, seed {seed}")
    raise ValueError(f"split={split!r}: expected 'official' or 'random'")
