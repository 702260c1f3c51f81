"""The LV segmentation harness: training with run records, predictions mapped back, challenge scoring."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
from torch import nn

from paperkit.chapters.lv_segmentation.experiment import (
    challenge_summary,
    evaluate_segmentation,
    make_optimizer,
    mask_contour,
    missing_contour_penalty,
    predict_probabilities,
    probability_contour,
    report_predictions,
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
    assert np.isinf(empty["apd_mm"]).all() and np.isinf(empty["apd_mask_mm"]).all()
    assert not empty["good"].any() and not empty["good_mask"].any() and not empty["contour"].any()
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


def soft_disc(shape=(60, 60), centre=(30.4, 27.7), radius=11.0, edge=1.5):
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    return 1 / (1 + np.exp((np.hypot(cols - centre[0], rows - centre[1]) - radius) / edge))


def test_probability_contour_is_sub_pixel_where_the_mask_contour_is_a_staircase():
    from paperkit.metrics.contours import perpendicular_distance, undefined_normal_share

    prob = soft_disc()
    smooth, staircase = probability_contour(prob), mask_contour(prob >= 0.5)
    radius_s = np.hypot(smooth[:, 0] - 30.4, smooth[:, 1] - 27.7)
    radius_m = np.hypot(staircase[:, 0] - 30.4, staircase[:, 1] - 27.7)
    assert np.abs(radius_s - 11.0).max() < 0.05 < np.abs(radius_m - 11.0).max()   # on the 0.5 level set
    # the staircase puts points where the challenge's normal is undefined; the sub-pixel outline does not
    assert undefined_normal_share(staircase) > 0.1 and undefined_normal_share(smooth) == 0
    t = np.linspace(0, 2 * np.pi, 120, endpoint=False)
    truth = np.stack([30.4 + 11 * np.cos(t), 27.7 + 11 * np.sin(t)], axis=1)
    assert perpendicular_distance(smooth, truth) < 0.05 < perpendicular_distance(staircase, truth)
    assert probability_contour(np.zeros((8, 8))) is None


def test_evaluation_reports_both_apds_and_charges_missing_contours(samples):
    data = SegmentationSlices(samples, 32)
    # soft predictions of the true discs (the fixture's disc of each image), and one image left empty
    probs = [ndimage.gaussian_filter(s.mask.astype(np.float32), 1.0) for s in samples]
    probs[0] = np.zeros_like(probs[0])
    frame = evaluate_segmentation(probs, data)
    assert {"apd_mm", "apd_mask_mm", "nearest_mm", "nearest_mask_mm", "undefined_share", "undefined_share_mask",
            "contour", "good", "good_mask"} <= set(frame.columns)
    found = frame.iloc[1:]
    assert (found["undefined_share"] < found["undefined_share_mask"]).all()
    assert not frame.loc[0, "contour"] and np.isinf(frame.loc[0, "apd_mm"])
    penalty = missing_contour_penalty(samples[0].contour, samples[0].spacing_xy)
    assert frame.loc[0, "nearest_mm"] == pytest.approx(penalty) and frame.loc[0, "nearest_mask_mm"] == penalty
    radius_mm = 6.2 * samples[0].spacing_xy[0]     # the smallest fixture disc, in mm: the penalty is its mean radius
    assert penalty >= radius_mm * 0.95
    summary = challenge_summary(frame)
    assert summary["no contour (images)"] == 1
    # the empty image is counted in "nearest all" with its penalty, not dropped
    assert summary["nearest all (mm)"] == pytest.approx(frame["nearest_mm"].mean())
    assert summary["nearest all (mm)"] > found["nearest_mm"].mean()
    assert summary["undefined normals (% of points)"] < summary["undefined normals, mask (% of points)"]
    assert summary["good contours (%)"] == pytest.approx(100 * (len(samples) - 1) / len(samples))


def test_report_predictions_are_stored_in_the_run_record_and_read_back(samples, tmp_path):
    train = SegmentationSlices(samples, 32, augment=True)
    val = SegmentationSlices(samples, 32)
    trained = train_segmenter("gap_net", train, val, data_key={"fixture": 2}, epochs=1, batch_size=4, width=0.125,
                              optimizer="adam", lr=1e-3, out_dir=tmp_path, device="cpu", progress=False)
    first = report_predictions(trained, val, device="cpu")
    stored = list(trained.run.dir.glob("predictions-*.npz"))
    assert len(stored) == 1 and [p.shape for p in first] == [s.mask.shape for s in samples]
    fresh = predict_probabilities(trained.model, val, device="cpu")
    assert all(np.allclose(a, b, atol=1e-3) for a, b in zip(first, fresh))   # float16 storage
    with torch.no_grad():   # a changed model does not change the stored predictions: they are read back
        for p in trained.model.parameters():
            p.add_(1.0)
    again = report_predictions(trained, val, device="cpu")
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    other = report_predictions(trained, SegmentationSlices(samples[:2], 32), device="cpu")
    assert len(other) == 2 and len(list(trained.run.dir.glob("predictions-*.npz"))) == 2
    # gap_net's layers did not change: its key has no architecture label (older records stay reusable)
    assert "architecture" not in trained.run.config


def test_a_rebuilt_model_does_not_reuse_the_record_of_its_old_layout(samples, tmp_path):
    from paperkit.chapters.lv_segmentation import experiment

    train, val = SegmentationSlices(samples, 32, augment=True), SegmentationSlices(samples[:2], 32)
    kwargs = dict(data_key={"fixture": 3}, epochs=1, batch_size=4, width=0.125, optimizer="adam", lr=1e-3,
                  out_dir=tmp_path, device="cpu", progress=False)
    first = train_segmenter("unet", train, val, **kwargs)
    assert first.run.config["architecture"] == experiment.ARCHITECTURES["unet"]
    assert train_segmenter("unet", train, val, **kwargs).reused
    old = dict(experiment.ARCHITECTURES)
    try:
        experiment.ARCHITECTURES["unet"] = "another layout"
        assert not train_segmenter("unet", train, val, **kwargs).reused
    finally:
        experiment.ARCHITECTURES.clear()
        experiment.ARCHITECTURES.update(old)
