"""One harness for every left-ventricle segmenter: train with a run record, evaluate like the challenge.

Table 1 of Liu et al. compares the GAP network with FCN-8s, U-Net, UNet++ and Attention U-Net
whose training settings the paper does not give. Here every model goes through the same
:func:`train_segmenter` (same data, loss, optimiser, schedule, epochs, seed) so the table is a
real side-by-side, and through the same :func:`evaluate_segmentation`, which scores predictions
at the stored image's resolution in millimetres:

* pixel accuracy and Dice of the predicted mask (every image);
* the challenge's average perpendicular distance (APD, :func:`paperkit.metrics.perpendicular_distance`)
  of the predicted contour, the symmetric nearest-point distance many re-implementations report
  instead, and the Hausdorff distance;
* "good" contours (APD below 5 mm), whose share, mean APD and mean Dice the challenge reports.

Choices where the paper is silent (documented, not hidden):

* Loss: per-pixel softmax cross-entropy over the two classes (DIGITS' Sunnybrook example).
* ``optimizer="sgd"`` (default, the paper profile): plain SGD, lr 0.02, staircase decay x0.73 every
  10,000 steps (§4.5 and the DIGITS lab it follows). ``"adam"``: Adam with the same decay, which
  converges in the few epochs a CPU classroom affords.
* No model selection on the reported set: the weights after the last epoch are evaluated; the
  validation curve is watched (the live monitor), as in DIGITS, not used to pick an epoch.
* The predicted contour is the outline of the largest connected region of the prediction (a
  challenge contour is one closed curve), traced on the probability map where it crosses 0.5
  (sub-pixel) and, as many re-implementations do, on the binary mask (a staircase); both APDs are
  reported. Dice and pixel accuracy use the raw mask.
"""
from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from paperkit import models, step_cap
from paperkit.atomic import write_npz
from paperkit.chapters.lv_segmentation.spec import SPLITS
from paperkit.data.datasets.sunnybrook import SegmentationSlices
from paperkit.data.fingerprint import fingerprint
from paperkit.explain.layer_stats import GradientNorms
from paperkit.metrics.contours import (
    perpendicular_distance,
    symmetric_nearest_distance,
    trace_contour,
    undefined_normal_share,
)
from paperkit.metrics.segmentation import dice, hausdorff_distance, pixel_accuracy
from paperkit.models import count_parameters
from paperkit.runs import Run, TrainedModel, config_key, reuse_or_train
from paperkit.runtime import resolve_device
from paperkit.train import Batches, Evaluation, fit

__all__ = ["pixel_loss", "make_optimizer", "train_segmenter", "predict_probabilities", "all_background_accuracy",
           "mask_contour", "probability_contour", "missing_contour_penalty", "evaluate_segmentation",
           "challenge_summary", "report_predictions", "GOOD_CONTOUR_MM", "CONTOUR_LEVEL"]

CHAPTER = "lv_segmentation"
GOOD_CONTOUR_MM = 5.0  # the challenge's "good contour" limit (papers on this data use 5 mm)
CONTOUR_LEVEL = 0.5    # the LV probability at which a prediction's mask and sub-pixel contour are cut
EVAL_BATCH = 16        # images per forward pass when a set is evaluated
OPTIMIZERS = ("sgd", "adam")
# Models whose layers changed under the same name join their run key with this label, so an older record of
# another layout is not reused (issue #21: U-Net became Ronneberger's BasicUNet, FCN-8s torchvision's VGG-16).
# Change a label whenever a model's layers change.
ARCHITECTURES = {"unet": "BasicUNet (Ronneberger et al.)", "fcn8s": "FCN-8s on torchvision VGG-16"}


def pixel_loss(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-pixel softmax cross-entropy; ``mask`` is ``(N, 1, H, W)`` with 0 = background, 1 = LV."""
    return F.cross_entropy(logits, mask[:, 0].long())


def make_optimizer(model: nn.Module, optimizer: str = "sgd", lr: float = 0.02, decay_rate: float = 0.73,
                   decay_steps: int = 10_000) -> tuple[torch.optim.Optimizer, Any]:
    """The optimiser and its staircase exponential decay (stepped once per optimiser step)."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer={optimizer!r}: expected one of {', '.join(OPTIMIZERS)}")
    if not lr > 0 or not 0 < decay_rate <= 1 or decay_steps < 1:
        raise ValueError(f"lr={lr}, decay_rate={decay_rate}, decay_steps={decay_steps}: expected lr > 0, "
                         "0 < decay_rate <= 1 and decay_steps >= 1")
    params = model.parameters()
    opt = torch.optim.SGD(params, lr=lr) if optimizer == "sgd" else torch.optim.Adam(params, lr=lr)
    return opt, torch.optim.lr_scheduler.StepLR(opt, step_size=int(decay_steps), gamma=decay_rate)


@torch.no_grad()
def _validation_metrics(model: nn.Module, data: SegmentationSlices, device: torch.device,
                        batch_size: int = EVAL_BATCH) -> dict[str, float]:
    """Mean per-image Dice and pixel accuracy at the network's resolution (fast, for the monitor)."""
    dices, accuracies = [], []
    for start in range(0, len(data), batch_size):
        items = [data[i] for i in range(start, min(start + batch_size, len(data)))]
        x = torch.stack([image for image, _ in items]).to(device)
        pred = model(x).argmax(1).cpu().numpy().astype(bool)
        for p, (_, mask) in zip(pred, items):
            truth = mask[0].numpy().astype(bool)
            dices.append(dice(p, truth))
            accuracies.append(pixel_accuracy(p, truth))
    return {"val_dice": float(np.mean(dices)), "val_pixel_accuracy": float(np.mean(accuracies))}


def all_background_accuracy(data: SegmentationSlices) -> float:
    """The pixel accuracy of answering "background" everywhere, as :func:`train_segmenter`'s history
    measures a checkpoint's (mean over ``data``'s images at the network's resolution)."""
    if len(data) == 0:
        raise ValueError("all_background_accuracy: the dataset has no image")
    truths = [data[i][1][0].numpy().astype(bool) for i in range(len(data))]
    return float(np.mean([pixel_accuracy(np.zeros_like(t), t) for t in truths]))


def train_segmenter(name: str, train: SegmentationSlices, val: SegmentationSlices, *, data_key: Mapping[str, Any],
                    epochs: int, batch_size: int = 8, width: float = 1.0, optimizer: str = "sgd", lr: float = 0.02,
                    decay_rate: float = 0.73, decay_steps: int = 10_000, seed: int = 0,
                    device: str | torch.device = "auto", out_dir: str | Path = "runs",
                    on_epoch_end: Callable[[int, Mapping[str, Any]], None] | None = None,
                    show_history: Callable[[pd.DataFrame], None] | None = None, force: bool = False,
                    progress: bool = True) -> TrainedModel:
    """Train registered model ``name`` (two classes, one input channel) or reuse its finished record.

    ``data_key`` describes the data (dataset, split, patients, image size) and joins the run's
    key. Each epoch records the training loss, validation Dice and pixel accuracy and the mean
    gradient norm of up to eight layers; ``on_epoch_end(epoch, record)`` sees them live
    (e.g. a :class:`paperkit.monitor.LiveMonitor`). When the run is reused, its stored history
    goes to ``show_history`` instead.
    """
    if len(train) == 0 or len(val) == 0:
        raise ValueError(f"train_segmenter({name!r}): training set has {len(train)} images and validation set "
                         f"{len(val)}; both need at least one (check the split)")
    dev = resolve_device(device)
    config = {"stage": "segmentation", "model": name, "width": width, "epochs": epochs, "batch_size": batch_size,
              "optimizer": optimizer, "lr": lr, "decay_rate": decay_rate, "decay_steps": decay_steps,
              "seed": seed, "data": dict(data_key)}
    torch.manual_seed(seed)
    model = models.create(name, in_channels=1, num_classes=2, width=width)
    if name in ARCHITECTURES:  # a model rebuilt under the same name retrains instead of reusing an old record
        config["architecture"] = ARCHITECTURES[name]

    def train_and_watch(run: Run):
        opt, schedule = make_optimizer(model, optimizer, lr, decay_rate, decay_steps)
        norms = GradientNorms(model, max_layers=8)

        def evaluate(m: nn.Module) -> dict[str, float]:
            return {**_validation_metrics(m, val, dev), **norms.epoch_means()}

        t0 = time.perf_counter()
        try:
            result = fit(model, train, loss=pixel_loss, optimizer=opt, scheduler=schedule, epochs=epochs,
                         batches=Batches(batch_size), evaluation=Evaluation(evaluate), checkpoint=run.checkpoint,
                         device=dev, seed=seed, progress=progress, desc=f"{name} (width {width:g})",
                         on_epoch_end=on_epoch_end)
        finally:
            norms.remove()
        seconds = time.perf_counter() - t0
        last = result.history[-1] if result.history else {}
        metrics = {"parameters": count_parameters(model, trainable_only=True), "epochs_run": len(result.history),
                   "train_seconds": round(seconds, 1), "final_val_dice": last.get("val_dice"),
                   "final_val_pixel_accuracy": last.get("val_pixel_accuracy"),
                   "final_train_loss": last.get("train_loss")}
        return metrics, result.history

    trained = reuse_or_train(CHAPTER, config, model, train_and_watch, name=name, out_dir=out_dir, force=force,
                             device=dev)
    if trained.reused and show_history is not None:
        show_history(trained.history)
    return trained


@torch.no_grad()
def predict_probabilities(model: nn.Module, data: SegmentationSlices, *, device: str | torch.device = "auto",
                          batch_size: int = EVAL_BATCH) -> list[np.ndarray]:
    """The LV probability of every pixel of every *stored* image (its own size), one array per sample.

    The network sees the crop-and-resize of :class:`SegmentationSlices` (without augmentation);
    its output is resized back to the crop (bilinear) and placed into a zero (background) image.
    """
    if data.augment:
        raise ValueError("predict_probabilities: the dataset has augment=True; predictions need augment=False")
    dev = resolve_device(device)
    model.to(dev).eval()
    out = []
    for start in range(0, len(data), batch_size):
        idx = list(range(start, min(start + batch_size, len(data))))
        x = torch.stack([data[i][0] for i in idx]).to(dev)
        prob = torch.softmax(model(x).float(), dim=1)[:, 1:2].cpu()
        for j, i in enumerate(idx):
            top, left, side = data.crop_box(i)
            full = np.zeros(np.shape(data.samples[i].image), dtype=np.float32)
            crop = F.interpolate(prob[j:j + 1], size=(side, side), mode="bilinear", align_corners=False)[0, 0]
            full[top:top + side, left:left + side] = crop.numpy()
            out.append(full)
    return out


def report_predictions(trained: TrainedModel, data: SegmentationSlices, *, device: str | torch.device = "auto"
                       ) -> list[np.ndarray]:
    """The LV probability maps of ``data``'s images by ``trained``, as stored in its run record.

    The first call predicts (:func:`predict_probabilities`) and stores the maps (float16, one array per
    image, with the images' patient and instance) in ``predictions-<key>.npz`` of the run record,
    ``<key>`` naming the images, their crops and the input size; later calls, and a record copied in
    from a run elsewhere, read them back. Every score and verdict of the chapter is computed from
    these stored maps, so the comparison rests on what was stored, not on a re-run.
    """
    ids = {"patient": [s.patient for s in data.samples], "instance": [int(s.instance_number) for s in data.samples],
           "crops": [list(map(int, data.crop_box(i))) for i in range(len(data))], "size": list(data.image_size)}
    name = f"predictions-{config_key(ids)}.npz"
    if not trained.run.path(name).is_file():
        probabilities = predict_probabilities(trained.model, data, device=device)
        write_npz(trained.run.path(name), patient=np.array(ids["patient"]), instance=np.array(ids["instance"]),
                  **{f"p{i:05d}": p.astype(np.float16) for i, p in enumerate(probabilities)})
    stored = trained.run.load_arrays(name, "no stored predictions of these images")
    if stored["patient"].tolist() != ids["patient"] or stored["instance"].tolist() != ids["instance"]:
        raise ValueError(f"{trained.run.path(name)}: holds predictions of other images than the {len(data)} asked "
                         "for; delete the file to predict again")
    return [stored[f"p{i:05d}"].astype(np.float32) for i in range(len(data))]


def mask_contour(mask: np.ndarray) -> np.ndarray | None:
    """The boundary of the largest connected component of a binary ``mask`` as ``(N, 2)`` ``(x, y)`` points, or None.

    A staircase through the midpoints of the pixel edges (:func:`paperkit.metrics.contours.trace_contour`
    of the mask); :func:`probability_contour` traces the sub-pixel outline instead.
    """
    return trace_contour(np.asarray(mask, dtype=bool).astype(float), 0.5)


def probability_contour(probability: np.ndarray, level: float = CONTOUR_LEVEL) -> np.ndarray | None:
    """The sub-pixel outline where the LV probability crosses ``level`` (largest region), or None.

    The same region as ``mask_contour(probability >= level)``, but each point is interpolated along
    the pixel grid where the probability equals ``level`` (``skimage.measure.find_contours``), so the
    contour is smooth instead of a staircase of half-pixel steps.
    """
    return trace_contour(probability, level)


def missing_contour_penalty(manual: np.ndarray, spacing_xy) -> float:
    """The nearest-point distance (mm) charged to an image with no predicted contour.

    The manual contour's mean radius: the mean distance of its points from their centroid, which is
    what a prediction collapsed to a dot at the LV's centre would score from the manual side. Any
    real miss is at least this bad, so the penalty errs on the lenient side; the number of images it
    was charged to is reported beside it ("no contour (images)").
    """
    points = np.asarray(manual, dtype=float) * np.asarray(spacing_xy, dtype=float)
    return float(np.linalg.norm(points - points.mean(axis=0), axis=1).mean())


def _contour_scores(contour: np.ndarray | None, manual: np.ndarray, spacing_xy) -> tuple[float, float, float]:
    """(APD, nearest, share of points with an undefined official normal) of one predicted contour."""
    if contour is None:
        return float("inf"), missing_contour_penalty(manual, spacing_xy), float("nan")
    return (perpendicular_distance(contour, manual, spacing=spacing_xy),
            symmetric_nearest_distance(contour, manual, spacing=spacing_xy), undefined_normal_share(contour))


def evaluate_segmentation(probabilities: list[np.ndarray], data: SegmentationSlices, *,
                          limit_mm: float = GOOD_CONTOUR_MM) -> pd.DataFrame:
    """Score each prediction against its manual contour; one row per image.

    The predicted contour is traced twice: on the probability map where it crosses 0.5 (sub-pixel,
    :func:`probability_contour`) and on the binary mask (a staircase, :func:`mask_contour`); both
    outline the same region. Columns: patient, instance, pixel accuracy, Dice (of the mask);
    ``contour`` (a predicted contour exists); ``apd_mm`` and ``nearest_mm`` of the sub-pixel contour,
    ``apd_mask_mm`` and ``nearest_mask_mm`` of the staircase (perpendicular = the challenge's APD,
    nearest = symmetric nearest-point); ``undefined_share`` and ``undefined_share_mask``, the share of
    each contour's points where the official code's normal is undefined
    (:func:`~paperkit.metrics.contours.undefined_normal_share`); Hausdorff (mm); LV share of the image
    (%); ``good`` and ``good_mask`` (APD < ``limit_mm``). An image with no predicted LV has APD = inf
    (not good) and nearest = :func:`missing_contour_penalty`.
    """
    if len(probabilities) != len(data):
        raise ValueError(f"{len(probabilities)} predictions for {len(data)} images: expected one per image")
    rows = []
    for prob, sample in zip(probabilities, data.samples):
        if prob.shape != np.shape(sample.mask):
            raise ValueError(f"prediction {prob.shape} vs mask {np.shape(sample.mask)} of {sample!r}: shapes differ")
        pred = prob >= CONTOUR_LEVEL
        truth = np.asarray(sample.mask, dtype=bool)
        subpixel, staircase = probability_contour(prob), mask_contour(pred)
        apd, nearest, undefined = _contour_scores(subpixel, sample.contour, sample.spacing_xy)
        apd_mask, nearest_mask, undefined_mask = _contour_scores(staircase, sample.contour, sample.spacing_xy)
        rows.append({"patient": sample.patient, "instance": sample.instance_number,
                     "pixel_accuracy": pixel_accuracy(pred, truth), "dice": dice(pred, truth),
                     "contour": subpixel is not None, "apd_mm": apd, "nearest_mm": nearest,
                     "apd_mask_mm": apd_mask, "nearest_mask_mm": nearest_mask,
                     "undefined_share": undefined, "undefined_share_mask": undefined_mask,
                     "hausdorff_mm": hausdorff_distance(pred, truth, spacing=sample.spacing),
                     "lv_share_percent": 100.0 * truth.mean(), "good": bool(apd < limit_mm),
                     "good_mask": bool(apd_mask < limit_mm)})
    return pd.DataFrame(rows)


def challenge_summary(per_image: pd.DataFrame) -> dict[str, float]:
    """The challenge's numbers (good-contour %, APD and Dice over good contours) plus all-image summaries.

    APD is given for the sub-pixel contour and (``mask``) for the staircase traced on the binary mask,
    with the share of contour points where the official code's normal is undefined for each. Over all
    images APD is a median: the challenge's normal-line construction (kept as in its code) can return
    distances in the billions of mm on a poor contour, where the normal runs almost parallel to the
    manual contour's local line, and one such image would swamp a mean. Images with no predicted
    contour (APD infinite) count as above the median. "nearest all (mm)" averages every image: one
    without a predicted contour is charged :func:`missing_contour_penalty`, and "no contour (images)"
    counts them.
    """
    good, good_mask = per_image[per_image["good"]], per_image[per_image["good_mask"]]
    n = len(per_image)

    def share(column: str) -> float:
        values = per_image[column].dropna()
        return 100.0 * float(values.mean()) if len(values) else float("nan")

    return {"images": n,
            "good contours (%)": 100.0 * len(good) / n if n else float("nan"),
            "APD good (mm)": float(good["apd_mm"].mean()) if len(good) else float("nan"),
            "Dice good (%)": 100.0 * float(good["dice"].mean()) if len(good) else float("nan"),
            "good contours, mask (%)": 100.0 * len(good_mask) / n if n else float("nan"),
            "APD good, mask (mm)": float(good_mask["apd_mask_mm"].mean()) if len(good_mask) else float("nan"),
            "Dice all (%)": 100.0 * float(per_image["dice"].mean()),
            "APD all, median (mm)": float(per_image["apd_mm"].median()) if n else float("nan"),
            "APD all, median, mask (mm)": float(per_image["apd_mask_mm"].median()) if n else float("nan"),
            "undefined normals (% of points)": share("undefined_share"),
            "undefined normals, mask (% of points)": share("undefined_share_mask"),
            "no contour (images)": int((~per_image["contour"].astype(bool)).sum()),
            "nearest all (mm)": float(per_image["nearest_mm"].mean()) if n else float("nan"),
            "Hausdorff median (mm)": float(per_image["hausdorff_mm"].median()),
            "pixel accuracy (%)": 100.0 * float(per_image["pixel_accuracy"].mean())}


def load_data(S, progress: bool = True) -> dict:
    """Samples, the patient split and the torch datasets of a chapter run.

    Returns ``samples``, ``split`` (a :class:`~paperkit.data.splits.Split`),
    ``datasets`` (``train`` with augmentation, ``monitor`` = the set watched while training,
    ``report`` = the set Table 1 is computed on), ``report_name``, ``root`` and ``data_key``
    (what identifies the data in run records), ``crop_fraction`` (the one used: a profile's
    ``"auto"`` becomes :func:`~paperkit.data.datasets.sunnybrook.covering_crop_fraction` of the training
    images). The synthetic set is written in the repackaged
    Sunnybrook layout and read back with :func:`~paperkit.data.datasets.sunnybrook.load_sunnybrook`.

    Split ``"official"`` (Sunnybrook's default) trains on the challenge's training patients and
    reports on its validation patients, as the paper does; ``"random"`` (synthetic's default) is a
    seeded 60/20/20 patient split reporting on the test patients; with fewer than five patients it
    trains on all but one and reports on (and watches) that one.
    """
    from paperkit.data.datasets.sunnybrook import (
        SegmentationSlices,
        covering_crop_fraction,
        load_sunnybrook,
        split_patients,
    )
    from paperkit.data.io.errors import DataError

    split = S.split or ("official" if S.dataset == "sunnybrook" else "random")
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is not valid; choose one of: {', '.join(map(repr, SPLITS))}")
    if S.dataset == "synthetic":
        from paperkit.data.synthetic.cine import make_synthetic_cine

        root = make_synthetic_cine(S.data_dir, n_patients=S.synthetic_patients, slices_per_patient=S.synthetic_slices,
                                   size=S.synthetic_size, seed=S.seed, difficulty=S.difficulty)
        data_key = {"dataset": "synthetic", "patients": S.synthetic_patients, "slices": S.synthetic_slices,
                    "size": S.synthetic_size, "difficulty": S.difficulty, "seed": S.seed}
    else:
        root = S.data_dir
        data_key = {"dataset": S.dataset, "data": fingerprint(root)}
    samples = load_sunnybrook(root, contour="i")
    if not samples:
        raise DataError(f"{root}: no image with an i-contour found (expected the Sunnybrook layout)")
    fractions = (0.6, 0.2, 0.2)
    n_patients = len({s.patient for s in samples})
    few = split == "random" and n_patients < 5
    if few:  # e.g. the 3-patient public sample: train on all but one, report on that one
        fractions = ((n_patients - 1) / n_patients, 1 / n_patients)
        print(f"{n_patients} patients: the random split trains on {n_patients - 1} and reports on 1, which is also "
              "the set watched while training (never used to pick an epoch), as the official split does")
    groups = split_patients(samples, split, fractions=fractions, seed=S.seed)
    if split == "official":
        train_name, monitor_name, report_name = "training", "validation", "validation"
        empty = [name for name in (train_name, report_name) if not groups[name]]
        if empty:
            held = [name for name in groups.subjects if groups[name]]
            only = (f"it holds only patients of the challenge's {' and '.join(held)} list"
                    f"{'s' if len(held) > 1 else ''} ({', '.join(p for n in held for p in groups.subjects[n])})")
            raise DataError(f"{root}: split='official' (Sunnybrook's default) trains on the challenge's training "
                            f"patients and reports on its validation patients, but {only} and none of "
                            f"{' or '.join(empty)}.\n{groups.summary()}\nFor a subset of the patients, such as the "
                            "public sample, pass split='random' (papermill: -p split random): a seeded split by "
                            "patient.")
    elif few:
        train_name, monitor_name, report_name = "train", "test", "test"
    else:
        train_name, monitor_name, report_name = "train", "val", "test"
    size, crop = S.image_size, S.crop_fraction
    if crop == "auto":  # the tightest centred crop holding every training mask, with room to spare
        crop = covering_crop_fraction(groups[train_name])
        print(f"crop_fraction='auto': {crop:.2f} of the image side holds every training mask with a 1.5x margin")
    evaluated = partial(step_cap.head, batch_size=S.batch_size)  # a step-capped run evaluates `cap` batches
    datasets = {"train": SegmentationSlices(groups[train_name], size, augment=True, crop_fraction=crop),
                "monitor": SegmentationSlices(evaluated(groups[monitor_name]), size, crop_fraction=crop),
                "report": SegmentationSlices(evaluated(groups[report_name]), size, crop_fraction=crop)}
    data_key = {**data_key, "split": split, "image_size": size, "crop_fraction": crop, "augment": "flip+rot90+affine",
                "train_patients": groups.subjects[train_name], "monitor_patients": groups.subjects[monitor_name]}
    return {"samples": samples, "split": groups, "split_kind": split, "datasets": datasets,
            "names": {"train": train_name, "monitor": monitor_name, "report": report_name},
            "report_name": report_name, "root": root, "data_key": data_key, "crop_fraction": crop}
