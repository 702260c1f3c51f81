"""One stratified subsampler for every caller: each caller's draw is unchanged by the merge.

The two functions below are verbatim copies of the subsamplers the chapters had before they
shared :func:`paperkit.data.subsample.stratified_subsample` (model_doctor's ``_stratified_indices``,
identical to video4mri's ``_stratified``; and the table sampler's per-stratum ``rng.choice``).
Same seed, same items: the classroom metrics depend on it.
"""
import numpy as np
import pandas as pd
import pytest

from paperkit.data.subsample import stratified_subsample


def old_limit_indices(labels, n, seed):  # model_doctor._stratified_indices == video4mri._stratified, before
    rng = np.random.default_rng(seed)
    keep = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:max(1, round(n * np.mean(labels == c)))]
                           for c in np.unique(labels)])
    return np.sort(keep)


def old_choice_indices(labels, fraction, seed, rounding="floor", min_per_stratum=0):  # single-label rows, before
    by_stratum = {}
    for unit in sorted(range(len(labels)), key=str):
        by_stratum.setdefault(str(labels[unit]), []).append(unit)
    rng = np.random.default_rng(seed)
    chosen = set()
    for stratum in sorted(by_stratum, key=str):
        members = by_stratum[stratum]
        exact = fraction * len(members)
        n = int(np.floor(exact + 1e-9)) if rounding == "floor" else int(np.floor(exact + 0.5))
        n = min(len(members), max(n, min_per_stratum))
        chosen.update(members[i] for i in rng.choice(len(members), size=n, replace=False))
    return np.array(sorted(chosen), dtype=np.int64)


def labels_for(n_classes, n, seed):
    return np.random.default_rng(100 + seed).integers(0, n_classes, n)


LIMIT_CASES = [(k, n, limit, seed) for k, n, limit in [(2, 40, 12), (2, 58, 40), (10, 300, 120), (11, 200, 25),
                                                         (12, 500, 60), (3, 9, 4), (10, 1000, 100)]
               for seed in (0, 1, 7)]


@pytest.mark.parametrize("n_classes, n, limit, seed", LIMIT_CASES)
def test_limit_draw_of_model_doctor_and_video4mri_is_unchanged(n_classes, n, limit, seed):
    labels = labels_for(n_classes, n, seed)
    new = stratified_subsample(labels, size=limit, seed=seed, rounding="half_even", min_per_stratum=1,
                               draw="permutation")
    np.testing.assert_array_equal(new, old_limit_indices(labels, limit, seed))


CHOICE_CASES = [(k, n, f, seed, r, m) for k, n, f in [(2, 50, 0.1), (11, 300, 0.05), (12, 97, 0.5)]
                for seed in (0, 3) for r, m in [("floor", 0), ("round", 1)]]


@pytest.mark.parametrize("n_classes, n, fraction, seed, rounding, min_per_stratum", CHOICE_CASES)
def test_choice_draw_is_unchanged(n_classes, n, fraction, seed, rounding, min_per_stratum):
    labels = labels_for(n_classes, n, seed)
    new = stratified_subsample(labels, fraction, seed=seed, rounding=rounding, min_per_stratum=min_per_stratum)
    np.testing.assert_array_equal(new, old_choice_indices(labels, fraction, seed, rounding, min_per_stratum))


def test_the_chapters_subsamplers_are_this_one():
    from paperkit.chapters.model_doctor import experiment as doctor
    from paperkit.chapters.video4mri import experiment as video

    labels = labels_for(10, 300, 0)
    x = np.arange(300) * 10
    vx, vy = video._stratified(x, labels, 120, seed=4)
    np.testing.assert_array_equal(vx, x[old_limit_indices(labels, 120, 4)])
    assert video._stratified(x, labels, None, seed=4)[0] is x

    class Labelled:  # the minimal dataset labels_of understands
        def __init__(self, labels):
            self.labels = labels

        def __len__(self):
            return len(self.labels)

    subset = doctor._limit(Labelled(labels), 50, seed=2)
    assert subset.indices == old_limit_indices(labels, 50, 2).tolist()


def test_arguments_are_checked():
    labels = np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="fraction or size"):
        stratified_subsample(labels)
    with pytest.raises(ValueError, match="fraction or size"):
        stratified_subsample(labels, 0.5, size=2)
    with pytest.raises(ValueError, match="draw='shuffle'"):
        stratified_subsample(labels, 0.5, draw="shuffle")
    with pytest.raises(ValueError, match="half_up"):
        stratified_subsample(labels, 0.5, rounding="half_up")
    with pytest.raises(ValueError, match="one label per row"):
        stratified_subsample(pd.DataFrame({"a": [0, 1], "b": [1, 0]}), 0.5, label_columns=["a", "b"],
                             draw="permutation")
