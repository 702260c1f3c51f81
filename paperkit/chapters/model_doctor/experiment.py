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

from paperkit.atomic import torch_save, write_npz
from paperkit.chapters.model_doctor.spec import REAL
from paperkit.data.fingerprint import fingerprint
from paperkit.explain.hooks import select_conv_layers
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
    """Per class, the ``per_class`` images (among ``candidates``) with the lowest softmax probability of their label."""
    logits, targets = predict(model, dataset, batch_size=batch_size, device=device, amp="off")
    prob = logits.softmax(1).gather(1, targets.long().view(-1, 1)).view(-1)
    ok = torch.ones(len(prob), dtype=torch.bool) if candidates is None else torch.as_tensor(list(candidates))
    chosen: list[int] = []
    for n in range(num_classes):
        idx = torch.nonzero(ok & (targets.view(-1) == n)).view(-1)
        chosen += idx[torch.argsort(prob[idx], stable=True)][:per_class].tolist()
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


def resolve_layers(model: nn.Module, layers: Sequence[str] | str | int) -> list[str]:
    """Conv layer names for ``layers`` (an int k = the last k, a name, or names)."""
    return select_conv_layers(model, layers)


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
    names = resolve_layers(base.model, layers)
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
            keep = low_confidence_indices(base.model, _labels_only(train), num_classes, annotated_per_class,
                                          candidates=has_masks(train), device=dev)
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


def _subset(correlation, names: Sequence[str]):
    missing = [n for n in names if n not in correlation.values]
    if missing:
        raise ValueError(f"the correlation holds layers {correlation.layers}, not {missing}; diagnose those layers")
    return replace(correlation, layers=list(names), values={n: correlation.values[n] for n in names})


def _sgd_params(params, lr: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, **SGD_SETTINGS)


def diagnose(base: TrainedModel, train: Dataset, num_classes: int, *, layers: Sequence[str] | str | int = 3,
             config: DoctorConfig | None = None, seed: int = 0, device: str | torch.device = "auto",
             out_dir: str | Path = "runs", force: bool = False):
    """The class-kernel correlation (Eqs. 3-4) of ``base`` at ``layers``, stored with the run and reused.

    Returns a :class:`paperkit.explain.Correlation`.
    """
    from paperkit.explain.model_doctor import Correlation

    config = config or DoctorConfig()
    dev = resolve_device(device)
    names = resolve_layers(base.model, layers)
    run = start_run(CHAPTER, {"stage": "diagnose", "base": base.run.key, "layers": names, "seed": seed,
                              "doctor": {k: getattr(config, k) for k in config.__dataclass_fields__}},
                    out_dir, force=force, device=str(dev))
    path = run.path("correlation.pt")
    if run.done and path.exists():
        saved = torch.load(path, weights_only=True)
        return Correlation(saved["layers"], saved["values"], saved["counts"], saved["indices"], config)
    t0 = time.perf_counter()
    corr = aggregate_correlation(base.model, _labels_only(train), num_classes, layers=names, config=config,
                                 device=dev, seed=seed)
    torch_save({"layers": corr.layers, "values": corr.values, "counts": corr.counts, "indices": corr.indices}, path)
    run.finish({"seconds": time.perf_counter() - t0, "images": int(corr.counts.sum())})
    return corr


__all__ = ["CONSTRAINTS", "AnnotatedSubset", "InkMasks", "build_classifier",
           "constraint_config", "diagnose", "evaluate_accuracy", "has_masks", "load_predictions",
           "low_confidence_indices", "predict_items", "prediction_table", "resolve_layers", "train_base",
           "treat_base"]


def load_data(S) -> dict:
    """Training and test sets of a chapter run, and what they are.

    Returns ``train`` and ``test`` (datasets of ``(image, label[, mask])``), ``classes``,
    ``in_channels``, ``image_size``, ``masks`` (what the masks are, or None), ``split`` (how
    train/test were made), ``data_key`` (identifies the data in run records), ``paper_column``
    (the dataset's Table 1 column, or None) and ``root``. The synthetic set is written as an
    ImageFolder with mask PNGs and read back through the ImageFolder loader. A folder holding
    only a test set (the MNIST and CIFAR-10 samples in ``$PAPERKIT_DATA``) is split 70/30 by a
    seeded class-stratified draw; ``train_limit`` / ``test_limit`` take stratified subsets.
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
    train = _limit(train, S.train_limit, S.seed)
    test = _limit(test, S.test_limit, S.seed + 1)
    data_key = {**data_key, "train_limit": S.train_limit, "test_limit": S.test_limit}
    classes = list(_classes(train))
    return {"train": train, "test": test, "classes": classes, "in_channels": channels, "image_size": size,
            "masks": masks, "split": split, "data_key": data_key, "paper_column": paper_column, "root": root}


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
