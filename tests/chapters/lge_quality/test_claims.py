"""The lge_quality ledger's verdict functions on made per-scan tables: supported, not supported, not testable."""
import numpy as np
import pandas as pd
import pytest

from paperkit.chapters.lge_quality import claims

N_BOOT = 300  # enough for these clear-cut tables, and quick


def truth(n_pos, n_neg):
    return np.r_[np.ones(n_pos, int), np.zeros(n_neg, int)]


def wrong(y, n_pos_wrong, n_neg_wrong):
    """``y`` with its first ``n_pos_wrong`` positives and first ``n_neg_wrong`` negatives predicted wrongly."""
    p = y.copy()
    p[np.flatnonzero(y == 1)[:n_pos_wrong]] = 0
    p[np.flatnonzero(y == 0)[:n_neg_wrong]] = 1
    return p


def scans(y, by="run", **predictions):
    """A scan table: ``predictions[method]`` is one prediction vector per run (or per label subset)."""
    rows = []
    for method, runs in predictions.items():
        for key, pred in runs.items():
            rows += [{"method": method, by: key, "case_id": f"c{i:03d}", "true": t, "predicted": p}
                     for i, (t, p) in enumerate(zip(y, pred))]
    return pd.DataFrame(rows)


Y40, Y12 = truth(20, 20), truth(6, 6)


def three(y, supcon, multitask, qa, runs=1):
    return scans(y, supcon_qa={r: supcon for r in range(runs)}, multitask_qa={r: multitask for r in range(runs)},
                 qa_resnet34={r: qa for r in range(runs)})


@pytest.mark.parametrize("table, smoke, verdict", [
    # clear steps on 40 scans, three runs pooled: every interval clears its margin
    (three(Y40, Y40, wrong(Y40, 6, 6), wrong(Y40, 14, 14), runs=3), False, True),
    # multi-task is clearly best: contrastive − multi-task lies below minus the margin
    (three(Y40, wrong(Y40, 14, 14), Y40, wrong(Y40, 16, 16), runs=3), False, False),
    # one scan apart on 12 scans, in every comparison: one scan cannot decide
    (three(Y12, Y12, wrong(Y12, 1, 0), wrong(Y12, 1, 1)), False, None),
    # untrained networks calling every scan diagnostic: no difference at all
    (three(Y12, np.ones(12, int), np.ones(12, int), np.ones(12, int)), False, None),
    # the test scans hold one label only
    (three(np.ones(12, int), np.ones(12, int), np.ones(12, int), np.ones(12, int)), False, None),
    (three(Y40, Y40, wrong(Y40, 6, 6), wrong(Y40, 14, 14), runs=3), True, None),        # smoke
    (three(Y40, Y40, wrong(Y40, 6, 6), wrong(Y40, 14, 14)).query("method != 'qa_resnet34'"), False, None),
])
def test_contrastive_beats_multitask(table, smoke, verdict):
    v = claims.contrastive_beats_multitask(table, smoke=smoke, n_boot=N_BOOT)
    assert v.holds is verdict and v.evidence
    if verdict is not None:
        assert v.n == 40 and v.low <= v.effect <= v.high and "run(s) pooled" in v.criterion


def test_a_single_run_better_by_one_scan_on_twelve_is_not_enough():
    """The old criterion (strict ordering of the means) called this supported."""
    v = claims.contrastive_beats_multitask(three(Y12, Y12, wrong(Y12, 1, 1), wrong(Y12, 2, 2)), smoke=False,
                                           n_boot=N_BOOT)
    assert v.holds is None and "n=12" in v.evidence


def test_methods_tested_on_different_scans_are_refused():
    table = three(Y12, Y12, Y12, Y12)
    table.loc[table.method == "qa_resnet34", "case_id"] += "x"
    with pytest.raises(ValueError, match="same scans"):
        claims.contrastive_beats_multitask(table, smoke=False, n_boot=N_BOOT)


def shares(mt, qa, area, n_scans=20, slices=3, noise=0.02, seed=0):
    """Per-slice atrium shares of ``n_scans`` scans around the given means."""
    rng = np.random.default_rng(seed)
    n = n_scans * slices
    return pd.DataFrame({"case_id": np.repeat([f"c{i}" for i in range(n_scans)], slices),
                         "true": np.repeat(np.arange(n_scans) % 2, slices),
                         "Multi-Task QA": mt + rng.normal(0, noise, n), "QA": qa + rng.normal(0, noise, n),
                         "area share": np.full(n, area)})


@pytest.mark.parametrize("table, smoke, verdict", [
    (shares(0.40, 0.20, 0.10), False, True),
    (shares(0.05, 0.20, 0.10), False, False),                   # QA looks at the atrium far more
    (shares(0.05, 0.03, 0.20), False, False),                   # below the atrium's share of the image
    (shares(0.22, 0.20, 0.10), False, None),                    # ahead of QA by less than one scan's worth (1/20)
    (shares(0.40, 0.20, 0.10, n_scans=6, noise=0.5), False, None),  # too noisy for 6 scans to tell
    (shares(0.40, 0.20, 0.10, n_scans=1), False, None),         # one scan
    (None, False, None),
    (shares(0.40, 0.20, 0.10), True, None),
])
def test_multitask_attends_atrium(table, smoke, verdict):
    v = claims.multitask_attends_atrium(table, smoke=smoke, n_boot=N_BOOT)
    assert v.holds is verdict and v.evidence


def curve(y, supcon, multitask, sizes=(8, 16)):
    table = scans(y, by="labelled scans", supcon_qa={s: supcon for s in sizes},
                  multitask_qa={s: multitask for s in sizes})
    full = scans(y, by="labelled scans", supcon_qa={40: y}, multitask_qa={40: y})
    return pd.concat([table, full])


@pytest.mark.parametrize("table, methods_kept, smoke, verdict", [
    (curve(Y40, Y40, wrong(Y40, 8, 8)), None, False, True),
    (curve(Y40, wrong(Y40, 8, 8), Y40), None, False, False),
    (curve(Y40, Y40, wrong(Y40, 8, 0)), None, False, None),     # specificity equal: not both metrics
    (curve(Y12, Y12, wrong(Y12, 1, 0), sizes=(8,)), None, False, None),   # one scan on 12: not resolved
    (curve(Y40, Y40, wrong(Y40, 8, 8), sizes=()), None, False, None),     # no subset below the full set
    (curve(Y40, Y40, wrong(Y40, 8, 8)), ["supcon_qa"], False, None),
    (curve(Y40, Y40, wrong(Y40, 8, 8)), None, True, None),
])
def test_contrastive_with_few_labels(table, methods_kept, smoke, verdict):
    if methods_kept:
        table = table[table.method.isin(methods_kept)]
    v = claims.contrastive_with_few_labels(table, 40, smoke=smoke, n_boot=N_BOOT)
    assert v.holds is verdict and v.evidence


def embedded(separation, n_scans=16, slices=3, dim=8, noise=1.0, seed=0):
    """``(frame, embedding)`` of test slices: two labels, scans alternating, centred ``separation`` apart."""
    rng = np.random.default_rng(seed)
    case_ids = np.repeat([f"c{i:02d}" for i in range(n_scans)], slices)
    labels = np.repeat(np.arange(n_scans) % 2, slices)
    centre = np.zeros((2, dim))
    centre[:, 0] = 1.0  # cosine distance needs embeddings away from the origin
    centre[1, 1] = separation
    embedding = centre[labels] + rng.normal(0, noise, (len(labels), dim)) * 0.3
    frame = pd.DataFrame({"case_id": case_ids, "slice": np.tile(np.arange(slices), n_scans), "qa_true": labels})
    return frame, embedding


def encoders(supcon, multitask, qa, **kw):
    return {"supcon_qa": embedded(supcon, seed=1, **kw), "multitask_qa": embedded(multitask, seed=2, **kw),
            "qa_resnet34": embedded(qa, seed=3, **kw)}


@pytest.mark.parametrize("table, smoke, verdict", [
    (encoders(4.0, 0.0, 0.0), False, True),                     # contrastive clusters apart, the others mixed
    (encoders(0.0, 4.0, 0.0), False, False),                    # multi-task separates, contrastive does not
    (encoders(0.0, 0.0, 4.0), False, False),                    # the baseline separates, contrastive does not
    (encoders(4.0, 3.9, 0.0), False, None),                     # as tight as multi-task: within one scan's worth
    (encoders(4.0, 0.0, 0.0, n_scans=3), False, None),          # one scan of one label
    ({k: v for k, v in encoders(4.0, 0.0, 0.0).items() if k != "qa_resnet34"}, False, None),
    (None, False, None),
    (encoders(4.0, 0.0, 0.0), True, None),                      # smoke
])
def test_contrastive_tighter_clusters(table, smoke, verdict):
    v = claims.contrastive_tighter_clusters(table, smoke=smoke, n_boot=N_BOOT)
    assert v.holds is verdict and v.evidence
    if verdict is not None:
        assert v.n == 16 and v.low <= v.effect <= v.high and "silhouette" in v.evidence


def test_silhouette_difference_is_paired_on_the_same_slices_and_uses_one_scan_as_margin():
    table = encoders(4.0, 0.0, 0.0)
    d = claims.silhouette_difference(table, "supcon_qa", "qa_resnet34", n_boot=N_BOOT)
    from sklearn.metrics import silhouette_score

    frame, emb = table["supcon_qa"]
    _, base = table["qa_resnet34"]
    expected = (silhouette_score(emb, frame["qa_true"], metric="cosine")
                - silhouette_score(base, frame["qa_true"], metric="cosine"))
    assert d.effect == pytest.approx(expected) and d.margin() == pytest.approx(2 / 16)
    shuffled = dict(table)
    shuffled["qa_resnet34"] = (table["qa_resnet34"][0].iloc[::-1].reset_index(drop=True), base)
    with pytest.raises(ValueError, match="different test slices"):
        claims.silhouette_difference(shuffled, "supcon_qa", "qa_resnet34", n_boot=N_BOOT)
