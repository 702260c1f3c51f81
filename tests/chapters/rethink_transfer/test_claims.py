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
