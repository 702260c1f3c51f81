"""The LV segmentation harness: training with run records, predictions mapped back, challenge scoring."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from paperkit.chapters.lv_segmentation.experiment import (
    challenge_summary,
    evaluate_segmentation,
    make_optimizer,
    mask_contour,
    predict_probabilities,
    train_segmenter,
)
from paperkit.data.datasets.sunnybrook import SegmentationSlices, load_sunnybrook
from tests.fixtures.sunnybrook import write_repackaged


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    return load_sunnybrook(write_repackaged(tmp_path_factory.mktemp("sb")))


class BrightIsLV(nn.Module):
    """Calls the brightest pixels (the fixture's disc, z-scored) LV: an oracle with known output."""

    def forward(self, x):
        return torch.cat([torch.zeros_like(x), (x - 1.0) * 20], dim=1)


def test_mask_contour_of_a_disc_is_its_boundary():
    rows, cols = np.mgrid[0:40, 0:40]
    mask = np.hypot(cols - 18.0, rows - 21.0) < 8
    mask[2, 2] = True  # a stray pixel: the largest component wins
    contour = mask_contour(mask)
    radius = np.hypot(contour[:, 0] - 18.0, contour[:, 1] - 21.0)
    assert contour.shape[1] == 2 and np.all(np.abs(radius - 8) < 1.0)
    assert mask_contour(np.zeros((5, 5), bool)) is None


def test_predictions_map_back_to_the_stored_image(samples):
    data = SegmentationSlices(samples, 32, crop_fraction=0.8)
    probs = predict_probabilities(BrightIsLV(), data, device="cpu")
    assert [p.shape for p in probs] == [s.mask.shape for s in samples]
    frame = evaluate_segmentation(probs, data)
    assert frame["dice"].min() > 0.85  # the disc is found at the right place after un-cropping
    assert frame["good"].all() and (frame["apd_mm"] < 2.5).all()
    with pytest.raises(ValueError, match="augment"):
        predict_probabilities(BrightIsLV(), SegmentationSlices(samples, 32, augment=True), device="cpu")


def test_perfect_and_empty_predictions_score_as_the_challenge_does(samples):
    data = SegmentationSlices(samples, 32)
    perfect = evaluate_segmentation([s.mask.astype(np.float32) for s in samples], data)
    assert np.allclose(perfect["dice"], 1.0) and (perfect["apd_mm"] < 1.0).all()
    assert np.allclose(perfect["pixel_accuracy"], 1.0)
    empty = evaluate_segmentation([np.zeros_like(s.mask, dtype=np.float32) for s in samples], data)
    assert np.isinf(empty["apd_mm"]).all() and not empty["good"].any()
    background = [1 - s.mask.mean() for s in samples]
    assert empty["pixel_accuracy"].tolist() == pytest.approx(background)  # high accuracy, Dice 0: Fig. 7
    assert (empty["dice"] == 0).all()
    mixed = evaluate_segmentation([s.mask.astype(np.float32) for s in samples[:1]] +
                                  [np.zeros_like(s.mask, dtype=np.float32) for s in samples[1:]], data)
    summary = challenge_summary(mixed)
    assert summary["good contours (%)"] == pytest.approx(100 / len(samples))
    assert summary["Dice good (%)"] == pytest.approx(100.0)  # averaged over good contours only
    assert summary["Dice all (%)"] == pytest.approx(100 / len(samples))
    outlier = perfect.assign(apd_mm=[1.0, 2.0, 1e10, 3.0][:len(perfect)] + [1.0] * max(0, len(perfect) - 4))
    assert challenge_summary(outlier)["APD all, median (mm)"] < 5  # one runaway normal does not swamp it
    with pytest.raises(ValueError, match="one per image"):
        evaluate_segmentation([], data)


def test_train_segmenter_records_history_and_reuses_the_run(samples, tmp_path):
    data = SegmentationSlices(samples, 32, augment=True)
    val = SegmentationSlices(samples[:2], 32)
    seen = []
    first = train_segmenter("gap_net", data, val, data_key={"fixture": 1}, epochs=2, batch_size=4, width=0.125,
                            optimizer="adam", lr=1e-3, out_dir=tmp_path, device="cpu", progress=False,
                            on_epoch_end=lambda epoch, record: seen.append(epoch))
    assert seen == [1, 2] and not first.reused and first.run.done
    assert {"train_loss", "val_dice", "val_pixel_accuracy"} <= set(first.history.columns)
    grads = [c for c in first.history.columns if c.startswith("grad_norm:")]
    assert 2 <= len(grads) <= 8 and (first.history[grads] > 0).all().all()
    shown = []
    again = train_segmenter("gap_net", data, val, data_key={"fixture": 1}, epochs=2, batch_size=4, width=0.125,
                            optimizer="adam", lr=1e-3, out_dir=tmp_path, device="cpu", progress=False,
                            show_history=shown.append)
    assert again.reused and len(shown) == 1 and len(shown[0]) == 2
    for a, b in zip(first.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(a.cpu(), b.cpu())
    with pytest.raises(ValueError, match="validation set 0"):
        train_segmenter("gap_net", data, SegmentationSlices([], 32), data_key={}, epochs=1, out_dir=tmp_path)


def test_optimizer_decays_in_steps():
    model = nn.Conv2d(1, 2, 3)
    opt, schedule = make_optimizer(model, "sgd", lr=0.02, decay_rate=0.73, decay_steps=3)
    lrs = []
    for _ in range(7):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        schedule.step()
    assert lrs == pytest.approx([0.02] * 3 + [0.02 * 0.73] * 3 + [0.02 * 0.73 ** 2])
    with pytest.raises(ValueError, match="optimizer='rmsprop'"):
        make_optimizer(model, "rmsprop")
