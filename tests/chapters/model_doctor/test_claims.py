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


@pytest.mark.parametrize("frame, n, fooled_only, smoke, verdict", [
    (curves([1.0, 0.6], [0.8, 0.9]), 100, True, False, True),      # delta 0.1 does it, on 100 images
    (curves([0.95, 0.6], [0.6, 0.9]), 12, True, False, None),      # the same shares on 12 images: undecided
    (curves([0.95, 0.6], [0.2, 0.9]), 100, True, False, False),    # no delta keeps normal ones and flips adversarial
    (curves([0.95, 0.6], [0.6, 0.9]), 100, False, False, None),    # FGSM fooled nothing
    (None, 100, True, False, None),
    (curves([1.0, 0.6], [0.8, 0.9]), 100, True, True, None),       # smoke
])
def test_noise_flips_adversarial(frame, n, fooled_only, smoke, verdict):
    frame = None if frame is None else frame.assign(n=n)
    result = claims.noise_flips_adversarial(frame, DELTAS, fooled_only=fooled_only, smoke=smoke)
    assert result.holds is verdict and result.evidence and result.criterion


def test_share_interval():
    low, high = claims.share_interval(0.5, 100)
    assert 0.39 < low < 0.41 and 0.59 < high < 0.61
    assert claims.share_interval(1.0, 10)[1] == pytest.approx(1.0) and claims.share_interval(0.0, 10)[0] == 0.0
    with pytest.raises(ValueError, match="at least one image"):
        claims.share_interval(0.5, 0)


def conditions(model, n=300, base=0.8, classes=3, **treated):
    """Per-image predictions of ``model``: the base right on the first ``base`` share of ``n`` images; each
    condition in ``treated`` (a change in images: +k fixes k images the base got wrong, -k breaks k it got right)."""
    label = np.arange(n) % classes
    right = np.arange(n) < round(base * n)
    rows = [pd.DataFrame({"model": model, "condition": "base", "item": np.arange(n), "label": label,
                          "predicted": np.where(right, label, (label + 1) % classes)})]
    for condition, change in treated.items():
        ok = right.copy()
        if change > 0:
            ok[np.flatnonzero(~right)[:change]] = True
        elif change < 0:
            ok[np.flatnonzero(right)[:-change]] = False
        rows.append(pd.DataFrame({"model": model, "condition": condition, "item": np.arange(n), "label": label,
                                  "predicted": np.where(ok, label, (label + 1) % classes)}))
    return pd.concat(rows, ignore_index=True)


def table(*parts):
    return pd.concat(parts, ignore_index=True) if parts else conditions("x").iloc[:0]


WEIGHTS = pd.DataFrame({"lambda_channel": [1.0, 10.0], "gain": [-2.0, 1.5]})


@pytest.mark.parametrize("predictions, weights, smoke, verdict", [
    # +6 points of 300 images over the base and over the control, for both models: supported
    (table(conditions("vgg16", none=0, channel=18), conditions("resnet50", none=3, channel=3, all=21)), WEIGHTS,
     False, True),
    # resnet50's +all (decided in advance) gains less than a point; its better +channel does not count
    (table(conditions("vgg16", none=0, channel=18), conditions("resnet50", none=0, channel=30, all=-9)), WEIGHTS,
     False, False),
    (table(conditions("vgg16", none=20, channel=18)), None, False, None),     # +6 points; the control 2 images more
    (table(conditions("vgg16", none=60, channel=18)), None, False, False),   # the control gains far more
    # regression (issue #17): 16 models, 15 lose 5 points; the old cell judged the last model only
    (table(*[conditions(f"m{i}", none=0, channel=-15) for i in range(15)], conditions("m15", none=0, channel=9)),
     WEIGHTS, False, False),
    # regression (issue #17): one model loses 10 points, with and without a weight sweep
    (table(conditions("small_cnn", none=0, channel=-30)), WEIGHTS.iloc[:1], False, False),
    (table(conditions("small_cnn", none=0, channel=-30)), None, False, False),
    # one image of difference on a 20-image test set: the margin is one image, nothing is decided
    (table(conditions("small_cnn", n=20, none=0, channel=1)), None, False, None),
    (table(), None, False, None),                                              # nothing compared
    (table(conditions("small_cnn", none=0)), None, False, None),              # no +channel/+all treatment
    (table(conditions("small_cnn", channel=18)), None, False, None),          # no control
    (table(conditions("vgg16", none=0, channel=18)), WEIGHTS, True, None),    # smoke
])
def test_treatment_improves(predictions, weights, smoke, verdict):
    result = claims.treatment_improves(predictions, weights, lead="vgg16", smoke=smoke)
    assert result.holds is verdict and result.evidence and result.criterion


def test_treatment_improves_reports_every_model_the_interval_and_the_sweep():
    result = claims.treatment_improves(table(conditions("a", none=0, channel=9, all=18),
                                             conditions("b", none=0, channel=-15)), WEIGHTS, lead="a", smoke=False)
    assert result.holds is False and "a +all:" in result.evidence and "b +channel:" in result.evidence
    assert "accuracy b +channel − b base = -0.050" in result.evidence and result.effect == pytest.approx(-0.05)
    assert result.low <= result.effect <= result.high and result.n == 300
    assert "+1.50 points at λ=10" in result.evidence and "for every model" in result.criterion


def test_paired_difference_needs_the_same_images():
    frame = conditions("a", channel=3)
    frame.loc[(frame.condition == "channel") & (frame["item"] == 0), "label"] = 2
    with pytest.raises(ValueError, match="different test images"):
        claims.paired_difference(frame, "a", "channel", "base")


@pytest.mark.parametrize("predictions, size, masked, smoke, verdict", [
    (table(conditions("a", space=-18), conditions("b", space=-24)), 28, True, False, True),  # small: +space hurts
    (table(conditions("a", space=-18), conditions("b", space=15)), 28, True, False, False),
    (table(conditions("a", space=-1)), 28, True, False, None),                                # one image: undecided
    (table(conditions("a", none=3, space=24), conditions("b", none=0, space=18)), 96, True, False, True),  # helps
    (table(conditions("a", none=60, space=24)), 96, True, False, False),     # far below the control
    (table(conditions("a", space=24)), 96, True, False, None),               # no control
    (table(conditions("a", none=0, space=24)), 96, False, False, None),     # no masks
    (table(conditions("a", none=0, space=24)), 96, True, True, None),       # smoke
])
def test_space_constraint(predictions, size, masked, smoke, verdict):
    result = claims.space_constraint(predictions, size=size, small_images=64, synthetic=True, masked=masked,
                                     smoke=smoke)
    assert result.holds is verdict and result.evidence and result.criterion
