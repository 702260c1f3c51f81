"""The rethink_transfer ledger's verdict functions on made results: supported, not supported, not testable."""
import numpy as np
import pandas as pd
import pytest

from paperkit.chapters.rethink_transfer import claims

N_BOOT = 300  # enough for these clear-cut cases, and quick


def study(*draws):
    """A Fig. 2 study table from ``(AUROC A, AUPRC A, AUROC B, AUPRC B)`` per draw."""
    rows = []
    for d, (roc_a, prc_a, roc_b, prc_b) in enumerate(draws):
        rows += [{"draw": d, "classifier": "A", "AUROC": roc_a, "AUPRC": prc_a},
                 {"draw": d, "classifier": "B", "AUROC": roc_b, "AUPRC": prc_b}]
    return pd.DataFrame(rows)


PAPER, MIXED, AUROC_WINS = (0.999, 0.99, 0.991, 0.35), (0.99, 0.50, 0.98, 0.45), (0.99, 0.50, 0.90, 0.45)


@pytest.mark.parametrize("draws, verdict", [
    ([PAPER] * 100, True),                       # every draw of 100: the exact interval's low end is above 95%
    ([PAPER] * 20, None),                        # every draw of 20: too few draws to show 95%
    ([PAPER] * 95 + [MIXED] * 5, None),          # 95% measured, but the interval straddles 95%
    ([PAPER] * 85 + [MIXED] * 15, False),        # clearly fewer than 95% of the draws
    ([AUROC_WINS] * 5, False),                   # AUROC separates them more, in every draw
])
def test_auprc_separates(draws, verdict):
    v = claims.auprc_separates(study(*draws))
    assert v.holds is verdict and f"of {len(draws)} paired draws" in v.evidence and v.n == len(draws)


def test_auprc_separates_needs_both_classifiers():
    only_a = study(PAPER).query("classifier == 'A'")
    assert claims.auprc_separates(only_a).holds is None
    with pytest.raises(ValueError, match="lacks columns"):
        claims.auprc_separates(only_a.drop(columns="AUPRC"))


RNG = np.random.default_rng(0)
Y = (RNG.random((400, 3)) < [0.3, 0.2, 0.1]).astype(int)
GOOD = Y + RNG.normal(0, 0.3, Y.shape)       # ranks positives first, mostly
BAD = RNG.random(Y.shape)                    # ranks at random
OK = Y + RNG.normal(0, 0.3, Y.shape)         # as good as GOOD, other noise


def runs(table):
    """Fine-tuning runs from ``{(fraction, init): scores}``, two models sharing the scores."""
    return pd.DataFrame([{"fraction": f, "model": m, "init": init, "repeat": 0, "y_score": s}
                         for (f, init), s in table.items() for m in ("cbr_tiny", "densenet121")])


@pytest.mark.parametrize("table, fractions, smoke, verdict", [
    ({(1.0, "TL"): GOOD, (1.0, "RI"): OK, (0.1, "TL"): GOOD, (0.1, "RI"): BAD}, [1.0, 0.1], False, True),
    ({(1.0, "TL"): BAD, (1.0, "RI"): GOOD, (0.1, "TL"): GOOD, (0.1, "RI"): BAD}, [1.0, 0.1], False, False),
    ({(1.0, "TL"): GOOD, (1.0, "RI"): OK, (0.1, "TL"): BAD, (0.1, "RI"): GOOD}, [1.0, 0.1], False, False),
    ({(1.0, "TL"): GOOD, (1.0, "RI"): OK, (0.1, "TL"): GOOD, (0.1, "RI"): OK}, [1.0, 0.1], False, None),  # a tie
    ({(1.0, "TL"): GOOD, (1.0, "RI"): OK, (0.1, "TL"): GOOD, (0.1, "RI"): BAD}, [1.0, 0.1], True, None),  # smoke
    ({(1.0, "TL"): GOOD, (1.0, "RI"): OK}, [1.0], False, None),      # one training-set size
    ({(1.0, "TL"): BAD, (1.0, "RI"): GOOD}, [1.0], False, False),    # ... where TL already trails
])
def test_transfer_claim(table, fractions, smoke, verdict):
    v = claims.transfer_claim(Y, runs(table), fractions, smoke=smoke, n_boot=N_BOOT)
    assert v.holds is verdict and v.evidence
    if not smoke:
        assert v.n == 400 and v.low <= v.effect <= v.high


def test_transfer_on_a_dozen_images_one_image_apart_is_not_testable():
    y = np.c_[np.r_[np.ones(4, int), np.zeros(8, int)]]
    tl = -np.arange(12.0)[:, None]            # positives ranked first
    ri = tl.copy()
    ri[4] = 10.0                              # one negative on top
    table = {(1.0, "TL"): tl, (1.0, "RI"): tl, (0.1, "TL"): tl, (0.1, "RI"): ri}
    v = claims.transfer_claim(y, runs(table), [1.0, 0.1], smoke=False, n_boot=N_BOOT)
    assert v.holds is None and "n=12" in v.evidence


def test_a_match_within_a_margin_wider_than_max_match_margin_is_not_testable():
    small = slice(0, 60)  # 60 images: one of them moves the mean AUPRC by more than MAX_MATCH_MARGIN
    table = {(1.0, "TL"): GOOD[small], (1.0, "RI"): OK[small], (0.1, "TL"): GOOD[small], (0.1, "RI"): BAD[small]}
    v = claims.transfer_claim(Y[small], runs(table), [1.0, 0.1], smoke=False, n_boot=N_BOOT)
    assert v.holds is None


KINDS = {"dens_t1": "truncated", "res_t2": "truncated", "densenet121": "deep", "cbr_tiny": "shallow"}


@pytest.mark.parametrize("scores, verdict", [
    ({"dens_t1": GOOD, "densenet121": BAD, "cbr_tiny": BAD}, True),
    ({"dens_t1": BAD, "res_t2": BAD, "densenet121": BAD, "cbr_tiny": GOOD}, False),  # the shallow model leads
    ({"dens_t1": GOOD, "densenet121": OK, "cbr_tiny": BAD}, None),                    # as good: a tie
    ({"dens_t1": GOOD, "densenet121": GOOD}, None),                                   # identical predictions
    ({"densenet121": GOOD, "cbr_tiny": BAD}, None),                                   # no truncated model
    ({"dens_t1": GOOD}, None),                                                        # nothing to compare with
])
def test_truncated_best(scores, verdict):
    v = claims.truncated_best(Y, scores, KINDS, n_boot=N_BOOT)
    assert v.holds is verdict and v.evidence


def test_truncated_best_names_the_two_models_it_compares():
    v = claims.truncated_best(Y, {"dens_t1": BAD, "res_t2": GOOD, "cbr_tiny": OK}, KINDS, n_boot=N_BOOT)
    assert "mean_auprc res_t2 − cbr_tiny (shallow)" in v.evidence
    with pytest.raises(ValueError, match="no kind"):
        claims.truncated_best(Y, {"vit": GOOD}, KINDS)


def test_truncated_claim_is_not_testable_in_smoke():
    scores = {"dens_t1": GOOD, "cbr_tiny": BAD}
    assert claims.truncated_claim(Y, scores, KINDS, smoke=True, n_boot=N_BOOT).holds is None
    assert claims.truncated_claim(Y, scores, KINDS, smoke=False, n_boot=N_BOOT).holds is True


# --------------------------------------------------------------------------- weight sources


MIXED = {"cbr_tiny": "synthetic substitute", "densenet121": "ImageNet"}


def test_a_comparison_mixing_weight_sources_is_not_testable():
    table = {(1.0, "TL"): GOOD, (1.0, "RI"): OK, (0.1, "TL"): GOOD, (0.1, "RI"): BAD}
    assert claims.transfer_claim(Y, runs(table), [1.0, 0.1], smoke=False, n_boot=N_BOOT).holds is True
    v = claims.transfer_claim(Y, runs(table), [1.0, 0.1], smoke=False, kinds=MIXED, n_boot=N_BOOT)
    assert v.holds is None and "synthetic substitute: cbr_tiny" in v.evidence and "ImageNet: densenet121" in v.evidence
    same = {"cbr_tiny": "ImageNet", "densenet121": "ImageNet"}
    assert claims.transfer_claim(Y, runs(table), [1.0, 0.1], smoke=False, kinds=same, n_boot=N_BOOT).holds is True
    scores = {"dens_t1": GOOD, "cbr_tiny": BAD}
    sources = {"dens_t1": "ImageNet", "cbr_tiny": "synthetic substitute"}
    assert claims.truncated_claim(Y, scores, KINDS, smoke=False, sources=sources, n_boot=N_BOOT).holds is None
    assert claims.mixed_sources(sources, ["dens_t1"]) is None and claims.mixed_sources(None) is None


# --------------------------------------------------------------------------- §3.1: deep vs shallow


DEPTH = {"cbr_tiny": "shallow", "cbr_small": "shallow", "densenet121": "deep", "dens_t1": "truncated"}


def depth_runs(deep, shallow):
    """Runs of one deep, one truncated and one shallow model: ``deep``/``shallow`` map init -> scores."""
    rows = [{"fraction": 1.0, "model": m, "init": init, "repeat": 0, "y_score": s}
            for m, table in (("densenet121", deep), ("dens_t1", deep), ("cbr_tiny", shallow))
            for init, s in table.items()]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("deep, verdict", [
    ({"TL": GOOD, "RI": BAD}, True),
    ({"TL": BAD, "RI": GOOD}, False),
    ({"TL": GOOD, "RI": OK}, None),
])
def test_tl_beats_ri_on_deep_models(deep, verdict):
    v = claims.tl_vs_ri_by_depth(Y, depth_runs(deep, {"TL": GOOD, "RI": GOOD}), DEPTH, group="deep", fraction=1.0,
                                 smoke=False, n_boot=N_BOOT)
    assert v.holds is verdict and "dens_t1, densenet121" in v.evidence


NEAR = GOOD + RNG.normal(0, 0.01, Y.shape)     # a hair away from GOOD
MEH = Y + np.random.default_rng(5).normal(0, 0.4, Y.shape)   # somewhat worse than GOOD


@pytest.mark.parametrize("shallow, verdict", [
    ({"TL": GOOD, "RI": NEAR}, True),             # within the paper's largest repeat sd
    ({"TL": GOOD, "RI": BAD}, False),             # far apart
    ({"TL": GOOD, "RI": MEH}, None),              # the interval reaches past the margin (one image's worth here)
])
def test_tl_and_ri_are_close_on_shallow_models(shallow, verdict):
    v = claims.tl_vs_ri_by_depth(Y, depth_runs({"TL": GOOD, "RI": BAD}, shallow), DEPTH, group="shallow",
                                 fraction=1.0, smoke=False, n_boot=N_BOOT)
    assert v.holds is verdict


def test_depth_claims_are_not_testable_without_the_group_in_smoke_or_with_mixed_sources():
    only_deep = depth_runs({"TL": GOOD, "RI": BAD}, {}).query("model != 'cbr_tiny'")
    assert claims.tl_vs_ri_by_depth(Y, only_deep, DEPTH, group="shallow", fraction=1.0, smoke=False).holds is None
    both = depth_runs({"TL": GOOD, "RI": BAD}, {"TL": GOOD, "RI": BAD})
    assert claims.tl_vs_ri_by_depth(Y, both, DEPTH, group="deep", fraction=1.0, smoke=True).holds is None
    mixed = {"densenet121": "ImageNet", "dens_t1": "synthetic substitute"}
    assert claims.tl_vs_ri_by_depth(Y, both, DEPTH, group="deep", fraction=1.0, smoke=False, kinds=mixed,
                                    n_boot=N_BOOT).holds is None
    with pytest.raises(ValueError, match="group='middle'"):
        claims.tl_vs_ri_by_depth(Y, both, DEPTH, group="middle", fraction=1.0, smoke=False)


def test_the_close_margin_is_the_papers_largest_repeat_sd():
    from paperkit import reference

    ref = reference.load("rethink_transfer", metric="largest std over 3 repeats")
    assert claims.CLOSE_MARGIN == ref.loc[ref.source == "§3.1, Fig. 3", "value"].item()


# --------------------------------------------------------------------------- §4: rare labels


def rare_case(n_neg_per_pos, n_pos, top):
    """One label, ``n_pos`` positives among ``n_pos * n_neg_per_pos`` negatives, each positive ranked just below
    ``top`` negatives (so AUROC is high and precision stays low when ``top`` is large)."""
    n_neg = n_pos * n_neg_per_pos
    y = np.r_[np.zeros(top, int), np.ones(n_pos, int), np.zeros(n_neg - top, int)]
    return y[:, None], -np.arange(len(y), dtype=float)[:, None]


@pytest.mark.parametrize("top, verdict", [
    (400, True),      # 400 negatives above every positive of 20 (1:80): AUROC ~0.75, AUPRC ~0.05
    (0, False),       # positives ranked first: AUROC 1 and AUPRC 1, no gap
    (1300, None),     # positives ranked low: AUROC ~0.19, the premise (a decent AUROC) fails
])
def test_rare_label_gap(top, verdict):
    y, s = rare_case(80, 20, top)
    v = claims.rare_label_gap(y, s, ["Pleural Other"], rare_ratio=19.8, auroc_above=0.6, auprc_below=0.2,
                              n_boot=300)
    assert v.holds is verdict and "Pleural Other (1:80.0, 20 positives)" in v.evidence


def test_rare_label_gap_without_a_rare_label_is_not_testable():
    y, s = rare_case(5, 50, 10)
    v = claims.rare_label_gap(y, s, ["Edema"], rare_ratio=19.8, auroc_above=0.6, auprc_below=0.2, n_boot=300)
    assert v.holds is None and "as rare as 1:19.8" in v.evidence
    with pytest.raises(ValueError, match="must both be"):
        claims.rare_label_gap(y, s[:5], ["Edema"], rare_ratio=19.8, auroc_above=0.6, auprc_below=0.2)
