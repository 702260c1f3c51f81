"""The two-stage LGE quality assessor of Sultan et al. (2023): training with run records, and evaluation.

Stage 1 (:func:`train_stage1`, :func:`stage1_report`): a UNet segments the left-atrial blood pool
slice by slice; slices where any pixel's probability exceeds ``t`` are kept
(:func:`slices_with_atrium`). It trains on its own cohort and split (:func:`stage1_cohort`: a
separate segmentation folder, or the data's scans with masks by their ``train.list``/``test.list``),
as the paper's UNet learns from 900 segmented scans apart from the 196 scored ones, and its run
record keeps its test-list Dice and selection accuracy. Stage 2 (:func:`train_qa`): one of three
training strategies on the kept slices, each a run record keyed by its configuration:

=================  ==========================  ===============================================
method             paper's name                what is trained
=================  ==========================  ===============================================
``qa_resnet34``    QA (Baseline QA)            encoder + attribute heads + QA head, Eq. 1
``multitask_qa``   Multi-Task QA               the same + blood-pool decoder, Eq. 3
``supcon_qa``      QA & Contrastive            encoder pretrained by :func:`pretrain_supcon`
                                               (``supcon_resnet34``, Eq. 5, LARS), then
                                               frozen; heads trained with Eq. 1
=================  ==========================  ===============================================

Evaluation (:func:`predict_slices`, :func:`scan_predictions`, :func:`scan_metrics`): every test
slice gets a QA probability; a scan's label is the mode of its slices' labels (Sec. 4.3), a tied
vote broken by a stated rule (:data:`TIE_RULES`; the paper is silent) and counted, and
precision, recall, F1 and specificity (diagnostic = positive) are computed over scans.

Choices where the paper is silent (documented, not hidden): the UNet's loss is BCE + soft Dice;
QA validation is the mean squared error between the QA probability and the label over all
validation slices (Sec. 4.3 says "MSE error across all slices"), which drives early stopping
(patience) and picks the weights kept; the cosine schedule anneals per epoch over ``epochs``;
SupCon pretraining uses two augmented views per slice, temperature 0.07 and the same cosine
schedule; the frozen encoder's BatchNorm statistics stay fixed while the heads train.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from paperkit import models, step_cap
from paperkit.atomic import write_npz
from paperkit.data.datasets.la2018 import LACase, LGESlices
from paperkit.data.fingerprint import fingerprint
from paperkit.data.splits import Split
from paperkit.losses import dice_loss, make_lars, multi_label_supcon_loss, multitask_loss, qa_loss
from paperkit.metrics.classification import confusion_metrics
from paperkit.models import count_parameters
from paperkit.models.pretrained import weights_identity
from paperkit.runs import Run, TrainedModel, reuse_or_train
from paperkit.runtime import resolve_device
from paperkit.train import Batches, Evaluation, Steps, fit

__all__ = ["CHAPTER", "METHODS", "evaluated_scans", "TwoViews", "train_stage1", "stage1_report", "thin_slices",
           "train_qa", "pretrain_supcon", "predict_slices", "scan_predictions", "scan_metrics", "summarise_runs",
           "label_subset", "selected_slices", "train_method", "load_data", "scan_mode", "slices_with_atrium",
           "split_qa", "store_test_scans", "load_test_scans", "stage1_cohort", "initial_weights", "load_stage1_test",
           "TIE_RULES", "check_tie_rule"]

CHAPTER = "lge_quality"
METHODS = {"qa_resnet34": "QA", "multitask_qa": "Multi-Task QA", "supcon_qa": "QA & Contrastive"}
SCAN_METRICS = ("precision", "recall", "f1", "specificity")


def _fit_metrics(model: nn.Module, result, t0: float, extra: Mapping[str, Any]) -> dict:
    """The metrics every training of this chapter records, plus ``extra``."""
    return {"parameters": count_parameters(model, trainable_only=False),
            "trainable_parameters": count_parameters(model, trainable_only=True), "epochs_run": len(result.history),
            "best_epoch": result.best_epoch, "train_seconds": round(time.perf_counter() - t0, 1), **extra}


def _check_sizes(name: str, **sets: Dataset) -> None:
    empty = [k for k, v in sets.items() if len(v) == 0]
    if empty:
        raise ValueError(f"{name}: the {' and '.join(empty)} set(s) hold no slice; check the split and slice selection")


# --------------------------------------------------------------------------- stage 1


def _unet_loss(logits: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    mask = batch["mask"]
    return F.binary_cross_entropy_with_logits(logits, mask) + dice_loss(logits, mask)


def _pooled_dice(pred: np.ndarray, truth: np.ndarray) -> float:
    inter, total = np.logical_and(pred, truth).sum(), pred.sum() + truth.sum()
    return 1.0 if total == 0 else float(2 * inter / total)


def train_stage1(train: LGESlices, val: LGESlices, *, data_key: Mapping[str, Any], epochs: int, batch_size: int = 16,
                 lr: float = 1e-3, features: Sequence[int] = (32, 32, 64, 128, 256, 32), seed: int = 0,
                 test: Sequence[LACase] = (), threshold: float = 0.5, device: str | torch.device = "auto",
                 out_dir: str | Path = "runs", force: bool = False, progress: bool = True) -> TrainedModel:
    """Train the stage-1 LA UNet (``unet_la``, Adam) on slices and their masks, or reuse its finished record.

    Pass every slice (``LGESlices(..., slices="all")``): a UNet that never saw a slice without
    atrium finds atrium in every slice, and the slice selection then keeps them all. The training
    and validation slices must all come with masks (the stage-1 cohort, not the QA scans).

    The weights of the epoch with the best validation Dice (pooled over the validation slices,
    threshold 0.5) are kept. ``test`` (the stage-1 split's test cases, e.g. ``test.list``) is then
    scored with :func:`stage1_report` at ``threshold`` and stored in the run record: the mean Dice and
    selection accuracy as metrics (``test_dice``, ``test_selection_accuracy``, ``test_cases``) and the
    per-case table as ``stage1_test.csv`` (:func:`load_stage1_test`).
    """
    _check_sizes("train_stage1", train=train, validation=val)
    unmasked = sorted({train.cases[ci].case_id for ci, _ in train.index if not train.cases[ci].has_mask}
                      | {val.cases[ci].case_id for ci, _ in val.index if not val.cases[ci].has_mask})
    if unmasked:
        raise ValueError(f"train_stage1: case(s) {', '.join(unmasked[:5])} have no atrium mask; expected the "
                         "stage-1 cohort's cases, each with its mask")
    test = list(test)
    dev = resolve_device(device)
    config = {"stage": "stage1_unet", "model": "unet_la", "features": list(features), "epochs": epochs,
              "batch_size": batch_size, "lr": lr, "seed": seed, "data": dict(data_key),
              "test": [c.case_id for c in test], "threshold": threshold}
    torch.manual_seed(seed)
    model = models.create("unet_la", features=tuple(features))

    def evaluate(m: nn.Module) -> dict[str, float]:
        probs = _predict_tensor(m, val.images, dev)
        return {"val_dice": _pooled_dice(probs.numpy() > 0.5, val.masks.numpy() > 0)}

    def train_unet(run: Run):
        t0 = time.perf_counter()
        result = fit(model, train, loss=_unet_loss, optimizer=torch.optim.Adam(model.parameters(), lr=lr),
                     epochs=epochs, batches=Batches(batch_size), forward=lambda m, b: (m(b["image"]), b),
                     evaluation=Evaluation(evaluate, monitor="val_dice", restore_best=True),
                     checkpoint=run.checkpoint, device=dev, seed=seed, progress=progress, desc="stage 1: unet_la")
        extra = {"best_val_dice": result.best, "test_cases": len(test)}
        if test:
            table, _ = stage1_report(model, test, image_size=int(train.image_size), threshold=threshold, device=dev)
            write_csv(run.path(STAGE1_TEST_FILE), table)
            extra.update(test_dice=float(table["dice"].mean()),
                         test_selection_accuracy=float(table["selection accuracy"].mean()))
        return _fit_metrics(model, result, t0, extra), result.history

    return reuse_or_train(CHAPTER, config, model, train_unet, name="unet_la", out_dir=out_dir, force=force,
                          device=dev)


STAGE1_TEST_FILE = "stage1_test.csv"


def write_csv(path: Path, table: pd.DataFrame) -> Path:
    """Write ``table`` as CSV at ``path`` atomically (nothing half-written is left behind)."""
    from paperkit.atomic import atomic_path

    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    return Path(path)


def load_stage1_test(result: TrainedModel) -> pd.DataFrame:
    """The stage-1 run record's per-case test table (:func:`stage1_report` on its test cases)."""
    path = result.run.path(STAGE1_TEST_FILE)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no stage-1 test table in this run record; train_stage1 writes it when "
                                "given test= cases (the stage-1 split's test list)")
    return pd.read_csv(path, dtype={"case_id": str})


@torch.no_grad()
def _predict_tensor(model: nn.Module, images: torch.Tensor, dev: torch.device, batch_size: int = 64) -> torch.Tensor:
    """Sigmoid of ``model`` over (N, 1, H, W) images, on the CPU."""
    model.to(dev).eval()
    out = [torch.sigmoid(model(images[i:i + batch_size].to(dev)).float()).cpu()
           for i in range(0, len(images), batch_size)]
    return torch.cat(out) if out else torch.zeros_like(images)


def stage1_report(model: nn.Module, cases: Sequence[LACase], *, image_size: int, threshold: float = 0.5,
                  device: str | torch.device = "auto") -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Run stage 1 over every axial slice of ``cases``; score it and return the selected slices.

    Per case: volume Dice of the thresholded (0.5) prediction at the network's resolution, and
    slice selection against the truth (slices whose mask has a voxel): accuracy, recall (atrium
    slices kept), precision (kept slices that hold atrium), numbers of slices. A scan where no
    slice passes ``threshold`` keeps its single most probable slice, so every scan is scored.
    A case without a mask gets its selection, and NaN for what needs the truth.
    Returns ``(table, {case_id: selected slice indices})``.
    """
    dev = resolve_device(device)
    rows, selected = [], {}
    for case in cases:
        data = LGESlices([case], image_size, slices="all")
        probs = _predict_tensor(model, data.images, dev)[:, 0].numpy()
        truth = data.masks[:, 0].numpy() > 0
        chosen = slices_with_atrium(probs, threshold, axis=0)
        if chosen.size == 0:
            chosen = np.array([int(probs.reshape(len(probs), -1).max(1).argmax())])
        keep = np.zeros(len(probs), bool)
        keep[chosen] = True
        selected[case.case_id] = chosen
        if not case.has_mask:
            nan = float("nan")
            rows.append({"case_id": case.case_id, "slices": len(probs), "atrium slices": nan,
                         "selected": int(keep.sum()), "dice": nan, "selection accuracy": nan,
                         "selection recall": nan, "selection precision": nan})
            continue
        has = truth.reshape(len(truth), -1).any(1)
        rows.append({"case_id": case.case_id, "slices": len(probs), "atrium slices": int(has.sum()),
                     "selected": int(keep.sum()), "dice": _pooled_dice(probs > 0.5, truth),
                     "selection accuracy": float((keep == has).mean()),
                     "selection recall": float(keep[has].mean()) if has.any() else float("nan"),
                     "selection precision": float(has[keep].mean())})
    return pd.DataFrame(rows), selected


def thin_slices(selection: Mapping[str, np.ndarray], max_slices: int | None) -> dict[str, np.ndarray]:
    """At most ``max_slices`` evenly spaced slices of each case's selection (``None``: all)."""
    if max_slices is None:
        return {k: np.asarray(v) for k, v in selection.items()}
    if max_slices < 1:
        raise ValueError(f"max_slices={max_slices!r}: expected a positive int or None")
    out = {}
    for case, idx in selection.items():
        idx = np.asarray(idx)
        out[case] = idx if len(idx) <= max_slices else idx[np.linspace(0, len(idx) - 1, max_slices).round().astype(int)]
    return out


# --------------------------------------------------------------------------- stage 2


def _qa_model(method: str, width: float, weights) -> nn.Module:
    name = "qa_resnet34" if method == "supcon_qa" else method
    return models.create(name, width=width, weights=weights)


def _val_mse(model: nn.Module, val: LGESlices, dev: torch.device) -> dict[str, float]:
    frame, _ = predict_slices(model, val, device=dev)
    return {"val_mse": float(((frame["qa_probability"] - frame["qa_true"]) ** 2).mean())}


def train_qa(method: str, train: LGESlices, val: LGESlices, *, data_key: Mapping[str, Any], epochs: int,
             batch_size: int = 128, lr: float = 1e-3, patience: int | None = 7, width: float = 1.0, weights=None,
             encoder: TrainedModel | None = None, run_index: int = 0, seed: int = 0,
             device: str | torch.device = "auto", out_dir: str | Path = "runs", force: bool = False,
             progress: bool = True) -> TrainedModel:
    """Train QA method ``method`` (a key of :data:`METHODS`) or reuse its finished record.

    Adam at ``lr``, cosine annealing over ``epochs``, early stopping on the validation MSE with
    ``patience``, best weights kept. ``supcon_qa`` needs ``encoder`` (from :func:`pretrain_supcon`),
    which is copied in and frozen. ``train`` should carry augmentation; ``train`` and ``val``
    must have labels. The run seed is ``seed * 100 + run_index`` (same for every method, so the
    methods of one run start from the same random heads).
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r}: expected one of {', '.join(METHODS)}")
    if method == "supcon_qa" and encoder is None:
        raise ValueError("method='supcon_qa' needs encoder= (the result of pretrain_supcon)")
    _check_sizes(f"train_qa({method!r})", train=train, validation=val)
    if not (train.with_labels and val.with_labels):
        raise ValueError(f"train_qa({method!r}): the slices have no quality labels (load the cases with scores)")
    dev = resolve_device(device)
    run_seed = seed * 100 + run_index
    config = {"stage": "qa", "method": method, "width": width, "weights": weights_identity(weights),
              "epochs": epochs, "batch_size": batch_size, "lr": lr, "patience": patience, "run": run_index,
              "seed": seed, "encoder": encoder.run.key if encoder is not None else None, "data": dict(data_key)}
    torch.manual_seed(run_seed)
    model = _qa_model(method, width, None if method == "supcon_qa" else weights)
    if method == "supcon_qa":
        model.load_encoder(encoder.model).freeze_encoder()

    def forward(m: nn.Module, batch):
        if method == "supcon_qa":
            m.encoder.eval()  # frozen: its BatchNorm statistics stay those of pretraining
        return m(batch["image"]), batch

    def loss(out, batch):
        if method != "multitask_qa":
            return qa_loss(out, batch["attributes"], batch["qa"])
        has = batch.get("has_mask")
        if has is None or bool(has.all()):
            return multitask_loss(out, batch["attributes"], batch["qa"], batch["mask"])
        # CHOICE: slices of scans without a mask train the QA heads only; the decoder's Dice (Eq. 2)
        # is taken over the slices that have a reference mask (none in the batch: no Dice term).
        has = has.to(out.mask.device)
        seg = dice_loss(out.mask[has], batch["mask"][has]) if bool(has.any()) else out.mask.sum() * 0.0
        return qa_loss(out, batch["attributes"], batch["qa"]) + seg

    def train_method(run: Run):
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=lr)
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))
        t0 = time.perf_counter()
        result = fit(model, train, loss=loss, optimizer=opt, scheduler=cosine, epochs=epochs,
                     batches=qa_batches(len(train), batch_size), forward=forward,
                     steps=Steps(scheduler_interval="epoch"),
                     evaluation=Evaluation(lambda m: _val_mse(m, val, dev), monitor="val_mse", mode="min",
                                           patience=patience, restore_best=True),
                     checkpoint=run.checkpoint, device=dev, seed=run_seed, progress=progress,
                     desc=f"{METHODS[method]} (run {run_index + 1})")
        return _fit_metrics(model, result, t0, {"best_val_mse": result.best}), result.history

    return reuse_or_train(CHAPTER, config, model, train_method, name=method, out_dir=out_dir, force=force, device=dev)


def qa_batches(n: int, batch_size: int) -> Batches:
    """Shuffled batches of ``min(batch_size, n)`` slices; a final batch of a single slice is dropped.

    The QA heads' BatchNorm cannot train on one value per channel (a lone slice), so with
    ``n % size == 1`` that one slice sits out the epoch (a different one each epoch, as the order is
    shuffled); otherwise every slice is used.
    """
    size = min(batch_size, n)
    return Batches(size, drop_last=n > 1 and n % size == 1)


class TwoViews(Dataset):
    """Two independently augmented views of each slice of an augmented :class:`LGESlices`, with its 4 labels.

    Items: ``views`` (2, 1, H, W) and ``labels`` (4,) = three attributes + QA (0/1), the label
    sets of Eq. 5.
    """

    def __init__(self, slices: LGESlices):
        if slices.transform is None:
            raise ValueError("TwoViews: the slices have no augmentation; two views would be identical")
        if not slices.with_labels:
            raise ValueError("TwoViews: the slices have no quality labels; supervised contrast needs them")
        self.slices = slices

    def __len__(self) -> int:
        return len(self.slices)

    def __getitem__(self, i: int) -> dict:
        a, b = self.slices[i], self.slices[i]
        return {"views": torch.stack([a["image"], b["image"]]), "labels": torch.cat([a["attributes"], a["qa"]])}


def pretrain_supcon(train: LGESlices, *, data_key: Mapping[str, Any], epochs: int, batch_size: int = 512,
                    lr: float = 0.5, temperature: float = 0.07, width: float = 1.0, weights=None, run_index: int = 0,
                    seed: int = 0, device: str | torch.device = "auto", out_dir: str | Path = "runs",
                    force: bool = False, progress: bool = True) -> TrainedModel:
    """Supervised contrastive pretraining of the encoder (``supcon_resnet34``, Eq. 5, LARS), or reuse it.

    Two augmented views per slice; the loss sums SupCon over the four binarised label sets;
    LARS at ``lr`` with cosine annealing. The history records the training loss per epoch.
    """
    _check_sizes("pretrain_supcon", train=train)
    dev = resolve_device(device)
    run_seed = seed * 100 + run_index
    config = {"stage": "supcon_pretrain", "model": "supcon_resnet34", "width": width,
              "weights": weights_identity(weights), "epochs": epochs, "batch_size": batch_size,
              "lr": lr,
              "temperature": temperature, "run": run_index, "seed": seed, "data": dict(data_key)}
    torch.manual_seed(run_seed)
    model = models.create("supcon_resnet34", width=width, weights=weights)

    def forward(m: nn.Module, batch):
        views = batch["views"]
        z = m(views.reshape(-1, *views.shape[2:])).reshape(views.shape[0], 2, -1)
        return z, batch["labels"]

    def pretrain(run: Run):
        opt = make_lars(model, lr=lr)
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))
        pairs = TwoViews(train)
        t0 = time.perf_counter()
        result = fit(model, pairs, loss=lambda z, y: multi_label_supcon_loss(z, y, temperature), optimizer=opt,
                     scheduler=cosine, epochs=epochs, batches=Batches(min(batch_size, len(pairs))),
                     steps=Steps(scheduler_interval="epoch"), forward=forward, checkpoint=run.checkpoint, device=dev,
                     seed=run_seed, progress=progress, desc=f"SupCon pretraining (run {run_index + 1})")
        last = result.history[-1]["train_loss"] if result.history else None
        return _fit_metrics(model, result, t0, {"final_supcon_loss": last}), result.history

    return reuse_or_train(CHAPTER, config, model, pretrain, name="supcon_resnet34", out_dir=out_dir, force=force,
                          device=dev)


# --------------------------------------------------------------------------- evaluation


@torch.no_grad()
def predict_slices(model: nn.Module, data: LGESlices, *, device: str | torch.device = "auto",
                   batch_size: int = 64) -> tuple[pd.DataFrame, np.ndarray]:
    """QA and attribute probabilities of every slice of ``data`` (no augmentation), and the embeddings.

    Returns ``(frame, embeddings)``: one row per slice with ``case_id``, ``slice``,
    ``qa_probability``, the attribute probabilities and (when labelled) ``qa_true``; and the
    (N, D) encoder embeddings in the same order.
    """
    dev = resolve_device(device)
    model.to(dev).eval()
    qa, attrs, emb = [], [], []
    for start in range(0, len(data), batch_size):
        out = model(data.images[start:start + batch_size].to(dev))
        qa.append(torch.sigmoid(out.qa.float())[:, 0].cpu())
        attrs.append(torch.sigmoid(out.attributes.float()).cpu())
        emb.append(out.embedding.float().cpu())
    frame = pd.DataFrame({"case_id": data.slice_case_ids, "slice": [z for _, z in data.index],
                          "qa_probability": torch.cat(qa).numpy() if qa else []})
    if attrs:
        from paperkit.models.lge_quality import ATTRIBUTES

        for j, name in enumerate(ATTRIBUTES):
            frame[f"{name}_probability"] = torch.cat(attrs)[:, j].numpy()
    if data.with_labels:
        frame["qa_true"] = [data.cases[ci].qa_label for ci, _ in data.index]
    return frame, (torch.cat(emb).numpy() if emb else np.zeros((0, 0)))


def scan_predictions(slices: pd.DataFrame, threshold: float = 0.5, tie: str = "non-diagnostic") -> pd.DataFrame:
    """One row per scan: the mode of its slices' labels (``qa_probability >= threshold``), ties by ``tie``.

    Columns ``case_id``, ``n_slices``, ``predicted``, ``tied`` (the vote was tied and ``tie``
    decided, :data:`TIE_RULES`), ``mean_probability`` and ``true`` (when the slices carry ``qa_true``).
    """
    if slices.empty:
        raise ValueError("scan_predictions: no slice predictions")
    probabilities = slices["qa_probability"].to_numpy()
    labels = (probabilities >= threshold).astype(int)
    tied: list = []
    modes = scan_mode(slices["case_id"], labels, tie=tie, probabilities=probabilities, threshold=threshold,
                      ties=tied)
    grouped = slices.groupby("case_id", sort=False)
    frame = pd.DataFrame({"case_id": list(modes), "predicted": list(modes.values())})
    frame["n_slices"] = frame["case_id"].map(grouped.size())
    frame["tied"] = frame["case_id"].isin(set(tied))
    frame["mean_probability"] = frame["case_id"].map(grouped["qa_probability"].mean())
    if "qa_true" in slices:
        frame["true"] = frame["case_id"].map(grouped["qa_true"].first()).astype(int)
    return frame


def scan_metrics(scans: pd.DataFrame) -> dict[str, float]:
    """Precision, recall, F1, specificity and accuracy over scans (diagnostic = 1 is positive)."""
    if "true" not in scans:
        raise ValueError("scan_metrics: the scans have no 'true' column (labelled slices are needed)")
    m = confusion_metrics(scans["true"].to_numpy(), scans["predicted"].to_numpy(), positive=1)
    out = {k: float(m[k]) for k in (*SCAN_METRICS, "accuracy")} | {k: int(m[k]) for k in ("tp", "fp", "tn", "fn")}
    if "tied" in scans:
        out["tied scans"] = int(scans["tied"].sum())
    return out


def store_test_scans(result: TrainedModel, scans: pd.DataFrame) -> Path:
    """Write a QA run's per-scan test predictions into its run record as ``test_scans.npz`` (atomically).

    ``scans`` is :func:`scan_predictions`' table with ``true``; the claims compare methods on these
    rows (:mod:`paperkit.chapters.lge_quality.claims`). The run's key and metrics are untouched.
    """
    if "true" not in scans:
        raise ValueError("store_test_scans: the scans have no 'true' column (labelled test slices are needed)")
    extra = {"tied": scans["tied"].to_numpy(bool)} if "tied" in scans else {}
    return write_npz(result.run.path("test_scans.npz"), case_id=np.asarray(scans["case_id"].astype(str), dtype=str),
                     true=scans["true"].to_numpy(int), predicted=scans["predicted"].to_numpy(int),
                     mean_probability=scans["mean_probability"].to_numpy(float), **extra)


def load_test_scans(result: TrainedModel) -> pd.DataFrame:
    """The per-scan test predictions :func:`store_test_scans` wrote into ``result``'s run record."""
    stored = result.run.load_arrays("test_scans.npz", "no per-scan test predictions in this run record; run the "
                                     "chapter's notebook (it stores them with store_test_scans)")
    return pd.DataFrame({k: stored[k] for k in ("case_id", "true", "predicted", "mean_probability")})


def summarise_runs(results: pd.DataFrame, by: str = "method",
                   metrics: Sequence[str] = SCAN_METRICS) -> pd.DataFrame:
    """Mean and standard deviation (ddof 1; 0 for a single run) of ``metrics`` per ``by`` group."""
    missing = [c for c in (by, *metrics) if c not in results]
    if missing:
        raise ValueError(f"summarise_runs: columns {missing} missing; the table has {list(results.columns)}")
    grouped = results.groupby(by, sort=False)[list(metrics)]
    mean, std = grouped.mean(), grouped.std(ddof=1).fillna(0.0)
    out = pd.concat({"mean": mean, "std": std}, axis=1).swaplevel(axis=1)
    out = out[[(m, s) for m in metrics for s in ("mean", "std")]]
    out.columns = [f"{m} {s}" for m, s in out.columns]
    return out.reset_index().assign(runs=grouped.size().to_numpy())


def label_subset(cases: Sequence[LACase], n: int, seed: int = 0) -> list[LACase]:
    """``n`` labelled scans drawn by subject, keeping both QA classes (at least one of each when ``n >= 2``)."""
    cases = list(cases)
    if not 1 <= n <= len(cases):
        raise ValueError(f"label_subset: n={n!r}; expected 1..{len(cases)} (the training scans)")
    rng = np.random.default_rng(seed)
    order = [cases[i] for i in rng.permutation(len(cases))]
    chosen: list[LACase] = []
    for label in (0, 1):  # one scan of each class first, so the subset can learn both
        first = next((c for c in order if c.qa_label == label and c not in chosen), None)
        if first is not None and len(chosen) < n:
            chosen.append(first)
    chosen += [c for c in order if c not in chosen][: n - len(chosen)]
    subjects = {c.subject for c in chosen}
    # Keep whole subjects: a subject's other scans join (the subset may then exceed n slightly).
    return [c for c in cases if c.subject in subjects]


def load_data(S) -> dict:
    """The chapter's cases (with scores), their QA split and what identifies the data in run records.

    * ``synthetic``: :func:`~paperkit.data.synthetic.lge.make_synthetic_lge` writes the cohort in
      the challenge's NRRD layout (+ ``scores.csv``) under ``S.data_dir``;
    * ``la2018-degraded``: :func:`~paperkit.data.synthetic.lge.make_degraded_la2018` degrades every
      real case of ``S.data_dir`` ``S.copies`` times into the paperkit cache;
    * ``la2018``: the real cases of ``S.data_dir`` with ``S.scores_csv`` (default ``<root>/scores.csv``);
      scored scans without an atrium mask (no ``laendo.nrrd``) are kept for the QA stage.

    All three are read back with :func:`~paperkit.data.datasets.la2018.load_la2018`. The split is
    :func:`split_qa`: ``n_test`` test scans (capped at 20 % of the
    subjects on small data), the rest 90:10 train/validation, by subject, stratified by QA label.
    """
    from paperkit.data.datasets.la2018 import load_la2018
    from paperkit.data.io.errors import DataError

    if S.dataset == "synthetic":
        from paperkit.data.synthetic.lge import make_synthetic_lge

        root = make_synthetic_lge(S.data_dir, n_cases=S.n_cases, size=S.volume_size, n_slices=S.n_slices,
                                  seed=S.seed, difficulty=S.difficulty)
        data_key = {"dataset": "synthetic", "n_cases": S.n_cases, "size": S.volume_size, "n_slices": S.n_slices,
                    "difficulty": S.difficulty, "seed": S.seed}
        cases = load_la2018(root)
    elif S.dataset == "la2018-degraded":
        from paperkit.data.synthetic.lge import make_degraded_la2018

        root = make_degraded_la2018(S.data_dir, copies=S.copies, seed=S.seed, difficulty=S.difficulty)
        data_key = {"dataset": S.dataset, "source": fingerprint(S.data_dir), "copies": S.copies,
                    "difficulty": S.difficulty, "seed": S.seed}
        cases = load_la2018(root)
    else:
        root = Path(S.data_dir)
        scores = S.scores_csv or root / "scores.csv"
        if not Path(scores).is_file():
            raise DataError(f"dataset='la2018' needs quality scores: {scores} not found. Write a CSV with columns "
                            "case_id,myocardium_nulling,sharpness,enhancement_aorta_valve,fibrosis_quality "
                            "(1-5; see paperkit.data.datasets.la2018) and pass -p scores_csv <path>, or use "
                            "dataset='la2018-degraded' for synthetic labels on the real volumes")
        cases = load_la2018(root, scores=scores, masks="optional")
        data_key = {"dataset": "la2018", "data": fingerprint(root), "scores": fingerprint(scores)}
    split = evaluated_scans(split_qa(cases, n_test=S.n_test, seed=S.seed))
    return {"root": root, "cases": cases, "split": split, "data_key": data_key}


def evaluated_scans(split: Split) -> Split:
    """``split`` itself, or under a step cap (:mod:`paperkit.step_cap`) with its validation and test parts cut to
    ``cap`` scans each: fewer slices than ``cap`` batches, so a capped run evaluates a few batches."""
    cap = step_cap.current()
    if cap is None:
        return split
    parts = {name: items if name == "train" else items[:cap] for name, items in split.items()}
    return Split(parts, subject="subject", source=split.source, dropped=split.dropped, official=split.official,
                 notes=[*split.notes, f"step-capped run: validation and test cut to {cap} scan(s) each"])


def stage1_cohort(S, data: Mapping[str, Any]) -> dict:
    """The stage-1 UNet's own cohort and split (Sec. 4.3: the paper's 900 segmented scans), not the QA split.

    * ``S.seg_data_dir`` set: a separate segmentation cohort, any LA 2018 layout with a mask for every
      case (its scores, if any, are not read);
    * else the scans of the QA data that have masks (``data`` from :func:`load_data`).

    Either is split by :func:`~paperkit.data.datasets.la2018.split_stage1`: ``train.list``/``test.list``
    when the folder has them (the synthetic generator and the degraded copies write them), else random
    by subject (``S.seed``), noted in the split. Stage 1 never trains or validates on a QA test scan:
    a case of the cohort whose id or subject is a QA test scan's is held out of stage-1 training and
    validation (it stays on ``test.list`` if listed there), so the slices stage 1 selects on the QA test
    scans come from a network that has not seen them, as the paper's UNet learns from other scans.
    Returns ``{"cases", "split", "data_key", "source", "held_out"}``, ``held_out`` being the ids of
    those cases (the page says how many).
    """
    from paperkit.data.datasets.la2018 import load_la2018, split_stage1
    from paperkit.data.io.errors import DataError

    if S.seg_data_dir:
        root = Path(S.seg_data_dir).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"seg_data_dir={str(S.seg_data_dir)!r}: folder not found; expected an LA 2018 "
                                    "folder (NRRD or HDF5 layout) whose cases all have atrium masks")
        cases = load_la2018(root, scores=None)
        key = {"cohort": "seg_data_dir", "data": fingerprint(root)}
        source = f"a separate segmentation cohort (seg_data_dir, {len(cases)} scans with masks)"
    else:
        cases = [c for c in data["cases"] if c.has_mask]
        if not cases:
            raise DataError(f"{data['root']}: no scan has an atrium mask, so stage 1 has nothing to learn from; pass "
                            "-p seg_data_dir <an LA 2018 folder with masks> (the paper's segmentation cohort)")
        key = {"cohort": "qa data", **data["data_key"]}
        source = f"the {len(cases)} scans of the QA data that have masks"
    qa_test = {name for c in data["split"]["test"] for name in (c.case_id, c.subject)}
    held_out = [c.case_id for c in cases if c.list_name != "test" and ({c.case_id, c.subject} & qa_test)]
    split = evaluated_scans(split_stage1([c for c in cases if c.case_id not in set(held_out)], seed=S.seed))
    if held_out:
        split.notes.append(f"{len(held_out)} QA test scan(s) held out of stage-1 training and validation")
    return {"cases": cases, "split": split, "source": source, "held_out": held_out,
            "data_key": {**key, "split": split.source, "train": [c.case_id for c in split["train"]],
                         "val": [c.case_id for c in split["val"]]}}


def initial_weights(S) -> tuple[str | None, str]:
    """The encoders' initial weights of this run and a sentence saying which, from ``S.pretrained``.

    ``pretrained=True`` (the paper profile's default: the paper starts from ImageNet) needs
    torchvision's ResNet-34 checkpoint in the torch hub cache and ``width=1``; without the file it
    stops with the exact path expected and how to put it there, and never falls back to random
    weights silently. ``pretrained=False`` trains from random weights and says so. The sentence
    names the checkpoint's file, never the local folder.
    """
    from paperkit.models.pretrained import _torchvision_url, imagenet_checkpoint_path

    pretrained = S.pretrained
    if not isinstance(pretrained, bool):
        raise ValueError(f"pretrained={pretrained!r}: expected True (ImageNet weights, from the torch hub cache) "
                         "or False (random initialisation)")
    if not pretrained:
        return None, ("RANDOM initialisation (pretrained=False). All three methods of one run start from the same "
                      "random encoder (same seed), so Table 2 compares the training strategies, not ImageNet "
                      "transfer.")
    if S.width != 1:
        raise ValueError(f"pretrained=True with width={S.width:g}: ImageNet weights exist for the full-width "
                         "ResNet-34 only; pass -p width 1.0, or -p pretrained False for random weights")
    path = imagenet_checkpoint_path("resnet34")
    if not path.is_file():
        raise FileNotFoundError(
            f"pretrained=True ({S.profile} profile): the encoders start from ImageNet, but torchvision's ResNet-34 "
            f"checkpoint is not at {path} (torch.hub.get_dir()/checkpoints/{path.name}; TORCH_HOME moves that "
            f"folder). paperkit never downloads: fetch {_torchvision_url('resnet34')} on a machine with network "
            f"access and copy it to exactly that path (or set TORCH_HOME to a folder whose hub/checkpoints/ holds "
            f"it), or pass -p pretrained False to train from random weights instead.")
    return "imagenet", f"ImageNet: torchvision's checkpoint {path.name}, found in the torch hub cache"


def selected_slices(cases: Sequence[LACase], selection: Mapping[str, np.ndarray], image_size: int,
                    augment: bool = False) -> LGESlices:
    """The slices ``selection`` keeps (case id -> slice indices) of ``cases``, as a dataset."""
    missing = [c.case_id for c in cases if c.case_id not in selection]
    if missing:
        raise KeyError(f"selection has no slices for cases {missing[:5]}; expected every case of the set")
    return LGESlices(cases, image_size, slices={c.case_id: selection[c.case_id] for c in cases}, augment=augment)


def train_method(S, method: str, train: LGESlices, val: LGESlices, *, data_key: Mapping[str, Any], run_index: int,
                 weights=None) -> TrainedModel:
    """QA method ``method`` trained with the chapter settings ``S`` (supcon_qa: its SupCon pretraining first)."""
    encoder = None
    if method == "supcon_qa":
        encoder = pretrain_supcon(train, data_key=data_key, epochs=S.supcon_epochs, batch_size=S.supcon_batch_size,
                                  lr=S.supcon_lr, temperature=S.temperature, width=S.width, weights=weights,
                                  run_index=run_index, seed=S.seed, device=S.device, out_dir=S.out_dir)
    return train_qa(method, train, val, data_key=data_key, encoder=encoder, run_index=run_index, epochs=S.epochs,
                    batch_size=S.batch_size, lr=S.lr, patience=S.patience, width=S.width, weights=weights,
                    seed=S.seed, device=S.device, out_dir=S.out_dir)


# --------------------------------------------------------------------------- the paper's method on the data
# The QA split (Sec. 4.2), the stage-1 slice rule and the per-scan vote (Sec. 4.3): Sultan et al.'s
# choices on top of the LA 2018 data, so they live here rather than in paperkit.data.datasets.la2018.


def slices_with_atrium(probabilities, threshold: float = 0.5, axis: int = -1) -> np.ndarray:
    """Indices along ``axis`` of slices with any pixel above ``threshold`` (the paper's stage-1 rule).

    ``probabilities`` are sigmoid outputs of the LA UNet (a volume, or a (Z, ...) stack with ``axis=0``).
    """
    p = np.asarray(probabilities.detach().cpu() if hasattr(probabilities, "detach") else probabilities)
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold={threshold!r}: expected a probability in [0, 1)")
    other = tuple(a for a in range(p.ndim) if a != axis % p.ndim)
    return np.flatnonzero((p > threshold).any(axis=other))


TIE_RULES = {
    "non-diagnostic": "a tied vote calls the scan non-diagnostic (0), as scipy.stats.mode breaks ties (smallest label)",
    "diagnostic": "a tied vote calls the scan diagnostic (1)",
    "mean-probability": "a tied vote follows the scan's mean QA probability over its slices (>= the threshold: "
                        "diagnostic)",
}


def check_tie_rule(tie: str) -> str:
    """``tie`` if it is one of :data:`TIE_RULES`, else a ValueError naming the choices."""
    if tie not in TIE_RULES:
        raise ValueError(f"tie={tie!r}: expected one of {', '.join(map(repr, TIE_RULES))}")
    return tie


def scan_mode(case_ids: Sequence, predictions: Sequence, tie: str = "non-diagnostic", probabilities=None,
              threshold: float = 0.5, ties: list | None = None) -> dict:
    """Per scan, the most frequent slice prediction (Sultan et al., Sec. 4.3); a tie follows ``tie``.

    The paper does not say how a tied vote (e.g. 2-2 over four slices) is broken; :data:`TIE_RULES`:
    ``"non-diagnostic"`` (the smallest label, as ``scipy.stats.mode``), ``"diagnostic"`` (the largest)
    or ``"mean-probability"`` (the scan's mean of ``probabilities`` >= ``threshold``: 1, else 0; binary
    predictions only). Returns ``{case_id: label}`` in order of first appearance; the ids of tied
    scans are appended to ``ties`` when a list is given.
    """
    from collections import Counter

    check_tie_rule(tie)
    case_ids, predictions = list(case_ids), np.asarray(predictions).reshape(-1)
    if len(case_ids) != len(predictions):
        raise ValueError(f"scan_mode: {len(case_ids)} case ids for {len(predictions)} predictions")
    if tie == "mean-probability":
        if probabilities is None:
            raise ValueError("scan_mode: tie='mean-probability' needs probabilities= (one per slice)")
        probabilities = np.asarray(probabilities, dtype=float).reshape(-1)
        if len(probabilities) != len(predictions):
            raise ValueError(f"scan_mode: {len(probabilities)} probabilities for {len(predictions)} predictions")
    votes: dict = {}
    sums: dict = {}
    for i, (case, pred) in enumerate(zip(case_ids, predictions.tolist())):
        votes.setdefault(case, Counter())[pred] += 1
        if tie == "mean-probability":
            total, count = sums.get(case, (0.0, 0))
            sums[case] = (total + probabilities[i], count + 1)
    result = {}
    for case, counter in votes.items():
        best = max(counter.values())
        leaders = sorted(label for label, n in counter.items() if n == best)
        if len(leaders) > 1 and ties is not None:
            ties.append(case)
        if len(leaders) == 1 or tie == "non-diagnostic":
            result[case] = leaders[0]
        elif tie == "diagnostic":
            result[case] = leaders[-1]
        else:
            total, count = sums[case]
            result[case] = int(total / count >= threshold)
    return result


def split_qa(cases: Sequence[LACase], n_test: int = 20, val_fraction: float = 0.1, seed: int = 0,
             max_test_fraction: float = 0.2, stratify: bool = True) -> Split:
    """The QA split of Sultan et al. (Sec. 4.2): ``n_test`` test scans, the rest 90:10 train/val.

    By subject (cases sharing a ``subject`` stay together), stratified by the binarised QA
    label when every case has scores and ``stratify``. On small data the test set is capped
    at ``max_test_fraction`` of the subjects (at least 1): 30 cases give 6 test scans; the
    paper's 196 keep 20. The cap is recorded in ``notes``. Validation gets at least one subject.
    Returns a :class:`~paperkit.data.splits.Split`.
    """
    from paperkit.data.datasets.la2018 import split_cases, train_val

    cases = list(cases)
    subjects = sorted({c.subject for c in cases})
    if len(subjects) < 3:
        raise ValueError(f"split_qa: {len(subjects)} subject(s); expected at least 3 (test, train, val)")
    if isinstance(n_test, bool) or not isinstance(n_test, int) or n_test < 1:
        raise ValueError(f"split_qa: n_test={n_test!r}; expected a positive int")
    notes = []
    cap = max(1, int(max_test_fraction * len(subjects)))
    n_eff = min(n_test, cap)
    if n_eff < n_test:
        notes.append(f"test set capped at {n_eff} of {len(subjects)} subjects "
                     f"(n_test={n_test}, max_test_fraction={max_test_fraction})")
    stratify = stratify and all(c.scores is not None for c in cases)  # labels need scores
    outer = split_cases(cases, (1 - n_eff / len(subjects), n_eff / len(subjects)), ("rest", "test"), seed, stratify)
    inner = train_val(outer["rest"], val_fraction, seed + 1, stratify)
    return Split({"train": inner["train"], "val": inner["val"], "test": outer["test"]}, subject="subject",
                 source=f"random by subject, seed {seed}", notes=notes)
