"""The rethink_transfer ledger's verdict functions on made result tables: supported, not supported, not testable."""
import pandas as pd
import pytest

from paperkit.chapters.rethink_transfer import claims


def study(*draws):
    """A Fig. 2 study table from ``(AUROC A, AUPRC A, AUROC B, AUPRC B)`` per draw."""
    rows = []
    for d, (roc_a, prc_a, roc_b, prc_b) in enumerate(draws):
        rows += [{"draw": d, "classifier": "A", "AUROC": roc_a, "AUPRC": prc_a},
                 {"draw": d, "classifier": "B", "AUROC": roc_b, "AUPRC": prc_b}]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("draws, verdict", [
    ([(0.999, 0.99, 0.991, 0.35)] * 20, True),                                        # the paper's example
    ([(0.999, 0.99, 0.991, 0.35)] * 19 + [(0.99, 0.50, 0.98, 0.45)], True),           # 95% exactly
    ([(0.999, 0.99, 0.991, 0.35)] * 18 + [(0.99, 0.50, 0.98, 0.45)] * 2, False),      # 90%
    ([(0.99, 0.50, 0.90, 0.45)] * 5, False),                                          # AUROC separates them more
])
def test_auprc_separates(draws, verdict):
    holds, text = claims.auprc_separates(study(*draws))
    assert holds is verdict and f"of {len(draws)} paired draws" in text


def test_auprc_separates_needs_both_classifiers():
    only_a = study((0.99, 0.9, 0.9, 0.3)).query("classifier == 'A'")
    assert claims.auprc_separates(only_a)[0] is None
    with pytest.raises(ValueError, match="lacks columns"):
        claims.auprc_separates(only_a.drop(columns="AUPRC"))


def results(**gaps):
    """Fine-tuning runs of two models where TL beats RI by ``gaps[f'f{fraction}']`` AUPRC."""
    rows = []
    for key, gap in gaps.items():
        fraction = float(key[1:].replace("_", "."))
        for model in ("cbr_tiny", "densenet121"):
            rows += [{"fraction": fraction, "model": model, "init": "RI", "AUPRC": 0.5},
                     {"fraction": fraction, "model": model, "init": "TL", "AUPRC": 0.5 + gap}]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("gaps, fractions, smoke, verdict", [
    ({"f1_0": 0.0, "f0_1": 0.05}, [1.0, 0.1], False, True),
    ({"f1_0": -0.05, "f0_1": 0.10}, [1.0, 0.1], False, False),
    ({"f1_0": 0.03, "f0_1": -0.01}, [1.0, 0.1], False, False),
    ({"f1_0": 0.0, "f0_1": -0.005}, [1.0, 0.1], False, None),   # a tie
    ({"f1_0": 0.0, "f0_1": 0.05}, [1.0, 0.1], True, None),      # smoke: too small
    ({"f1_0": 0.05}, [1.0], False, None),                       # one training-set size
])
def test_transfer_claim(gaps, fractions, smoke, verdict):
    holds, text = claims.transfer_claim(results(**gaps), fractions, smoke=smoke)
    assert holds is verdict and text


def test_truncated_claim_is_not_testable_in_smoke():
    ranking = pd.DataFrame({"model": ["dens_t1", "cbr_tiny"], "kind": ["truncated", "shallow"], "AUPRC": [0.6, 0.4]})
    assert claims.truncated_claim(ranking, smoke=True)[0] is None
    assert claims.truncated_claim(ranking, smoke=False)[0] is True
    ranking["AUPRC"] = [0.4, 0.6]
    assert claims.truncated_claim(ranking, smoke=False)[0] is False
