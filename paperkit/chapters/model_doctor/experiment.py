"""Train, diagnose and treat one Model Doctor classifier, each step a run record.

The ``model_doctor`` chapter drives these:

* :func:`train_base` trains a registered classifier from scratch (SGD, momentum 0.9, weight
  decay 5e-4, one cosine cycle) and reports its test accuracy;
* :func:`treat_base` fine-tunes that trained model with Model Doctor's constraints
  (:func:`paperkit.explain.treat`): ``constraint`` is ``"channel"``, ``"space"``, ``"all"`` or
  ``"none"`` -- the last is the control, the same fine-tuning without any constraint, so a
  gain that comes from the extra epochs alone is not credited to the method;
* :func:`evaluate_accuracy` is the accuracy both report; each run also stores its per-image test
  predictions (``test_predictions.npz``: item, label, predicted class, class probabilities), so two
  runs can be compared image by image (:func:`load_predictions`, :func:`prediction_table`).

Which maps the constraints act on is :func:`hooked_layers` (the paper: the deep layers after their
activation; ``official=True``: the last convolution's raw output); :func:`constraint_reach` and
:func:`reach_summary` measure which weights the constraint terms can then move, in eval and in train mode.
:func:`load_data` reads a chapter dataset, mini-ImageNet by the paper's random category draws, and
:func:`check_classes` refuses a training and test set whose classes differ.

Every run is keyed by its configuration (the base run's key is part of a treatment's), so a
finished run is loaded instead of retrained. Helpers for the space-wise constraint's masks:
:class:`InkMasks` (foreground = ink, for digit images that carry no annotation) and
:class:`AnnotatedSubset` (only some images keep their mask, Table 2), with
:func:`low_confidence_indices` choosing which (the paper annotated low-confidence images).

:class:`paperkit.models.small_cnn.SmallCNN` (registered as ``small_cnn``) is not one of the
paper's 16 classifiers: it is a four-convolution network small enough for a classroom CPU, a
stand-in for them.
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from paperkit import step_cap
from paperkit.atomic import torch_save, write_npz
from paperkit.chapters.model_doctor.spec import REAL
from paperkit.data.fingerprint import fingerprint
from paperkit.explain.hooks import select_feature_layers
from paperkit.explain.model_doctor import DoctorConfig, aggregate_correlation, treat
from paperkit.models import count_parameters
from paperkit.models.registry import create
from paperkit.runs import Run, TrainedModel, reuse_or_train, start_run
from paperkit.runtime import resolve_device
from paperkit.train import Batches, fit, predict

CHAPTER = "model_doctor"
CONSTRAINTS = ("none", "channel", "space", "all")
PREDICTIONS = "test_predictions.npz"


# --------------------------------------------------------------------------- a classroom-sized classifier


def build_classifier(name: str, num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    """A registered classifier (``small_cnn`` or an ``md_*`` of Table 1) for this data."""
    return create(name, num_classes=num_classes, in_channels=in_channels, image_size=image_size)


# --------------------------------------------------------------------------- masks for the space-wise constraint


class InkMasks(Dataset):
    """``(image, label)`` -> ``(image, label, mask)`` with the foreground = pixels brighter than ``threshold``.

    For digit images (bright ink on a dark ground), which come without annotations: the ink is
    an exact object mask.
    """

    def __init__(self, dataset: Dataset, threshold: float = 0.3):
        self.dataset, self.threshold = dataset, threshold
        self.classes = getattr(dataset, "classes", None)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        x, y = self.dataset[index][:2]
        return x, y, (x.amax(0, keepdim=True) > self.threshold).float()


class AnnotatedSubset(Dataset):
    """A masked dataset in which only the images at ``keep`` keep their mask; the others get an all-foreground one.

    An all-foreground mask leaves nothing to constrain, so those images train with the
    cross-entropy (and channel term) only: the paper's partially annotated training set.
    """

    def __init__(self, dataset: Dataset, keep: Sequence[int]):
        self.dataset, self.keep = dataset, set(int(i) for i in keep)
        self.classes = getattr(dataset, "classes", None)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        item = self.dataset[index]
        if len(item) < 3:
            raise ValueError("AnnotatedSubset: the dataset yields no masks; expected (image, label, mask)")
        x, y, m = item[:3]
        return x, y, (m if index in self.keep else torch.ones_like(m))


def has_masks(dataset: Dataset) -> list[bool]:
    """Which items carry a real (not all-foreground) mask; all False for a dataset without masks."""
    from torch.utils.data import Subset

    if isinstance(dataset, Subset):
        inner = has_masks(dataset.dataset)
        return [inner[i] for i in dataset.indices]
    if isinstance(dataset, InkMasks):
        return [True] * len(dataset)
    flags = getattr(dataset, "has_mask", None)
    if flags:
        return [bool(f) for f in flags]
    if len(dataset) and len(dataset[0]) > 2:
        return [bool(dataset[i][2].min() < 1) for i in range(len(dataset))]
    return [False] * len(dataset)


def low_confidence_indices(model: nn.Module, dataset: Dataset, num_classes: int, per_class: int, *,
                           candidates: Sequence[bool] | None = None, batch_size: int = 64,
                           device: str | torch.device = "auto") -> list[int]:
    """Per class, the ``per_class`` images (among ``candidates``) with the lowest softmax probability of their label.

    Only the candidates are predicted; the result indexes ``dataset``.
    """
    from torch.utils.data import Subset

    flags = [True] * len(dataset) if candidates is None else list(candidates)
    if len(flags) != len(dataset):
        raise ValueError(f"{len(flags)} candidate flags for {len(dataset)} images: expected one per image")
    pool = [i for i, ok in enumerate(flags) if ok]
    if not pool:
        return []
    logits, targets = predict(model, Subset(dataset, pool), batch_size=batch_size, device=device, amp="off")
    prob = logits.softmax(1).gather(1, targets.long().view(-1, 1)).view(-1)
    chosen: list[int] = []
    for n in range(num_classes):
        idx = torch.nonzero(targets.view(-1) == n).view(-1)
        chosen += [pool[j] for j in idx[torch.argsort(prob[idx], stable=True)][:per_class].tolist()]
    return sorted(chosen)


# --------------------------------------------------------------------------- runs


def predict_items(model: nn.Module, dataset: Dataset, *, batch_size: int = 64,
                     device: str | torch.device = "auto") -> dict[str, np.ndarray]:
    """Per-image predictions of ``model`` (eval mode) on ``dataset``, in its order: ``item`` (the
    position in ``dataset``), ``label``, ``predicted`` (arg-max class) and ``prob`` (softmax, items x classes)."""
    logits, targets = predict(model, _labels_only(dataset), batch_size=batch_size, device=device, amp="off")
    prob = logits.float().softmax(1).numpy()
    return {"item": np.arange(len(prob)), "label": targets.long().view(-1).numpy(), "predicted": prob.argmax(1),
            "prob": prob.astype(np.float32)}


def _accuracy_metrics(predictions: Mapping[str, np.ndarray]) -> dict:
    pred, targets = predictions["predicted"], predictions["label"]
    classes = int(max(predictions["prob"].shape[1], targets.max() + 1))
    per_class = [float((pred[targets == c] == c).mean()) if (targets == c).any() else None
                 for c in range(classes)]  # None: no test image of the class (run records hold finite numbers)
    return {"accuracy": float((pred == targets).mean()), "per_class": per_class, "n_test": int(len(targets))}


def evaluate_accuracy(model: nn.Module, dataset: Dataset, *, batch_size: int = 64,
                      device: str | torch.device = "auto") -> dict:
    """Test accuracy and per-class accuracy of ``model`` on ``dataset`` (eval mode)."""
    return _accuracy_metrics(predict_items(model, dataset, batch_size=batch_size, device=device))


def _store_predictions(trained: TrainedModel, test: Dataset, device) -> TrainedModel:
    """Write the run's per-image test predictions when its record lacks them (records made before they were
    stored): the reused weights predict the same images, so the stored metrics and the run key stay as they are."""
    path = trained.run.path(PREDICTIONS)
    if not path.exists():
        write_npz(path, **predict_items(trained.model, test, device=device))
        trained.model.eval()
    return trained


def load_predictions(trained: TrainedModel) -> dict[str, np.ndarray]:
    """The per-image test predictions stored with a :func:`train_base` / :func:`treat_base` run."""
    return trained.run.load_arrays(PREDICTIONS, "no stored test predictions; run train_base/treat_base on "
                                                "this record")


def prediction_table(runs: Mapping[tuple[str, str], TrainedModel]) -> pd.DataFrame:
    """One row per (model, condition, test image) from ``{(model, condition): run}``: columns ``model``,
    ``condition`` (e.g. ``base``, ``none``, ``channel``), ``item``, ``label`` and ``predicted`` -- the table
    the chapter's claims compare conditions on, image by image."""
    frames = []
    for (model, condition), trained in runs.items():
        p = load_predictions(trained)
        frames.append(pd.DataFrame({"model": model, "condition": condition, "item": p["item"], "label": p["label"],
                                    "predicted": p["predicted"]}))
    columns = ["model", "condition", "item", "label", "predicted"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


# CHOICE: the paper names no optimiser settings for its base classifiers; these are the usual SGD ones.
SGD_SETTINGS = {"momentum": 0.9, "weight_decay": 5e-4}


def _sgd(model: nn.Module, lr: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=lr, **SGD_SETTINGS)


def train_base(name: str, train: Dataset, test: Dataset, *, data_key: Mapping[str, Any], num_classes: int,
               in_channels: int, image_size: int, epochs: int, batch_size: int = 32, lr: float = 0.05,
               seed: int = 0, device: str | torch.device = "auto", out_dir: str | Path = "runs",
               force: bool = False, progress: bool = True) -> TrainedModel:
    """Train classifier ``name`` from scratch on ``train``; test accuracy on ``test``; reuse a finished run.

    SGD (momentum 0.9, weight decay 5e-4) with one cosine cycle from ``lr`` to zero, stepped per batch.
    """
    dev = resolve_device(device)
    config = {"stage": "base", "model": name, "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
              "num_classes": num_classes, "in_channels": in_channels, "image_size": image_size, "data": dict(data_key)}
    torch.manual_seed(seed)
    model = build_classifier(name, num_classes, in_channels, image_size)

    def train_and_test(run: Run):
        optimizer = _sgd(model, lr)
        steps = max(1, epochs * -(-len(train) // batch_size))
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
        t0 = time.perf_counter()
        result = fit(model, train, loss=F.cross_entropy, optimizer=optimizer, scheduler=schedule, epochs=epochs,
                     batches=Batches(batch_size), checkpoint=run.checkpoint, device=dev, seed=seed, progress=progress,
                     desc=f"{name} base")
        seconds = time.perf_counter() - t0
        model.eval()
        predictions = predict_items(model, test, batch_size=max(batch_size, 64), device=dev)
        write_npz(run.path(PREDICTIONS), **predictions)
        metrics = {**_accuracy_metrics(predictions),
                   "train_accuracy": evaluate_accuracy(model, _labels_only(train), batch_size=64,
                                                       device=dev)["accuracy"],
                   "params_m": count_parameters(model, trainable_only=True) / 1e6, "seconds": seconds,
                   "n_train": len(train)}
        return metrics, result.history

    trained = reuse_or_train(CHAPTER, config, model, train_and_test, name=name, out_dir=out_dir, force=force,
                             device=dev)
    return _store_predictions(trained, test, dev)


class _LabelsOnly(Dataset):
    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        return self.dataset[index][:2]


def _labels_only(dataset: Dataset) -> Dataset:
    """``(image, label)`` pairs of a dataset that may also yield masks (predict takes batch[1] as target)."""
    return _LabelsOnly(dataset)


def constraint_config(config: DoctorConfig, constraint: str) -> DoctorConfig:
    """``config`` with the weights of the terms a constraint leaves out set to zero."""
    if constraint not in CONSTRAINTS:
        raise ValueError(f"constraint={constraint!r}: expected one of {CONSTRAINTS}")
    return replace(config, lambda_channel=config.lambda_channel if constraint in ("channel", "all") else 0.0,
                   lambda_space=config.lambda_space if constraint in ("space", "all") else 0.0)


def resolve_layers(model: nn.Module, layers: Sequence[str] | str | int, point: str = "conv") -> list[str]:
    """Module names to tap for ``layers`` (an int k = the last k Conv2d at ``point``, a name, or names)."""
    return select_feature_layers(model, layers, point)


def hooked_layers(model: nn.Module, *, official: bool, treat_layers: int) -> list[str]:
    """The modules whose feature maps the constraints act on, paper or official code.

    Paper: the deep layers' feature maps after the activation (Eq. 1 defines ``m = f(c * m')``
    with f the activation; "the space-wise and channel-wise constraints are adopted to constrain
    the deep layers"), here the last ``treat_layers`` Conv2d, each tapped at its activation.
    Official code (``official=True``): the last Conv2d's raw output only, whatever ``treat_layers``.
    """
    return resolve_layers(model, 1, "conv") if official else resolve_layers(model, treat_layers, "activation")


def treat_base(base: TrainedModel, train: Dataset, test: Dataset, *, constraint: str, num_classes: int,
               layers: Sequence[str] | str | int = 1, config: DoctorConfig | None = None, epochs: int = 2,
               lr: float = 0.005, batch_size: int = 32, annotated_per_class: int | None = None,
               correlation=None, seed: int = 0, device: str | torch.device = "auto",
               out_dir: str | Path = "runs", force: bool = False, progress: bool = True,
               tag: str = "") -> TrainedModel:
    """Fine-tune a copy of ``base.model`` with Model Doctor's ``constraint``; reuse a finished run.

    ``"channel"``/``"space"``/``"all"`` go through :func:`paperkit.explain.treat` (diagnosis on
    ``train`` with ``config``, then CE + weighted terms); ``"none"`` is the control: the same
    optimiser, epochs and data with the cross-entropy alone. ``annotated_per_class`` keeps the
    masks of only that many low-confidence images per class (None: every mask ``train`` has).
    The constant learning rate ``lr`` uses the base run's SGD settings. ``correlation`` (from
    :func:`diagnose`, holding at least ``layers``) is reused; None diagnoses ``layers`` now. Metrics add ``gain``
    (accuracy minus the base's, in points) and ``channels_kept`` (fraction of the channel masks that is 1).
    """
    if constraint not in CONSTRAINTS:
        raise ValueError(f"constraint={constraint!r}: expected one of {CONSTRAINTS}")
    config = config or DoctorConfig()
    dev = resolve_device(device)
    masked = any(has_masks(train)) if constraint in ("space", "all") else False
    if constraint in ("space", "all") and not masked:
        raise ValueError(f"constraint={constraint!r} needs foreground masks, but the training set has none")
    names = resolve_layers(base.model, layers, config.point)
    cfg = constraint_config(config, constraint)
    run_config = {"stage": "treat", "base": base.run.key, "constraint": constraint, "layers": names,
                  "doctor": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__}, "epochs": epochs, "lr": lr,
                  "batch_size": batch_size, "annotated_per_class": annotated_per_class if masked else None,
                  "seed": seed}
    model = build_classifier(base.name, num_classes, base.run.config["in_channels"], base.run.config["image_size"])

    def treat_and_test(run: Run):
        model.load_state_dict(base.model.state_dict())
        model.to(dev)
        data = train
        if masked and annotated_per_class is not None:
            candidates = has_masks(train)
            if step_cap.current() is not None:  # a step-capped run ranks `cap` batches of the images, by class
                ranked = _limit(train, step_cap.current() * batch_size, seed)
                within = set(ranked.indices) if hasattr(ranked, "indices") else set(range(len(train)))
                candidates = [ok and i in within for i, ok in enumerate(candidates)]
            keep = low_confidence_indices(base.model, _labels_only(train), num_classes, annotated_per_class,
                                          candidates=candidates, device=dev)
            data = AnnotatedSubset(train, keep)
        elif not masked:
            data = _labels_only(train)
        desc = f"{base.name} +{constraint}{' ' + tag if tag else ''}"
        t0 = time.perf_counter()
        if constraint == "none":
            result = fit(model, data, loss=F.cross_entropy, optimizer=_sgd(model, lr), epochs=epochs,
                         batches=Batches(batch_size), checkpoint=run.checkpoint, device=dev, seed=seed,
                         progress=progress, desc=desc)
            history, kept = result.history, None
        else:
            corr = _subset(correlation, names) if correlation is not None else diagnose(
                base, train, num_classes, layers=names, config=config, seed=seed, device=dev, out_dir=out_dir)
            corr = replace(corr, config=cfg)
            treated = treat(model, data, num_classes, layers=names, config=cfg, correlation=corr,
                            optimizer=lambda params: _sgd_params(params, lr), epochs=epochs, batch_size=batch_size,
                            device=dev, seed=seed, checkpoint=run.checkpoint, progress=progress, desc=desc)
            history = treated.fit.history
            kept = float(torch.cat([m.flatten() for m in treated.masks.values()]).mean())
        seconds = time.perf_counter() - t0
        model.eval()
        predictions = predict_items(model, test, batch_size=64, device=dev)
        write_npz(run.path(PREDICTIONS), **predictions)
        metrics = {**_accuracy_metrics(predictions), "seconds": seconds, "channels_kept": kept}
        metrics["gain"] = 100 * (metrics["accuracy"] - base.metrics["accuracy"])
        return metrics, history

    trained = reuse_or_train(CHAPTER, run_config, model, treat_and_test, name=base.name, out_dir=out_dir,
                             force=force, device=dev)
    return _store_predictions(trained, test, dev)


def constraint_reach(model: nn.Module, dataset: Dataset, correlation, *, config: DoctorConfig,
                     layers: Sequence[str] | None = None, batch_size: int = 16,
                     device: str | torch.device = "auto") -> pd.DataFrame:
    """Which weights the constraint terms can move: their gradient on each parameter tensor, eval vs train mode.

    One batch (the first ``batch_size`` items of ``dataset``) goes through
    :class:`paperkit.explain.DoctorObjective` at ``correlation.layers`` with ``config``; the gradient of
    ``lambda_channel * channel + lambda_space * space`` (no cross-entropy) is taken with respect to every
    parameter, once with the model in eval mode (BatchNorm uses its running statistics) and once in
    train mode (batch statistics), on copies so the model's own statistics stay as they were. ``layers``
    (default: all of the correlation's) are the taps the constraints act on. Rows:
    ``parameter``, ``module`` (its type), ``before_taps`` (its module is, or comes before, the first tapped
    module in registration order: it helps produce the maps), ``eval`` and ``train`` (gradient norms).
    """
    import copy

    from paperkit.explain.model_doctor import DoctorObjective, channel_masks

    dev = resolve_device(device)
    if layers is not None:
        correlation = _subset(correlation, layers)
    items = [dataset[i] for i in range(min(batch_size, len(dataset)))]
    batch = [torch.stack([torch.as_tensor(it[k]) for it in items]).to(dev) for k in range(len(items[0]))]
    masks = channel_masks(correlation)
    order = {name: i for i, (name, _) in enumerate(model.named_modules())}
    first_tap = min(order[n] for n in correlation.layers)
    kinds = {name: type(m).__name__ for name, m in model.named_modules()}
    norms: dict[str, dict[str, float]] = {}
    for mode in ("eval", "train"):
        net = copy.deepcopy(model).to(dev).train(mode == "train")
        objective = DoctorObjective(net, correlation.layers, masks, config)
        output, _ = objective.forward(net, batch)
        loss = config.lambda_channel * output["channel"] + config.lambda_space * output["space"]
        params = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
        grads = torch.autograd.grad(loss, [p for _, p in params], allow_unused=True)
        norms[mode] = {n: 0.0 if g is None else float(g.detach().norm()) for (n, _), g in zip(params, grads)}
    rows = []
    for name in norms["eval"]:
        owner = name.rsplit(".", 1)[0] if "." in name else ""
        rows.append({"parameter": name, "module": kinds.get(owner, type(model).__name__),
                     "before_taps": order.get(owner, 0) <= first_tap, "eval": norms["eval"][name],
                     "train": norms["train"][name]})
    return pd.DataFrame(rows)


def reach_summary(reach: pd.DataFrame, *, tol: float = 1e-12) -> str:
    """One sentence, from :func:`constraint_reach`'s rows, on which convolution weights the constraints move.

    Counts the Conv2d weight tensors the constraint gradient reaches in eval mode and in train mode, and
    says whether the extra ones in train mode come before the tapped maps (reached only through
    BatchNorm's batch statistics, which exist in train mode only).
    """
    conv = reach[reach.module == "Conv2d"]
    if conv.empty:
        raise ValueError("reach_summary: the rows hold no Conv2d parameter; expected constraint_reach's table")
    in_eval = conv[conv["eval"] > tol]
    in_train = conv[conv["train"] > tol]
    only_train = in_train[~in_train.parameter.isin(in_eval.parameter)]
    head = reach[(reach.module == "Linear") & (reach["eval"] > tol)]

    def names(df):
        return ", ".join(df.parameter) if len(df) else "none"

    text = (f"In eval mode the constraint terms reach {len(in_eval)} of the {len(conv)} convolution weight tensors "
            f"({names(in_eval)}){' and the linear head' if len(head) else ''}; in train mode {len(in_train)} "
            f"({names(in_train)}).")
    if len(only_train):
        before = bool(only_train.before_taps.all())
        text += (f" The {len(only_train)} reached only in train mode "
                 + ("all lie before the tapped feature maps: the terms reach them only through BatchNorm's batch "
                    "statistics, since in eval mode the gradient at a map does not depend on the weights that "
                    "produced it." if before else "include weights after the tapped maps."))
    else:
        text += " Train mode reaches no further convolution: the terms can move only weights after the tapped maps."
    return text


def _subset(correlation, names: Sequence[str]):
    missing = [n for n in names if n not in correlation.values]
    if missing:
        raise ValueError(f"the correlation holds layers {correlation.layers}, not {missing}; diagnose those layers")
    return replace(correlation, layers=list(names), values={n: correlation.values[n] for n in names})


def _sgd_params(params, lr: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, **SGD_SETTINGS)


DIAGNOSE_BATCH = 32  # images per aggregation batch (each carries this many times J noise draws)


def diagnose(base: TrainedModel, train: Dataset, num_classes: int, *, layers: Sequence[str] | str | int = 3,
             config: DoctorConfig | None = None, seed: int = 0, device: str | torch.device = "auto",
             out_dir: str | Path = "runs", force: bool = False):
    """The class-kernel correlation (Eqs. 3-4) of ``base`` at ``layers``, stored with the run and reused.

    Returns a :class:`paperkit.explain.Correlation`.
    """
    from paperkit.explain.model_doctor import Correlation

    config = config or DoctorConfig()
    dev = resolve_device(device)
    names = resolve_layers(base.model, layers, config.point)
    run = start_run(CHAPTER, {"stage": "diagnose", "base": base.run.key, "layers": names, "seed": seed,
                              "doctor": {k: getattr(config, k) for k in config.__dataclass_fields__}},
                    out_dir, force=force, device=str(dev))
    path = run.path("correlation.pt")
    if run.done and path.exists():
        saved = torch.load(path, weights_only=True)
        return Correlation(saved["layers"], saved["values"], saved["counts"], saved["indices"], config)
    t0 = time.perf_counter()
    if step_cap.current() is not None:  # a step-capped run aggregates over `cap` batches of candidates
        train = _limit(train, step_cap.current() * DIAGNOSE_BATCH, seed)
    corr = aggregate_correlation(base.model, _labels_only(train), num_classes, layers=names, config=config,
                                 batch_size=DIAGNOSE_BATCH, device=dev, seed=seed)
    torch_save({"layers": corr.layers, "values": corr.values, "counts": corr.counts, "indices": corr.indices}, path)
    run.finish({"seconds": time.perf_counter() - t0, "images": int(corr.counts.sum())})
    return corr


__all__ = ["CONSTRAINTS", "AnnotatedSubset", "InkMasks", "build_classifier", "check_classes",
           "constraint_config", "constraint_reach", "diagnose", "evaluate_accuracy", "has_masks", "hooked_layers",
           "load_predictions", "low_confidence_indices", "predict_items", "prediction_table", "reach_summary",
           "resolve_layers", "train_base", "treat_base"]


def load_data(S, draw: int = 0) -> dict:
    """Training and test sets of a chapter run, and what they are.

    Returns ``train`` and ``test`` (datasets of ``(image, label[, mask])``), ``classes``,
    ``in_channels``, ``image_size``, ``masks`` (what the masks are, or None), ``split`` (how
    train/test were made), ``data_key`` (identifies the data in run records), ``paper_column``
    (the dataset's Table 1 column, or None) and ``root``. The synthetic set is written as an
    ImageFolder with mask PNGs and read back through the ImageFolder loader. A folder holding
    only a test set (the MNIST and CIFAR-10 samples in ``$PAPERKIT_DATA``) is split 70/30 by a
    seeded class-stratified draw; ``train_limit`` / ``test_limit`` take stratified subsets.

    mini-ImageNet follows the paper's protocol: draw ``draw`` (0 .. ``S.category_draws - 1``) picks
    ``S.categories`` of its classes, pooled over its split folders, and splits each chosen class's
    images 80/20 (:func:`paperkit.data.datasets.classification_sets.load_mini_imagenet_draw`).
    Whatever the dataset, the training and test sets must list the same classes in the same order,
    or a :class:`~paperkit.data.io.errors.DataError` names them (a label would mean another class).
    """
    from paperkit.chapters.model_doctor.experiment import InkMasks
    from paperkit.data.datasets.classification_sets import ImageFolderDataset, load_classification_set, load_digits_set
    from paperkit.data.io.errors import MissingSplitError

    split = "the set's own train/test split"
    paper_column, masks, root = None, None, S.data_dir
    if S.dataset == "synthetic":
        from paperkit.data.synthetic.shapes import SHAPES, load_synthetic_shapes, make_synthetic_shapes
        from paperkit.runs import config_key

        size = S.image_size or S.synthetic_size
        params = dict(n_train=S.synthetic_train, n_test=S.synthetic_test, image_size=size, difficulty=S.difficulty,
                      spurious=S.spurious, seed=S.seed, classes=list(S.synthetic_classes or SHAPES))
        root = make_synthetic_shapes(S.data_dir / f"shapes-{size}px-{config_key(params)}", **params)
        train, test = load_synthetic_shapes(root, "train"), load_synthetic_shapes(root, "test")
        channels, masks = 3, "exact shape masks (every image)"
        split = f"generated: train with the class's own background {S.spurious:.0%} of the time, test never"
        data_key = {"dataset": "synthetic", **params}
    elif S.dataset == "digits":
        size = S.image_size or 28
        train, test = (InkMasks(load_digits_set(s, image_size=size, seed=S.seed)) for s in ("train", "test"))
        channels, masks = 1, "ink masks (pixels above 0.3), derived"
        split = "scikit-learn digits, seeded stratified 75/25 split (no writer ids)"
        data_key = {"dataset": "digits", "size": size, "seed": S.seed}
    elif S.dataset == "imagefolder":
        size = S.image_size or 64
        parts = {}
        for s in ("train", "test"):
            mask_root = S.data_dir / "masks" / s
            parts[s] = ImageFolderDataset(S.data_dir / s, mask_root=mask_root if mask_root.is_dir() else None,
                                          image_size=size)
        train, test = parts["train"], parts["test"]
        channels = 3
        masks = "coarse masks from <root>/masks/train" if train.mask_root is not None else None
        data_key = {"dataset": "imagefolder", "data": fingerprint(S.data_dir), "size": size}
    elif S.dataset == "mini-imagenet":
        from paperkit.data.datasets.classification_sets import load_mini_imagenet_draw

        _, paper_column, channels, native = REAL[S.dataset]
        size = S.image_size or native
        if not 0 <= draw < max(1, S.category_draws):
            raise ValueError(f"draw={draw}: expected 0..{max(1, S.category_draws) - 1} (category_draws)")
        train, test = load_mini_imagenet_draw(S.data_dir, categories=S.categories, draw=draw, seed=S.seed,
                                              channels=channels, image_size=size)
        split = (f"draw {draw + 1} of {S.category_draws}: {S.categories} random categories of the pooled split "
                 "folders, each class's images split 80/20 (seeded)")
        data_key = {"dataset": S.dataset, "data": fingerprint(S.data_dir), "size": size, "categories": S.categories,
                    "draw": draw, "seed": S.seed}
    else:
        loader, paper_column, channels, native = REAL[S.dataset]
        size = S.image_size or native
        kwargs = {"channels": channels, "image_size": size}
        test = load_classification_set(loader, S.data_dir, "test", **kwargs)
        try:
            train = load_classification_set(loader, S.data_dir, "train", **kwargs)
        except MissingSplitError:  # absent, not unreadable: an unreadable training file stops the run
            train, test = _split_test_only(test, 0.3, S.seed)
            split = "only the official test set is present: seeded stratified 70/30 split of it"
        if channels == 1:
            train, test = InkMasks(train), InkMasks(test)
            masks = "ink masks (pixels above 0.3), derived"
        data_key = {"dataset": S.dataset, "data": fingerprint(S.data_dir), "size": size, "split": split}
    check_classes(_classes(train), _classes(test))
    test_limit = S.test_limit
    if step_cap.current() is not None:  # a step-capped run evaluates `cap` batches, stratified by class
        test_limit = min(test_limit or len(test), step_cap.current() * S.batch_size)
    train = _limit(train, S.train_limit, S.seed)
    test = _limit(test, test_limit, S.seed + 1)
    data_key = {**data_key, "train_limit": S.train_limit, "test_limit": test_limit}
    classes = list(_classes(train))
    return {"train": train, "test": test, "classes": classes, "in_channels": channels, "image_size": size,
            "masks": masks, "split": split, "data_key": data_key, "paper_column": paper_column, "root": root}


def check_classes(train_classes, test_classes) -> None:
    """Raise a DataError naming the classes unless training and test sets list the same classes in the same order.

    Label k is ``classes[k]`` on both sides; otherwise the test set is scored against the wrong classes.
    """
    from paperkit.data.io.errors import DataError

    train_classes, test_classes = list(train_classes), list(test_classes)
    if train_classes == test_classes:
        return
    only_train = [c for c in train_classes if c not in test_classes]
    only_test = [c for c in test_classes if c not in train_classes]
    what = (f"only in train: {only_train}, only in test: {only_test}" if only_train or only_test
            else f"same classes in another order: train {train_classes}, test {test_classes}")
    raise DataError(f"training and test classes differ ({what}); expected the same classes in the same order "
                    "(for mini-ImageNet's few-shot split, dataset='mini-imagenet' pools the folders and draws "
                    "categories)")


def labels_of(dataset):
    """Labels of a dataset (fast paths for paperkit's datasets, InkMasks and Subset)."""
    import numpy as np
    from torch.utils.data import Subset

    if isinstance(dataset, Subset):
        return labels_of(dataset.dataset)[np.asarray(dataset.indices)]
    inner = getattr(dataset, "dataset", None)
    if inner is not None:
        return labels_of(inner)
    if hasattr(dataset, "labels"):
        return np.asarray(dataset.labels)
    if hasattr(dataset, "targets"):
        return np.asarray(dataset.targets)
    return np.array([int(dataset[i][1]) for i in range(len(dataset))])


def _classes(dataset):
    while not hasattr(dataset, "classes") or dataset.classes is None:
        dataset = dataset.dataset
    return dataset.classes


def _limit(dataset, limit, seed):
    """A class-stratified subset of ``limit`` items (the dataset itself when ``limit`` is None or larger)."""
    from torch.utils.data import Subset

    from paperkit.data.subsample import stratified_subsample

    if limit is None or limit >= len(dataset):
        return dataset
    keep = stratified_subsample(labels_of(dataset), size=limit, seed=seed, rounding="half_even", min_per_stratum=1,
                                draw="permutation")
    return Subset(dataset, keep.tolist())


def _split_test_only(dataset, test_fraction, seed):
    """Seeded class-stratified (train, test) Subsets of a dataset that is only a test set."""
    import numpy as np
    from sklearn.model_selection import train_test_split
    from torch.utils.data import Subset

    labels = labels_of(dataset)
    idx = np.arange(len(labels))
    tr, te = train_test_split(idx, test_size=test_fraction, random_state=seed, stratify=labels)
    return Subset(dataset, np.sort(tr).tolist()), Subset(dataset, np.sort(te).tolist())
