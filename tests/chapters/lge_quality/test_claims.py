"""The lge_quality ledger's verdict functions on made result tables: supported, not supported, not testable."""
import pandas as pd
import pytest

from paperkit.chapters.lge_quality import claims

METHODS = ["qa_resnet34", "multitask_qa", "supcon_qa"]


def means(f1, specificity):
    """Mean scan metrics of (contrastive, multi-task, QA)."""
    return pd.DataFrame({"f1 mean": f1, "specificity mean": specificity}, index=list(claims.RANKED))


@pytest.mark.parametrize("table, methods, smoke, verdict", [
    (means([0.76, 0.73, 0.71], [0.48, 0.44, 0.38]), METHODS, False, True),    # the paper's Table 2
    (means([0.76, 0.73, 0.71], [0.40, 0.44, 0.38]), METHODS, False, False),   # specificity out of order
    (means([0.73, 0.73, 0.71], [0.48, 0.44, 0.38]), METHODS, False, False),   # a tie is not strict
    (means([0.76, 0.73, 0.71], [0.48, 0.44, 0.38]), METHODS[:2], False, None),
    (means([0.76, 0.73, 0.71], [0.48, 0.44, 0.38]), METHODS, True, None),
])
def test_contrastive_beats_multitask(table, methods, smoke, verdict):
    holds, text = claims.contrastive_beats_multitask(table, methods, 5, smoke=smoke)
    assert holds is verdict and text


def attention(mt, qa, chance):
    return pd.DataFrame([{"model": "QA", "HiResCAM atrium share (layer3)": qa, "atrium area share (chance)": chance},
                         {"model": "Multi-Task QA", "HiResCAM atrium share (layer3)": mt,
                          "atrium area share (chance)": chance}])


@pytest.mark.parametrize("table, smoke, verdict", [
    (attention(0.40, 0.20, 0.10), False, True),
    (attention(0.15, 0.20, 0.10), False, False),   # QA looks at the atrium more
    (attention(0.08, 0.05, 0.10), False, False),   # below the atrium's share of the image
    (None, False, None),
    (attention(0.40, 0.20, 0.10), True, None),
])
def test_multitask_attends_atrium(table, smoke, verdict):
    holds, text = claims.multitask_attends_atrium(table, smoke=smoke)
    assert holds is verdict and text


def curve(*rows):
    return pd.DataFrame(rows, columns=["labelled scans", "method", "f1", "specificity"])


FULL = [(40, "supcon_qa", 0.7, 0.5), (40, "multitask_qa", 0.7, 0.5)]


@pytest.mark.parametrize("table, methods, smoke, verdict", [
    (curve(*FULL, (8, "supcon_qa", 0.6, 0.4), (8, "multitask_qa", 0.5, 0.3)), METHODS, False, True),
    (curve(*FULL, (8, "supcon_qa", 0.6, 0.2), (8, "multitask_qa", 0.5, 0.3)), METHODS, False, False),
    (curve(*FULL, (8, "supcon_qa", 0.5, 0.4), (8, "multitask_qa", 0.5, 0.3)), METHODS, False, False),  # F1 tied
    (curve(*FULL), METHODS, False, None),                                                             # no subset
    (curve(*FULL, (8, "supcon_qa", 0.6, 0.4), (8, "multitask_qa", 0.5, 0.3)), METHODS[:2], False, None),
    (curve(*FULL, (8, "supcon_qa", 0.6, 0.4), (8, "multitask_qa", 0.5, 0.3)), METHODS, True, None),
])
def test_contrastive_with_few_labels(table, methods, smoke, verdict):
    holds, text = claims.contrastive_with_few_labels(table, 40, methods, smoke=smoke)
    assert holds is verdict and text
