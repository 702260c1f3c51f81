"""subject_split / check_no_overlap: whole subjects per split, stratified, reproducible."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from paperkit.data import DataError, SubjectLeakError, check_no_overlap, subject_split


def _oasis2_like(n_subjects=60, seed=0):
    """Rows = visits; 1-5 visits per subject; ~1/3 of subjects demented (label 1)."""
    rng = np.random.default_rng(seed)
    subjects, labels = [], []
    for i in range(n_subjects):
        label = int(rng.random() < 0.35)
        for _ in range(rng.integers(1, 6)):
            subjects.append(f"OAS2_{i:04d}")
            labels.append(label)
    return np.array(subjects), np.array(labels)


def _subject_sets(split, subjects):
    return {name: set(subjects[rows]) for name, rows in split.items()}


def test_subjects_never_overlap_and_every_row_is_assigned_once():
    subjects, _ = _oasis2_like()
    split = subject_split(subjects, (0.6, 0.2, 0.2), names=("train", "val", "test"))
    rows = np.concatenate(list(split.values()))
    assert sorted(rows.tolist()) == list(range(len(subjects)))
    sets = _subject_sets(split, subjects)
    assert not (sets["train"] & sets["val"] or sets["train"] & sets["test"] or sets["val"] & sets["test"])
    # Every row of a subject goes with it.
    for name, rows in split.items():
        for s in sets[name]:
            assert set(np.flatnonzero(subjects == s)) <= set(rows.tolist())
    assert [len(sets[n]) for n in ("train", "val", "test")] == [36, 12, 12]


def test_stratification_keeps_each_class_within_one_subject_of_its_share():
    subjects, labels = _oasis2_like(n_subjects=47, seed=3)
    # One subject with mixed visit labels: its majority label (1) is what counts.
    subjects = np.append(subjects, ["MIXED"] * 3)
    labels = np.append(labels, [1, 1, 0])
    fractions = (0.5, 0.3, 0.2)
    label_of = {s: Counter(labels[subjects == s]).most_common(1)[0][0] for s in set(subjects)}
    assert label_of["MIXED"] == 1
    class_sizes = Counter(label_of.values())
    for seed in range(5):
        split = subject_split(subjects, fractions, labels=labels, seed=seed, names=("a", "b", "c"))
        for (name, rows), fraction in zip(split.items(), fractions):
            per_class = Counter(label_of[s] for s in set(subjects[rows]))
            for c, size in class_sizes.items():
                assert abs(per_class[c] - fraction * size) < 1, (seed, name, c, per_class)


def test_subject_label_is_the_majority_of_its_rows():
    # Every subject has mixed visit labels; only the majority puts 4 subjects in each class.
    subjects = [f"S{i}" for i in range(8) for _ in range(3)]
    labels = [v for i in range(8) for v in ((1, 1, 0) if i < 4 else (0, 0, 1))]
    for seed in range(10):
        split = subject_split(subjects, (0.5, 0.5), labels=labels, seed=seed)
        for rows in split.values():
            majority_one = {subjects[r] for r in rows} & {"S0", "S1", "S2", "S3"}
            assert len(majority_one) == 2, (seed, rows)


def test_same_seed_same_split_other_seed_differs_and_row_order_does_not_matter():
    subjects, labels = _oasis2_like()
    a = subject_split(subjects, labels=labels, seed=7)
    b = subject_split(subjects, labels=labels, seed=7)
    c = subject_split(subjects, labels=labels, seed=8)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["test"], c["test"])
    # Shuffling the table's rows gives the same subjects per split.
    perm = np.random.default_rng(0).permutation(len(subjects))
    d = subject_split(subjects[perm], labels=labels[perm], seed=7)
    assert _subject_sets(a, subjects) == _subject_sets(d, subjects[perm])


def test_returned_rows_are_sorted_int_indices():
    split = subject_split(["s1", "s1", "s2", "s3", "s3", "s4"], (0.5, 0.5))
    for rows in split.values():
        assert rows.dtype == np.int64 and np.all(np.diff(rows) > 0)


@pytest.mark.parametrize(
    "fractions, names, message",
    [
        ((0.7, 0.2), ("train", "test"), "sum to 1"),
        ((1.0, 0.0), ("train", "test"), "positive"),
        ((0.9, 0.1), ("train", "test"), "'test' would get no subjects"),
        ((0.5, 0.5), ("train",), "2 fractions but 1 names"),
        ((0.5, 0.5), ("x", "x"), "unique"),
    ],
)
def test_bad_fractions_are_refused(fractions, names, message):
    with pytest.raises(ValueError, match=message):
        subject_split(["a", "b", "c", "c"], fractions, names=names)


def test_label_count_must_match_rows():
    with pytest.raises(ValueError, match="2 labels for 3 rows"):
        subject_split(["a", "b", "c"], labels=[0, 1])


def test_check_no_overlap_names_leaking_subjects_and_splits():
    check_no_overlap({"train": ["a", "a", "b"], "test": ["c"]})  # repeats within a split are fine
    with pytest.raises(SubjectLeakError, match=r"1 subject\(s\).*'b' in train\+test") as info:
        check_no_overlap({"train": ["a", "b"], "val": ["c"], "test": ["b", "d"]})
    assert isinstance(info.value, DataError) and isinstance(info.value, ValueError)


def test_check_no_overlap_shows_first_ten_of_many_leaks():
    ids = [f"S{i:02d}" for i in range(15)]
    with pytest.raises(SubjectLeakError) as info:
        check_no_overlap({"train": ids, "test": ids})
    message = str(info.value)
    assert "15 subject(s)" in message and "'S09'" in message and "'S10'" not in message
    assert "(and 5 more)" in message


# --------------------------------------------------------------------------- the Split container


def test_split_of_items_and_of_tables_knows_its_subjects_and_refuses_overlap():
    from types import SimpleNamespace

    import pandas as pd

    from paperkit.data.splits import Split

    def item(case, subject):
        return SimpleNamespace(case_id=case, subject=subject)

    split = Split({"train": [item("a", "P2"), item("b", "P1"), item("c", "P2")], "test": [item("d", "P3")]},
                  subject="subject", source="random by subject, seed 0", notes=["a note"])
    assert split.subjects == {"train": ["P1", "P2"], "test": ["P3"]}
    assert split.ids("case_id") == {"train": ["a", "b", "c"], "test": ["d"]}
    assert split.summary() == "split (random by subject, seed 0): train 3, test 1\n  note: a note"
    assert split.dropped is None and split.official is None and split.missing is None

    tables = Split({"train": pd.DataFrame({"patient": ["x", "y"]}), "test": pd.DataFrame({"patient": ["z"]})},
                   subject="patient", source="by patient", official={"train": ["x", "w"], "test": ["z"]})
    assert tables.subjects == {"train": ["x", "y"], "test": ["z"]}
    assert tables.missing == {"train": ["w"], "test": []}
    assert "1 of the official 2 absent" in tables.summary() and "all 1 official subjects present" in tables.summary()
    with pytest.raises(SubjectLeakError, match="'x' in train\\+test"):
        Split({"train": pd.DataFrame({"patient": ["x"]}), "test": pd.DataFrame({"patient": ["x"]})},
              subject="patient", source="leaky")
