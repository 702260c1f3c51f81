"""The model_doctor ledger's verdict functions on made result tables: supported, not supported, not testable."""
import numpy as np
import pandas as pd
import pytest

from paperkit.chapters.model_doctor import claims


@pytest.mark.parametrize("sparsity, overlap, seen, smoke, verdict", [
    (0.20, 0.10, 6, False, True),
    (0.70, 0.10, 6, False, False),   # a class needs most kernels
    (0.20, 0.60, 6, False, False),   # classes share their kernels
    (0.20, 0.10, 1, False, None),    # one diagnosed class: nothing to compare
    (0.20, 0.10, 6, True, None),
])
def test_sparse_kernels(sparsity, overlap, seen, smoke, verdict):
    holds, text = claims.sparse_kernels(sparsity, overlap, 64, model="small_cnn", layer="conv4", classes_seen=seen,
                                        smoke=smoke)
    assert holds is verdict and text


DELTAS = (0.0, 0.1, 0.5)


def curves(normal_kept, adversarial_back):
    """Noise curves: normal images' kept share and adversarial images flipped back, per delta > 0."""
    rows = [{"kind": "normal", "delta": 0.0, "kept": 1.0, "accuracy": 1.0, "n": 12},
            {"kind": "adversarial", "delta": 0.0, "kept": 1.0, "accuracy": 0.0, "n": 12}]
    for d, k, a in zip(DELTAS[1:], normal_kept, adversarial_back):
        rows += [{"kind": "normal", "delta": d, "kept": k, "accuracy": k, "n": 12},
                 {"kind": "adversarial", "delta": d, "kept": 1 - a, "accuracy": a, "n": 12}]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("table, fooled_only, smoke, verdict", [
    (curves([0.95, 0.6], [0.6, 0.9]), True, False, True),      # delta 0.1 does it
    (curves([0.95, 0.6], [0.2, 0.9]), True, False, False),     # no delta keeps normal ones and flips adversarial ones
    (curves([0.95, 0.6], [0.6, 0.9]), False, False, None),     # FGSM fooled nothing
    (None, True, False, None),
    (curves([0.95, 0.6], [0.6, 0.9]), True, True, None),
])
def test_noise_flips_adversarial(table, fooled_only, smoke, verdict):
    holds, text = claims.noise_flips_adversarial(table, DELTAS, fooled_only=fooled_only, smoke=smoke)
    assert holds is verdict and text


def gains(rows):
    """Treatment gains per model from ``{model: (none, channel, all)}``."""
    return pd.DataFrame([{"model": m, "none": n, "channel": c, "space": np.nan, "all": a}
                         for m, (n, c, a) in rows.items()],
                        columns=["model", "none", "channel", "space", "all"]).set_index("model")


WEIGHTS = pd.DataFrame({"lambda_channel": [1.0, 10.0], "gain": [-2.0, 1.5]})


@pytest.mark.parametrize("table, weights, smoke, verdict", [
    (gains({"vgg16": (0.5, 2.0, np.nan), "resnet50": (0.0, 0.5, 1.5)}), WEIGHTS, False, True),  # +all decides resnet50
    (gains({"vgg16": (0.5, 2.0, np.nan), "resnet50": (0.0, 0.5, 0.8)}), WEIGHTS, False, False),  # resnet50 below 1
    (gains({"vgg16": (2.5, 2.0, np.nan)}), None, False, False),            # the control gains more
    # regression (issue #17): 16 models, 15 lose 5 points; the old cell judged the last model only
    (gains({**{f"m{i}": (0.0, -5.0, np.nan) for i in range(15)}, "m15": (0.0, 3.0, np.nan)}), WEIGHTS, False, False),
    # regression (issue #17): one model loses 10 points and no weight sweep; the old cell said all([]) = supported
    (gains({"small_cnn": (0.0, -10.0, np.nan)}), WEIGHTS.iloc[:1], False, False),
    (gains({"small_cnn": (0.0, -10.0, np.nan)}), None, False, False),
    (gains({}), None, False, None),                                         # nothing compared
    (gains({"small_cnn": (0.0, np.nan, np.nan)}), None, False, None),        # no +channel/+all treatment
    (gains({"vgg16": (0.5, 2.0, np.nan)}), WEIGHTS, True, None),
])
def test_treatment_improves(table, weights, smoke, verdict):
    holds, text = claims.treatment_improves(table, weights, lead="vgg16", step=0.5, smoke=smoke)
    assert holds is verdict and text


def test_treatment_improves_reports_every_model_and_the_sweep():
    _, text = claims.treatment_improves(gains({"a": (0.0, 2.0, 3.0), "b": (0.0, 1.2, np.nan)}), WEIGHTS, lead="a",
                                        step=0.5, smoke=False)
    assert "a: +all +3.00 points vs control +0.00" in text and "b: +channel +1.20" in text
    assert "weight sweep (a): best +channel +1.50 at λ=10" in text and "for every model" in text


def space(rows):
    return pd.DataFrame([{"model": m, "none": n, "channel": 0.0, "space": s, "all": 0.0}
                         for m, (n, s) in rows.items()]).set_index("model")


@pytest.mark.parametrize("table, size, masked, smoke, verdict", [
    (space({"a": (0.0, -1.0), "b": (0.0, -0.5)}), 28, True, False, True),    # small images: +space hurts
    (space({"a": (0.0, -1.0), "b": (0.0, 0.5)}), 28, True, False, False),
    (space({"a": (0.5, 2.0), "b": (0.0, 1.0)}), 96, True, False, True),      # larger images: +space helps
    (space({"a": (2.5, 2.0), "b": (0.0, 1.0)}), 96, True, False, False),     # below the control
    (space({"a": (0.5, 2.0)}), 96, False, False, None),                     # no masks
    (space({"a": (0.5, 2.0)}), 96, True, True, None),
])
def test_space_constraint(table, size, masked, smoke, verdict):
    holds, text = claims.space_constraint(table, size=size, small_images=64, synthetic=True, masked=masked, step=0.5,
                                          smoke=smoke)
    assert holds is verdict and text
