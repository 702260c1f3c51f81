"""Transfer learning vs random initialisation: the experiment runner of the rethink_transfer chapter.

Two steps, each a run record (so finished work is reused, interrupted work resumes):

* :func:`pretrained_weights` finds the source weights for transfer learning (TL), as the chapter's
  ``tl_weights`` setting asks: ``"imagenet"`` (the paper profile) requires an ImageNet checkpoint on
  disk and stops, naming the path and the command that makes or places it, when there is none;
  ``"auto"`` takes it when cached and otherwise pretrains the architecture here on a source task;
  ``"substitute"`` always pretrains here. The source task is the synthetic shape x texture task
  (:mod:`paperkit.data.synthetic.source`) or, with ``source_dataset="imagefolder"``, a folder in the
  ILSVRC train/val layout (:func:`pretrain_on_imagefolder`; ``python -m
  paperkit.chapters.rethink_transfer.pretrain`` runs it and installs the weights where
  ``weights="imagenet"`` finds them). Each :class:`SourceWeights` says which ``kind`` it is, so a
  comparison that mixes kinds is flagged;
* :func:`finetune` trains one model (TL or random initialisation, RI) on a multi-label task with a
  :class:`~paperkit.chapters.rethink_transfer.setup.TrainingSetup` (the paper's or the official
  code's) and reports per-label AUROC, AUPRC (trapezoid, the official code's definition) and AP on
  the test set, keeping the per-image test predictions.

Both set-ups train with Adam and ``ReduceLROnPlateau(factor=0.5, patience=5)``, stop once the
learning rate falls below 1e-6 (here also capped at ``epochs``) and keep the best validation epoch;
what the scheduler watches and which epoch is kept (validation mean AUROC, or the official code's
validation loss) is the set-up's.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, Subset

from paperkit import models, step_cap
from paperkit.atomic import write_npz
from paperkit.batchnorm import recalibrate_batchnorm
from paperkit.chapters.rethink_transfer.setup import TrainingSetup, train_transform, training_setup
from paperkit.chapters.rethink_transfer.spec import DATASET_LABELS, MEDMNIST_POSITIVE
from paperkit.data.fingerprint import fingerprint
from paperkit.data.synthetic.source import CLASSES, make_source_task
from paperkit.metrics import auprc_ap, auprc_trapezoid, auroc
from paperkit.models import count_parameters
from paperkit.models.pretrained import imagenet_checkpoint_path, imagenet_parent, weights_identity
from paperkit.runs import Run, TrainedModel, reuse_or_train
from paperkit.train import Batches, Evaluation, fit, predict

CHAPTER = "rethink_transfer"


def parent_of(name: str) -> str:
    """The architecture whose pretrained weights ``name`` starts from (a truncation's full network)."""
    return imagenet_parent(name)


TL_WEIGHTS = ("auto", "imagenet", "substitute")
SOURCE_DATASETS = ("synthetic", "imagefolder")
IMAGENET, SUBSTITUTE, IMAGEFOLDER = "ImageNet", "synthetic substitute", "image folder"


@dataclass(frozen=True)
class SourceWeights:
    """Where a TL model's initial weights come from."""

    weights: str | Path          # "imagenet" or a state-dict path for models.create(weights=...)
    description: str             # shown in tables: what the source task was
    accuracy: float | None = None    # validation accuracy on the source task pretrained here (None for ImageNet)
    chance: float | None = None      # chance accuracy of that task
    seconds: float | None = None     # wall time that pretraining took
    kind: str = IMAGENET             # IMAGENET, SUBSTITUTE or IMAGEFOLDER: comparisons across kinds are flagged


def _pretrain(arch: str, config: dict, train: Dataset, val: Dataset, *, n_classes: int, channels: int,
              epochs: int, batch_size: int, lr: float, seed: int, device, out_dir, force: bool, progress: bool,
              desc: str, num_workers: int = 0) -> TrainedModel:
    """The source-pretraining harness shared by the synthetic task and an image folder.

    Cross-entropy, Adam at ``lr``; after each epoch the BatchNorm statistics are recomputed on the last
    256 training images (:func:`recalibrate_batchnorm`) and the validation accuracy measured. The metrics
    hold ``source_val_accuracy``, ``chance``, ``n_classes``, ``n_val`` and ``seconds``; the weights are
    the run's ``weights.pt`` (what ``models.create(weights=...)`` loads).
    """
    torch.manual_seed(seed)
    model = models.create(arch, num_classes=n_classes, in_channels=channels)

    def pretrain(run: Run):
        clock = time.perf_counter()
        recent = Subset(train, range(max(0, len(train) - 256), len(train)))
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)

        def accuracy(m: nn.Module) -> dict:
            recalibrate_batchnorm(m, recent, device=device)
            logits, target = predict(m, val, batch_size=64, device=device)
            return {"val_accuracy": float((logits.argmax(1) == target).float().mean())}

        result = fit(model, train, loss=nn.CrossEntropyLoss(), optimizer=optimizer, epochs=epochs,
                     batches=Batches(batch_size, num_workers=num_workers),
                     evaluation=Evaluation(accuracy, monitor="val_accuracy"),
                     checkpoint=run.checkpoint, device=device, seed=seed, progress=progress, desc=desc)
        metrics = {"source_val_accuracy": result.history[-1]["val_accuracy"], "chance": 1 / n_classes,
                   "n_classes": n_classes, "n_val": len(val), "seconds": time.perf_counter() - clock}
        return metrics, result.history

    # The weights file keeps its name: finetune's key records it by name and content (weights_identity).
    return reuse_or_train(CHAPTER, config, model, pretrain, name=arch, out_dir=out_dir, force=force, device=device,
                          weights="weights.pt")


def pretrain_on_source(arch: str, *, image_size: int, n_images: int, epochs: int = 1, batch_size: int = 16,
                       lr: float = 1e-3, difficulty: float = 0.5, seed: int = 0, channels: int = 1,
                       normalize: tuple | None = None, device: str | torch.device = "auto",
                       out_dir: str | Path = "runs", force: bool = False, progress: bool = True) -> TrainedModel:
    """Pretrain ``arch`` on the synthetic source task, or reuse its finished record.

    ``n_images`` fresh images (:func:`paperkit.data.synthetic.source.make_source_task`, seeded by
    ``seed``) are seen ``epochs`` times; a separate validation set of ``max(2 * classes,
    min(256, n_images // 4))`` images (another seed) measures accuracy (:func:`_pretrain`).
    ``channels=3`` repeats the grey image (for a model fine-tuned on RGB input) and ``normalize``
    ``(mean, std)`` standardises it as the fine-tuning will.
    """
    config = {"stage": "source_pretrain", "arch": arch, "image_size": image_size, "n_images": n_images,
              "epochs": epochs, "batch_size": batch_size, "lr": lr, "difficulty": difficulty, "seed": seed,
              "source": f"shape x texture v2 ({len(CLASSES)} classes)",
              **({"channels": channels} if channels != 1 else {}),
              **({"normalize": [list(v) for v in normalize]} if normalize else {})}

    def task(n: int, task_seed: int):
        data = make_source_task(n, image_size, seed=task_seed, difficulty=difficulty, channels=channels)
        if normalize:
            mean, std = (torch.as_tensor(v, dtype=torch.float32).reshape(1, -1, 1, 1) for v in normalize)
            data = torch.utils.data.TensorDataset((data.tensors[0] - mean) / std, data.tensors[1])
        return data

    n_val = max(2 * len(CLASSES), min(256, n_images // 4))
    # Datasets are drawn lazily by the harness only when it trains; a reused record draws nothing.
    return _pretrain(arch, config, _Lazy(lambda: task(n_images, seed)), _Lazy(lambda: task(n_val, seed + 7919)),
                     n_classes=len(CLASSES), channels=channels, epochs=epochs, batch_size=batch_size, lr=lr,
                     seed=seed, device=device, out_dir=out_dir, force=force, progress=progress,
                     desc=f"pretrain {arch} on source")


class _Lazy(Dataset):
    """A dataset built on first use (so a reused pretraining record never draws its images)."""

    def __init__(self, make):
        self._make, self._data = make, None

    @property
    def data(self) -> Dataset:
        if self._data is None:
            self._data = self._make()
        return self._data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index):
        return self.data[index]


def pretrain_on_imagefolder(arch: str, root: str | Path, *, image_size: int = 224, epochs: int = 90,
                            batch_size: int = 256, lr: float = 1e-3, seed: int = 0, max_images: int | None = None,
                            num_workers: int = 0, device: str | torch.device = "auto", out_dir: str | Path = "runs",
                            force: bool = False, progress: bool = True) -> TrainedModel:
    """Pretrain ``arch`` on an image folder in the ILSVRC train/val layout, or reuse its finished record.

    ``root`` holds ``train/<class>/*.JPEG`` and ``val/<class>/*.JPEG`` (ImageNet after the usual
    ``valprep`` step that sorts the validation images into class folders; torchvision's
    ``ImageFolder`` layout), with the same class folders in both. Images are read as RGB, resized to
    ``image_size``, normalised with ImageNet's mean and std, and the training images augmented with a
    random resized crop and a horizontal flip. The same harness as the synthetic task
    (:func:`_pretrain`); ``max_images`` keeps an evenly spaced subset of the training images (a quick
    trial). The run's key names the folder by its name, class count and image counts.
    """
    from paperkit.chapters.rethink_transfer.setup import IMAGENET_MEAN, IMAGENET_STD
    from paperkit.data.datasets.classification_sets import ImageFolderDataset
    from paperkit.data.io.errors import DataError

    root = Path(root).expanduser()
    for split in ("train", "val"):
        if not (root / split).is_dir():
            raise DataError(f"{root / split}: folder not found; expected the ILSVRC layout "
                            f"{root}/train/<class>/*.JPEG and {root}/val/<class>/*.JPEG")
    crop_flip = training_setup(official=True, profile="paper", batch_size=batch_size, epochs=epochs)
    norm = (IMAGENET_MEAN, IMAGENET_STD)
    train = ImageFolderDataset(root / "train", channels=3, image_size=image_size, normalize=norm,
                               transform=train_transform(crop_flip, image_size))
    val = ImageFolderDataset(root / "val", channels=3, image_size=image_size, normalize=norm)
    if val.classes != train.classes:  # ImageFolderDataset checks the sets; the order must match as well
        raise DataError(f"{root}: train and val list their classes in different orders")
    if max_images is not None and max_images < len(train):
        train = Subset(train, np.linspace(0, len(train) - 1, max_images).round().astype(int).tolist())
    config = {"stage": "source_pretrain", "arch": arch, "source": "imagefolder", "folder": root.name,
              "n_classes": len(val.classes), "n_train": len(train), "n_val": len(val), "image_size": image_size,
              "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed}
    return _pretrain(arch, config, train, val, n_classes=len(val.classes), channels=3, epochs=epochs,
                     batch_size=batch_size, lr=lr, seed=seed, device=device, out_dir=out_dir, force=force,
                     progress=progress, desc=f"pretrain {arch} on {root.name}", num_workers=num_workers)


def make_weights_command(arch: str) -> str:
    """The shell command that makes (CBR) or the step that places (torchvision) ``arch``'s ImageNet weights."""
    from paperkit.models.pretrained import TORCHVISION_ARCHS, _torchvision_url

    parent = imagenet_parent(arch)
    if parent in TORCHVISION_ARCHS:
        return (f"copy {_torchvision_url(parent)} (fetched on a machine with network access) to "
                f"{imagenet_checkpoint_path(parent)}")
    return (f"python -m paperkit.chapters.rethink_transfer.pretrain --arch {parent} --imagefolder <ILSVRC2012 "
            f"folder with train/ and val/> --device cuda --install")


def missing_imagenet_message(arches: Sequence[str]) -> str:
    """Why a run that requires ImageNet weights stops: each missing file's path and how to make or place it."""
    lines = [f"  {a}: expected {imagenet_checkpoint_path(a)}; {make_weights_command(a)}" for a in arches]
    return ("tl_weights='imagenet' (the paper profile) needs ImageNet weights for every TL model, and these are "
            "missing (paperkit never downloads):\n" + "\n".join(lines)
            + "\nOr pass tl_weights='substitute' to pretrain every model here on the synthetic source task "
              "(not a reproduction of ImageNet transfer).")


def check_imagenet_weights(names: Sequence[str]) -> None:
    """Raise FileNotFoundError (:func:`missing_imagenet_message`) unless every model's ImageNet weights are on disk."""
    from paperkit.models.pretrained import imagenet_weights_available

    missing = sorted({parent_of(n) for n in names if not imagenet_weights_available(parent_of(n))})
    if missing:
        raise FileNotFoundError(missing_imagenet_message(missing))


def check_weights(S) -> None:
    """Stop a run whose settings require ImageNet weights (``tl_weights="imagenet"``, the paper profile) that are
    not on disk, before any data is made: :func:`check_imagenet_weights` on ``S.models``."""
    if S.tl_weights not in TL_WEIGHTS:
        raise ValueError(f"tl_weights={S.tl_weights!r}: expected one of {list(TL_WEIGHTS)}")
    if S.source_dataset not in SOURCE_DATASETS:
        raise ValueError(f"source_dataset={S.source_dataset!r}: expected one of {list(SOURCE_DATASETS)}")
    if S.tl_weights == "imagenet":
        check_imagenet_weights(S.models)


def pretrained_weights(name: str, *, tl_weights: str = "auto", source_dataset: str = "synthetic",
                       source_dir: str | Path | None = None, **pretrain_kwargs) -> SourceWeights:
    """TL weights for model ``name`` as ``tl_weights`` asks (module docstring).

    ``pretrain_kwargs`` go to :func:`pretrain_on_source` (``image_size`` and ``n_images`` are required)
    or, with ``source_dataset="imagefolder"``, its ``image_size``, ``epochs``, ``batch_size``, ``lr``,
    ``seed``, ``device``, ``out_dir``, ``force`` and ``progress`` to :func:`pretrain_on_imagefolder`
    on ``source_dir``.
    """
    from paperkit.models.pretrained import imagenet_weights_available

    if tl_weights not in TL_WEIGHTS:
        raise ValueError(f"tl_weights={tl_weights!r}: expected one of {list(TL_WEIGHTS)}")
    if source_dataset not in SOURCE_DATASETS:
        raise ValueError(f"source_dataset={source_dataset!r}: expected one of {list(SOURCE_DATASETS)}")
    arch = parent_of(name)
    if tl_weights != "substitute" and imagenet_weights_available(arch):
        return SourceWeights("imagenet", f"ImageNet (checkpoint found at {imagenet_checkpoint_path(arch).name})")
    if tl_weights == "imagenet":
        check_imagenet_weights([arch])
    why = "tl_weights='substitute'" if tl_weights == "substitute" else "no ImageNet checkpoint is on disk"
    if source_dataset == "imagefolder":
        if not source_dir:
            raise ValueError("source_dataset='imagefolder' needs source_dir (a folder with train/ and val/)")
        keep = ("image_size", "epochs", "batch_size", "lr", "seed", "device", "out_dir", "force", "progress")
        source = pretrain_on_imagefolder(arch, source_dir, **{k: v for k, v in pretrain_kwargs.items() if k in keep})
        kind, what = IMAGEFOLDER, f"image folder {Path(source_dir).name} ({source.metrics['n_classes']} classes)"
    else:
        source = pretrain_on_source(arch, **pretrain_kwargs)
        n, size = pretrain_kwargs["n_images"], pretrain_kwargs["image_size"]
        kind, what = SUBSTITUTE, f"synthetic {len(CLASSES)}-class shape x texture task ({n} images, {size} px)"
    accuracy, chance = source.metrics["source_val_accuracy"], source.metrics["chance"]
    return SourceWeights(source.run.path("weights.pt"),
                         f"{'substitute: ' if kind == SUBSTITUTE else ''}{what}, pretrained here because {why}; "
                         f"{accuracy:.0%} validation accuracy (chance {chance:.0%})",
                         accuracy=accuracy, chance=chance, seconds=source.metrics.get("seconds"), kind=kind)


def label_metrics(y_true: np.ndarray, y_score: np.ndarray, labels: Sequence[str]) -> dict[str, dict[str, float]]:
    """Per-label AUROC, AUPRC (trapezoid) and AP; labels with a single class in ``y_true`` are skipped."""
    out = {}
    for j, name in enumerate(labels):
        t = y_true[:, j]
        if t.min() == t.max():
            continue
        out[name] = {"AUROC": auroc(t, y_score[:, j]), "AUPRC": auprc_trapezoid(t, y_score[:, j]),
                     "AP": auprc_ap(t, y_score[:, j])}
    return out


def label_matrix(data: Dataset) -> np.ndarray:
    """The (n, labels) 0/1 targets of a multi-label dataset: its ``labels`` tensor, else read item by item."""
    if isinstance(data, Subset):
        return label_matrix(data.dataset)[np.asarray(data.indices)]
    labels = getattr(data, "labels", None)
    if labels is None and isinstance(data, torch.utils.data.TensorDataset):
        labels = data.tensors[1]
    if labels is None:
        labels = torch.stack([data[i][1] for i in range(len(data))])
    return np.asarray(labels, dtype=np.float64).reshape(len(data), -1)


def positive_weights(data: Dataset) -> torch.Tensor:
    """Per-label ``pos_weight`` of ``BCEWithLogitsLoss``: negatives / positives in ``data`` (the official code's).

    A label without a positive gets weight 1 (nothing to up-weight)."""
    y = label_matrix(data)
    pos = y.sum(axis=0)
    return torch.as_tensor(np.where(pos > 0, (len(y) - pos) / np.maximum(pos, 1), 1.0), dtype=torch.float32)


def finetune(name: str, init: str, *, train: Dataset, val: Dataset, test: Dataset, labels: Sequence[str],
             data_key: dict, epochs: int, batch_size: int = 32, lr: float = 1e-4, repeat: int = 0,
             source: SourceWeights | None = None, setup: TrainingSetup | None = None,
             device: str | torch.device = "auto", out_dir: str | Path = "runs", seed: int = 0, min_lr: float = 1e-6,
             recalibrate_bn: bool = False, force: bool = False, progress: bool = True) -> TrainedModel:
    """Train model ``name`` from ``init`` = "tl" (``source`` weights) or "ri" (random), or reuse its finished record.

    The record's metrics are the test set's per-label AUROC, AUPRC and AP (``per_label``), their
    means (``mean_AUROC``, ...), ``params``, ``best_epoch``, ``epochs_run``, ``source`` and
    ``source_kind``; the test predictions are stored in the run as ``test_predictions.npz``.
    ``data_key`` describes the data (dataset, subset fraction, sizes, generator settings) and joins
    the run's key, so a change of data is a new run. ``setup`` (default: the paper's,
    :func:`~paperkit.chapters.rethink_transfer.setup.training_setup`) sets the input channels (the
    datasets must match it), the loss (BCE, or with the official code's ``pos_weight`` from the
    training labels) and what the LR scheduler and the kept epoch watch (validation mean AUROC, or
    the official code's validation loss); what it changes joins the key. ``recalibrate_bn=True``
    recomputes the BatchNorm statistics on (up to 64 images of) the training set before every
    evaluation (:func:`recalibrate_batchnorm`): a run of a few dozen steps otherwise evaluates TL
    models with statistics still partly from the source task, and RI models with barely-updated
    initial ones. The official code does not do this (its runs are long enough for the running
    averages to settle); the small profiles do.
    """
    if init not in ("tl", "ri"):
        raise ValueError(f"init={init!r}: expected 'tl' (transfer learning) or 'ri' (random initialisation)")
    if init == "tl" and source is None:
        raise ValueError("init='tl' needs source= (see pretrained_weights)")
    setup = setup or training_setup(official=False, profile="paper", batch_size=batch_size, epochs=epochs, lr=lr)
    config = {"stage": "finetune", "model": name, "init": init, "repeat": repeat, "epochs": epochs,
              "batch_size": batch_size, "lr": lr, "min_lr": min_lr, "seed": seed, "labels": list(labels),
              "data": data_key, "source": weights_identity(source.weights) if init == "tl" else None,
              **({"recalibrate_bn": True} if recalibrate_bn else {}), **setup.run_key()}
    run_seed = seed * 1000 + repeat
    torch.manual_seed(run_seed)
    model = models.create(name, num_classes=len(labels), in_channels=setup.channels,
                          weights=source.weights if init == "tl" else None)
    by_loss = setup.monitor == "val_loss"

    def train_and_test(run: Run):
        weight = positive_weights(train) if setup.loss == "bce_pos_weight" else None
        criterion = nn.BCEWithLogitsLoss(pos_weight=weight)

        def validate(m: nn.Module) -> dict:
            if recalibrate_bn:  # 64 images estimate the statistics well enough, at a fraction of an epoch's cost
                recalibrate_batchnorm(m, Subset(train, range(min(64, len(train)))), device=device)
            scores, target = predict(m, val, batch_size=64, device=device)
            per = label_metrics(target.numpy(), torch.sigmoid(scores).numpy(), labels)
            value = float(np.mean([v["AUROC"] for v in per.values()])) if per else 0.5
            out = {"val_auroc": value}
            if by_loss:
                out["val_loss"] = float(nn.functional.binary_cross_entropy_with_logits(
                    scores, target.float(), pos_weight=weight))
            return out

        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min" if by_loss else "max",
                                                             factor=0.5, patience=5)
        result = fit(model, train, loss=criterion, optimizer=optimizer, scheduler=plateau, epochs=epochs,
                     batches=Batches(batch_size),
                     evaluation=Evaluation(validate, monitor=setup.monitor, mode="min" if by_loss else "max",
                                           restore_best=True, stop_if=lambda record: record["lr"] < min_lr),
                     checkpoint=run.checkpoint, device=device, seed=run_seed, progress=progress,
                     desc=f"{name} {init.upper()} r{repeat}")
        scores, target = predict(model, test, batch_size=64, device=device)
        probs = torch.sigmoid(scores).numpy()
        write_npz(run.path("test_predictions.npz"), y_true=target.numpy(), y_score=probs)
        per = label_metrics(target.numpy(), probs, labels)
        metrics = {"per_label": per, "params": count_parameters(model, trainable_only=True),
                   "best_epoch": result.best_epoch, "epochs_run": len(result.history),
                   "source": source.description if init == "tl" else "random",
                   "source_kind": source.kind if init == "tl" else "random",
                   **{f"mean_{m}": float(np.mean([v[m] for v in per.values()])) for m in ("AUROC", "AUPRC", "AP")}}
        return metrics, result.history

    return reuse_or_train(CHAPTER, config, model, train_and_test, name=name, out_dir=out_dir, force=force,
                          device=device)


def test_predictions(trained: TrainedModel) -> tuple[np.ndarray, np.ndarray]:
    """``(y_true, y_score)`` of a :func:`finetune` run's test set, read from its ``test_predictions.npz``.

    The claims compare models on these per-image predictions (:mod:`paperkit.chapters.rethink_transfer.claims`).
    """
    stored = trained.run.load_arrays("test_predictions.npz", "this fine-tuning record has no test predictions; "
                                     "retrain it (finetune(..., force=True)) to write them")
    return stored["y_true"], stored["y_score"]


def _columns(value) -> list[str]:
    """A list of column names from ``"a,b"`` or ``["a", "b"]``."""
    names = [c.strip() for c in value.split(",")] if isinstance(value, str) else list(value)
    if not names or any(not n for n in names):
        raise ValueError(f"csv_label_columns={value!r}: expected one or more column names, "
                         "e.g. 'covid' or 'covid,pneumonia'")
    return names


def _cap(splits: dict, labels: list[str], max_images, seed: int) -> dict:
    """About ``max_images`` rows per split, drawn by patient keeping class ratios (None: all).

    Whole patients and at least one patient per class stratum are kept, so a capped split may hold
    a few more images than ``max_images``.
    """
    from paperkit.data.subsample import stratified_subsample

    if max_images is None:
        return splits
    return {name: t if len(t) <= max_images else
            stratified_subsample(t, max_images / len(t), seed=seed, label_columns=labels, rounding="round",
                                 min_per_stratum=1)
            for name, t in splits.items()}


def _medmnist_tables(path):
    """MedMNIST arrays as image tables (``path`` names the array entry; one image = one patient)."""
    import numpy as np
    import pandas as pd

    from paperkit.data.datasets.medmnist import MEDMNIST_SPLITS, load_medmnist_npz
    from paperkit.data.io.errors import DataError

    arrays = load_medmnist_npz(path)
    n_labels = {a[1].shape[1] for a in arrays.values()}
    if len(n_labels) != 1:
        raise DataError(f"{path}: the splits have different label widths {sorted(n_labels)}")
    width = n_labels.pop()
    values = np.concatenate([a[1] for a in arrays.values()])
    if width == 1 and values.max() > 1:
        raise DataError(f"{path}: labels take {int(values.max()) + 1} classes; this chapter needs a binary "
                        "(N, 1) or multi-label 0/1 (N, L) subset, e.g. pneumoniamnist")
    subset = path.stem.split("_")[0]
    labels = [MEDMNIST_POSITIVE.get(subset, "label")] if width == 1 else [f"label_{k}" for k in range(width)]
    images, tables, offset = [], {}, 0
    for split in MEDMNIST_SPLITS:
        x, y = arrays[split]
        n = len(x)
        # MedMNIST publishes no patient ids: each image is its own "patient" and the official
        # split (made by the publishers) is used unchanged.
        table = pd.DataFrame({"path": [f"{path.name}:{split}_images[{i}]" for i in range(n)],
                              "patient": [f"{split}-{i}" for i in range(n)],
                              "array_index": np.arange(offset, offset + n)})
        for k, name in enumerate(labels):
            table[name] = y[:, k].astype(float)
        tables[split] = table
        images.append(x)
        offset += n
    return tables, labels, np.concatenate(images)


def setup_of(S) -> TrainingSetup:
    """The :class:`TrainingSetup` of the chapter's settings ``S`` (``official``, ``views``, profile, batch, epochs)."""
    return training_setup(official=S.official, profile=S.profile, batch_size=S.batch_size, epochs=S.epochs,
                          lr=S.lr, views=S.views)


def load_task(S, progress: bool = True, setup: TrainingSetup | None = None):
    """Train/val/test image tables and torch datasets for the chapter's ``dataset``.

    Returns a dict with ``tables`` (split -> image table), ``labels``, ``datasets`` (split ->
    torch dataset of ``(C x image_size x image_size image, label vector)``, C and the pixel
    normalisation as ``setup`` says, the training set augmented if it says so), ``make_dataset``
    (image table -> dataset; ``train=True`` for a training subset), ``split`` (how the splits were
    made), ``dropped`` (rows left out by the split), ``root``, ``data_key`` (what identifies the
    data in run records) and ``all_rows`` (the number of images the dataset's table held before
    the split, e.g. every row of CheXpert's ``train.csv`` with ``views="all"``). ``setup`` defaults
    to :func:`setup_of` ``(S)``. Per dataset:

    * ``synthetic``: written in the CheXpert layout and read back through
      :func:`paperkit.data.datasets.chexpert.load_chexpert`, the same loader as the real data;
      random 72/8/20 % split by patient (the paper's CheXpert fractions).
    * ``chexpert``: ``train.csv`` of a CheXpert download, same split; every view unless
      ``views="frontal"`` (the paper's 160,858 / 17,875 / 44,684 images add up to all views of
      train.csv); U-Zeros, or U-Ones with the official set-up.
    * ``csv``: ``<data_dir>/<csv_file>`` read by :func:`paperkit.data.datasets.csv_images.load_csv_images`
      with the columns ``csv_path_column``, ``csv_patient_column``, ``csv_label_columns`` and
      ``csv_date_column``; prospective split (:func:`~paperkit.data.datasets.csv_images.prospective_split`):
      train/val before ``cutoff_date`` (val = ``val_fraction`` of those patients), test on or
      after it. Without a date column, the random patient split above.
    * ``medmnist``: ``<data_dir>/<medmnist_subset>.npz``, the official train/val/test split.

    Real sets are capped at about ``max_images`` images per split (patient-level, class ratios kept),
    so the small profiles stay small; labels without a positive and a negative in every split
    are left out (AUROC/AUPRC need both).
    """
    import pandas as pd

    from paperkit.data.io.errors import DataError
    from paperkit.data.splits import Split

    setup = setup or setup_of(S)
    readers = {"synthetic": _chexpert_source, "chexpert": _chexpert_source, "csv": _csv_source,
               "medmnist": _medmnist_source}
    # SPEC.resolve has already refused unknown names; this guards a SPEC/load_task mismatch.
    if S.dataset not in readers:
        raise ValueError(f"dataset={S.dataset!r}: load_task knows {sorted(DATASET_LABELS)}")
    source = readers[S.dataset](S, setup)
    splits = source.splits if S.dataset == "synthetic" else _cap(source.splits, source.labels, S.max_images, S.seed)
    if step_cap.current() is not None:  # a step-capped run evaluates about `cap` batches (whole patients)
        evaluated = _cap({k: v for k, v in splits.items() if k != "train"}, source.labels,
                         step_cap.current() * S.batch_size, S.seed)
        splits = {**splits, **evaluated}
    # Keep labels that have positives and negatives in every split: AUROC/AUPRC need both.
    kept = [lab for lab in source.labels if all(0 < t[lab].sum() < len(t) for t in splits.values())]
    if not kept:
        sizes = ", ".join(f"{n}: {len(t)} images" for n, t in splits.items())
        raise DataError(f"dataset={S.dataset!r} ({source.root}): no label among {source.labels} has both positive and "
                        f"negative images in every split ({sizes}); "
                        "more data, another cutoff_date or a larger max_images is needed")
    make = _dataset_maker(kept, S.image_size, source.images, setup)
    datasets = {name: make(t, train=name == "train") for name, t in splits.items()}
    tables = Split(splits, subject="patient", source=source.note,
                   dropped=source.dropped if source.dropped is not None else pd.DataFrame())
    return {"tables": tables, "labels": kept, "datasets": datasets, "make_dataset": make, "split": source.note,
            "dropped": source.dropped, "root": source.root, "data_key": {**source.data_key, **setup.data_key()},
            "all_rows": source.all_rows}


_RANDOM_SPLIT = "random split by patient, about 72/8/20 % (the paper's CheXpert fractions)"


@dataclass
class _Source:
    """What a dataset's reader found: its split image tables and how to name them in run records."""

    root: Path
    labels: list[str]
    splits: dict
    data_key: dict
    note: str = _RANDOM_SPLIT
    dropped: object = None        # rows the prospective split left out (a table), else None
    images: np.ndarray | None = None  # MedMNIST: the arrays the tables index
    all_rows: int | None = None   # images in the dataset's table before the split


def _chexpert_source(S, setup: TrainingSetup) -> _Source:
    """``synthetic`` (written in the CheXpert layout) or ``chexpert``: the set-up's views and uncertain-label
    policy, random patient split (the synthetic generator draws frontal views only)."""
    from paperkit.data.datasets.chexpert import PAPER_LABELS, load_chexpert, split_patients

    if S.dataset == "synthetic":
        from paperkit.data.synthetic.cxr import PATHOLOGIES, make_synthetic_cxr

        root = make_synthetic_cxr(S.data_dir / f"cxr_{S.n_patients}_{S.image_size}_{S.difficulty}_{S.seed}",
                                  n_patients=S.n_patients, size=S.image_size, seed=S.seed,
                                  difficulty=S.difficulty)
        labels = [label for label in PATHOLOGIES if label in S.labels] if S.labels else list(PATHOLOGIES)
        data_key = {"dataset": "synthetic", "n_patients": S.n_patients, "size": S.image_size,
                    "difficulty": S.difficulty, "seed": S.seed}
    else:
        root = S.data_dir
        labels = list(S.labels or PAPER_LABELS)
        # The views always join a real CheXpert key, so a record made when frontal-only was the default (no views in
        # its key) is never taken for an all-views run.
        data_key = {"dataset": S.dataset, "data": fingerprint(root), "max_images": S.max_images, "views": setup.views}
    table = load_chexpert(root, "train", labels=labels, frontal_only=setup.views == "frontal",
                          uncertain=setup.uncertain)
    return _Source(root, labels, dict(split_patients(table, seed=S.seed)), data_key, all_rows=len(table))


def _csv_source(S, setup: TrainingSetup) -> _Source:
    """``csv``: an image table with the chapter's column names; prospective split when it has dates."""
    from paperkit.data.datasets.chexpert import split_patients
    from paperkit.data.datasets.csv_images import load_csv_images, prospective_split

    root = S.data_dir
    labels = _columns(S.csv_label_columns)
    table = load_csv_images(root / S.csv_file, root, path_column=S.csv_path_column, label_columns=labels,
                            patient_column=S.csv_patient_column, date_column=S.csv_date_column or None)
    data_key = {"dataset": "csv", "data": fingerprint(root), "csv": S.csv_file, "labels": labels,
                "date": S.csv_date_column, "cutoff": str(S.cutoff_date), "max_images": S.max_images}
    if not S.csv_date_column:
        return _Source(root, labels, dict(split_patients(table, seed=S.seed)), data_key,
                       note=_RANDOM_SPLIT + "; no csv_date_column, so no prospective split")
    parts = prospective_split(table, S.cutoff_date, val_fraction=S.val_fraction, seed=S.seed, stratify_by=labels[0])
    note = (f"prospective: train/val dated before {S.cutoff_date} (val = {S.val_fraction:.0%} of those "
            f"patients), test dated on or after it; {len(parts.dropped)} image(s) of patients seen before "
            "the cutoff left out of test")
    return _Source(root, labels, dict(parts), data_key, note=note, dropped=parts.dropped)


def _medmnist_source(S, setup: TrainingSetup) -> _Source:
    """``medmnist``: ``<data_dir>/<medmnist_subset>.npz`` with its official split."""
    root = S.data_dir
    npz = root / (S.medmnist_subset if S.medmnist_subset.endswith(".npz") else f"{S.medmnist_subset}.npz")
    splits, labels, images = _medmnist_tables(npz)
    data_key = {"dataset": "medmnist", "file": npz.name, "data": fingerprint(npz), "size": S.image_size,
                "max_images": S.max_images}
    return _Source(root, labels, splits, data_key, images=images,
                   note="the official MedMNIST train/val/test split (no patient ids are published)")


def _dataset_maker(labels: list[str], image_size: int, images: np.ndarray | None, setup: TrainingSetup):
    """Image table -> torch dataset of ``(C x image_size x image_size, label vector)``: MedMNIST arrays or files.

    ``make(table, train=True)`` adds the set-up's augmentation (the official code augments training images only).
    """
    augment = train_transform(setup, image_size)
    common = {"channels": setup.channels, "normalize": setup.normalize}
    if images is not None:
        from paperkit.data.datasets.medmnist import MedMNISTDataset

        def make(table, train: bool = False):
            return MedMNISTDataset(images[table["array_index"].to_numpy()], table[labels].to_numpy(dtype=np.float32),
                                   image_size=image_size, transform=augment if train else None, **common)
    else:
        from paperkit.data.datasets.csv_images import ImageLabelDataset

        def make(table, train: bool = False):
            return ImageLabelDataset(table, labels, image_size, transform=augment if train else None, cache=True,
                                     **common)
    return make
