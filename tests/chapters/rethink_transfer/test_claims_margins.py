"""The rethink_transfer chapter's verdict on 'a truncated pretrained network is best', with its tie margin."""
import pandas as pd
import pytest

from paperkit.chapters.rethink_transfer import claims


def ranking(**auprc):
    kinds = {"dens_t1": "truncated", "res_t2": "truncated", "densenet121": "deep", "cbr_tiny": "shallow"}
    return pd.DataFrame([{"model": m, "kind": kinds[m], "AUPRC": v} for m, v in auprc.items()])


def test_a_clear_lead_decides_either_way():
    holds, text = claims.truncated_best(ranking(dens_t1=0.50, densenet121=0.45, cbr_tiny=0.40))
    assert holds is True and "dens_t1 0.500 vs best other densenet121 (deep) 0.450" in text
    holds, _ = claims.truncated_best(ranking(dens_t1=0.20, res_t2=0.30, cbr_tiny=0.47))
    assert holds is False  # the best truncated one (res_t2) trails the shallow model


def test_a_lead_within_the_margin_is_a_tie():
    holds, text = claims.truncated_best(ranking(dens_t1=0.965, densenet121=0.957, cbr_tiny=0.957))
    assert holds is None and "a tie" in text
    holds, _ = claims.truncated_best(ranking(dens_t1=0.965, densenet121=0.957), margin=0.005)
    assert holds is True


def test_no_comparison_without_both_kinds():
    assert claims.truncated_best(ranking(densenet121=0.5, cbr_tiny=0.4))[0] is None
    assert claims.truncated_best(ranking(dens_t1=0.5))[0] is None
    with pytest.raises(ValueError, match="lacks columns"):
        claims.truncated_best(pd.DataFrame({"model": ["a"], "AUPRC": [0.1]}))


@pytest.mark.parametrize("rich, poor, verdict", [
    (0.00, 0.05, True),      # TL matches RI with all data and helps more with little
    (-0.05, 0.10, False),    # TL trails RI with all data
    (0.028, -0.006, False),  # the edge shrinks with little data (the synthetic classroom run)
    (0.000, -0.007, None),   # within the margin: a tie (the PneumoniaMNIST classroom run)
])
def test_transfer_claim_verdicts(rich, poor, verdict):
    assert claims.transfer_at_least_matches(rich, poor) is verdict
