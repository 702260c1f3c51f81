"""LA 2018 splits by subject: the stage-1 split (``train.list``/``test.list`` or random) and its parts.

The case lists are documented in :mod:`paperkit.data.datasets.la2018.layout`. The paper's QA
split is the lge_quality chapter's (:func:`paperkit.chapters.lge_quality.experiment.split_qa`),
built from :func:`split_cases` and :func:`train_val`.
"""
from __future__ import annotations

from typing import Sequence

from paperkit.data.datasets.la2018.case import LACase
from paperkit.data.splits import Split, subject_split

__all__ = ["split_cases", "split_stage1", "train_val"]


def split_cases(cases: Sequence[LACase], fractions, names, seed: int, stratify: bool) -> dict[str, list[LACase]]:
    """``{name: cases}`` by subject (:func:`~paperkit.data.splits.subject_split`), stratified by QA label if asked."""
    cases = list(cases)
    labels = [c.qa_label for c in cases] if stratify else None
    rows = subject_split([c.subject for c in cases], fractions, labels=labels, seed=seed, names=names)
    return {name: [cases[i] for i in idx] for name, idx in rows.items()}


def train_val(cases: Sequence[LACase], val_fraction: float, seed: int, stratify: bool) -> dict[str, list[LACase]]:
    """``{"train", "val"}`` by subject, ``val_fraction`` of the subjects (at least one) in val."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction={val_fraction!r}: expected a value in (0, 1)")
    n_subjects = len({c.subject for c in cases})
    if n_subjects < 2:
        raise ValueError(f"{n_subjects} subject(s) left for train and val; expected at least 2")
    # At least one validation subject on small data (10 % of 5 would round to none).
    val_fraction = max(val_fraction, 1.0 / n_subjects)
    return split_cases(cases, (1 - val_fraction, val_fraction), ("train", "val"), seed, stratify)


def split_stage1(cases: Sequence[LACase], val_fraction: float = 0.1, seed: int = 0, use_lists: bool = True,
                 test_fraction: float = 0.2) -> Split:
    """The split for the stage-1 LA UNet: ``train.list``/``test.list`` when present, else random.

    With lists: test = the present ``test.list`` cases, train/val = the present
    ``train.list`` cases split ``1 - val_fraction : val_fraction`` by subject; unlisted cases
    are left out (noted). When no ``test.list`` case is present (e.g. the 30-case sample holds
    training cases only) the split falls back to random by subject (``test_fraction`` test),
    and says so in ``notes``. Returns a :class:`~paperkit.data.splits.Split` checked for subject overlap.
    """
    cases = list(cases)
    unmasked = [c.case_id for c in cases if not c.has_mask]
    if unmasked:
        raise ValueError(f"split_stage1: case(s) {', '.join(unmasked[:5])} have no atrium mask; the stage-1 "
                         "UNet needs a mask for every case of its cohort (leave them out, or pass a cohort with masks)")
    notes = []
    if use_lists and any(c.list_name for c in cases):
        test = [c for c in cases if c.list_name == "test"]
        listed_train = [c for c in cases if c.list_name == "train"]
        unlisted = [c.case_id for c in cases if c.list_name is None]
        if unlisted:
            notes.append(f"{len(unlisted)} case(s) in neither list left out: {', '.join(unlisted[:5])}")
        if test and len(listed_train) >= 2:
            inner = train_val(listed_train, val_fraction, seed, stratify=False)
            return Split({"train": inner["train"], "val": inner["val"], "test": test}, subject="subject",
                         source="train.list / test.list", notes=notes)
        notes.append("no test.list case present; random split by subject instead")
        cases = listed_train or cases
    outer = split_cases(cases, (1 - test_fraction, test_fraction), ("rest", "test"), seed, stratify=False)
    inner = train_val(outer["rest"], val_fraction, seed + 1, stratify=False)
    return Split({"train": inner["train"], "val": inner["val"], "test": outer["test"]}, subject="subject",
                 source=f"random by subject, seed {seed}", notes=notes)
