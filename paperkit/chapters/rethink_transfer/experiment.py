"""Transfer learning vs random initialisation: the experiment runner of the rethink_transfer chapter.

Two steps, each a run record (so finished work is reused, interrupted work resumes):

* :func:`pretrained_weights` finds the source weights for transfer learning (TL): torchvision's
  cached ImageNet checkpoint when it is on disk, otherwise a model this module pretrains itself
  on the synthetic source task (:mod:`paperkit.data.synthetic.source`), named as such, with the
  accuracy it reached there;
* :func:`finetune` trains one model (TL or random initialisation, RI) on a multi-label task and
  reports per-label AUROC, AUPRC (trapezoid, the official code's definition) and AP on the test set.

Training follows the official code (github PL97/TTL) where the paper is silent: Adam at 1e-4,
``ReduceLROnPlateau(factor=0.5, patience=5)`` on the validation mean AUROC, stop once the learning
rate falls below 1e-6 (here also capped at ``epochs``), and the best validation epoch is kept.
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

from paperkit import models
from paperkit.atomic import write_npz
from paperkit.batchnorm import recalibrate_batchnorm
from paperkit.chapters.rethink_transfer.spec import DATASET_LABELS, MEDMNIST_POSITIVE
from paperkit.data.fingerprint import fingerprint
from paperkit.data.synthetic.source import CLASSES, make_source_task
from paperkit.metrics import auprc_ap, auprc_trapezoid, auroc
from paperkit.models import count_parameters
from paperkit.models.pretrained import imagenet_parent, weights_identity
from paperkit.runs import Run, TrainedModel, reuse_or_train
from paperkit.train import Batches, Evaluation, fit, predict

CHAPTER = "rethink_transfer"


def parent_of(name: str) -> str:
    """The architecture whose pretrained weights ``name`` starts from (a truncation's full network)."""
    return imagenet_parent(name)


@dataclass(frozen=True)
class SourceWeights:
    """Where a TL model's initial weights come from."""

    weights: str | Path          # "imagenet" or a state-dict path for models.create(weights=...)
    description: str             # shown in tables: what the source task was
    accuracy: float | None = None    # validation accuracy on the substitute source task (None for ImageNet)
    chance: float | None = None      # chance accuracy of that task
    seconds: float | None = None     # wall time the substitute pretraining took


def pretrain_on_source(arch: str, *, image_size: int, n_images: int, epochs: int = 1, batch_size: int = 16,
                       lr: float = 1e-3, difficulty: float = 0.5, seed: int = 0, device: str | torch.device = "auto",
                       out_dir: str | Path = "runs", force: bool = False, progress: bool = True) -> TrainedModel:
    """Pretrain ``arch`` on the synthetic source task, or reuse its finished record.

    ``n_images`` fresh images (:func:`paperkit.data.synthetic.source.make_source_task`, seeded by
    ``seed``) are seen ``epochs`` times; a separate validation set of ``max(2 * classes,
    min(256, n_images // 4))`` images (another seed) measures accuracy after each epoch, once the
    BatchNorm statistics have been recalibrated on the last 256 training images
    (:func:`recalibrate_batchnorm`). The metrics hold ``source_val_accuracy``, ``chance`` and
    ``seconds``; the weights are the run's ``weights.pt`` (what ``models.create(weights=...)`` loads).
    """
    config = {"stage": "source_pretrain", "arch": arch, "image_size": image_size, "n_images": n_images,
              "epochs": epochs, "batch_size": batch_size, "lr": lr, "difficulty": difficulty, "seed": seed,
              "source": f"shape x texture v2 ({len(CLASSES)} classes)"}
    torch.manual_seed(seed)
    model = models.create(arch, num_classes=len(CLASSES), in_channels=1)

    def pretrain(run: Run):
        clock = time.perf_counter()
        train = make_source_task(n_images, image_size, seed=seed, difficulty=difficulty)
        n_val = max(2 * len(CLASSES), min(256, n_images // 4))
        val = make_source_task(n_val, image_size, seed=seed + 7919, difficulty=difficulty)  # a disjoint draw
        recent = Subset(train, range(max(0, n_images - 256), n_images))
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)

        def accuracy(m: nn.Module) -> dict:
            recalibrate_batchnorm(m, recent, device=device)
            logits, target = predict(m, val, batch_size=64, device=device)
            return {"val_accuracy": float((logits.argmax(1) == target).float().mean())}

        result = fit(model, train, loss=nn.CrossEntropyLoss(), optimizer=optimizer, epochs=epochs,
                     batches=Batches(batch_size), evaluation=Evaluation(accuracy, monitor="val_accuracy"),
                     checkpoint=run.checkpoint, device=device, seed=seed, progress=progress,
                     desc=f"pretrain {arch} on source")
        metrics = {"source_val_accuracy": result.history[-1]["val_accuracy"], "chance": 1 / len(CLASSES),
                   "n_classes": len(CLASSES), "n_val": n_val, "seconds": time.perf_counter() - clock}
        return metrics, result.history

    # The weights file keeps its name: its path is part of every fine-tuning run's key (finetune's "source").
    return reuse_or_train(CHAPTER, config, model, pretrain, name=arch, out_dir=out_dir, force=force, device=device,
                          weights="weights.pt")


def pretrained_weights(name: str, **pretrain_kwargs) -> SourceWeights:
    """TL weights for model ``name``: cached ImageNet weights if present, else the synthetic source task.

    ``pretrain_kwargs`` go to :func:`pretrain_on_source` (``image_size`` and ``n_images`` are required).
    """
    from paperkit.models.pretrained import imagenet_weights_available

    arch = parent_of(name)
    if imagenet_weights_available(arch):
        return SourceWeights("imagenet", "ImageNet (torchvision checkpoint found in the local cache)")
    source = pretrain_on_source(arch, **pretrain_kwargs)
    accuracy, chance = source.metrics["source_val_accuracy"], source.metrics["chance"]
    n, size = pretrain_kwargs["n_images"], pretrain_kwargs["image_size"]
    return SourceWeights(source.run.path("weights.pt"),
                         f"substitute: synthetic {len(CLASSES)}-class shape x texture task ({n} images, "
                         f"{size} px), pretrained here because no ImageNet checkpoint is cached; "
                         f"{accuracy:.0%} validation accuracy (chance {chance:.0%})",
                         accuracy=accuracy, chance=chance, seconds=source.metrics.get("seconds"))


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


def finetune(name: str, init: str, *, train: Dataset, val: Dataset, test: Dataset, labels: Sequence[str],
             data_key: dict, epochs: int, batch_size: int = 32, lr: float = 1e-4, repeat: int = 0,
             source: SourceWeights | None = None, device: str | torch.device = "auto", out_dir: str | Path = "runs",
             seed: int = 0, min_lr: float = 1e-6, recalibrate_bn: bool = False, force: bool = False,
             progress: bool = True) -> TrainedModel:
    """Train model ``name`` from ``init`` = "tl" (``source`` weights) or "ri" (random), or reuse its finished record.

    The record's metrics are the test set's per-label AUROC, AUPRC and AP (``per_label``), their
    means (``mean_AUROC``, ...), ``params``, ``best_epoch``, ``epochs_run`` and ``source``; the test
    predictions are stored in the run as ``test_predictions.npz``.
    ``data_key`` describes the data (dataset, subset fraction, sizes, generator settings) and joins
    the run's key, so a change of data is a new run. ``recalibrate_bn=True`` recomputes the
    BatchNorm statistics on (up to 64 images of) the training set before every evaluation
    (:func:`recalibrate_batchnorm`): a run of a few dozen steps otherwise evaluates TL models with
    statistics still partly from the source task, and RI models with barely-updated initial ones.
    The official code does not do this (its runs are long enough for the running averages to
    settle); the small profiles do.
    """
    if init not in ("tl", "ri"):
        raise ValueError(f"init={init!r}: expected 'tl' (transfer learning) or 'ri' (random initialisation)")
    if init == "tl" and source is None:
        raise ValueError("init='tl' needs source= (see pretrained_weights)")
    config = {"stage": "finetune", "model": name, "init": init, "repeat": repeat, "epochs": epochs,
              "batch_size": batch_size, "lr": lr, "min_lr": min_lr, "seed": seed, "labels": list(labels),
              "data": data_key, "source": weights_identity(source.weights) if init == "tl" else None,
              **({"recalibrate_bn": True} if recalibrate_bn else {})}
    run_seed = seed * 1000 + repeat
    torch.manual_seed(run_seed)
    model = models.create(name, num_classes=len(labels), in_channels=1,
                          weights=source.weights if init == "tl" else None)

    def mean_val_auroc(m: nn.Module) -> dict:
        if recalibrate_bn:  # 64 images estimate the statistics well enough, at a fraction of an epoch's cost
            recalibrate_batchnorm(m, Subset(train, range(min(64, len(train)))), device=device)
        scores, target = predict(m, val, batch_size=64, device=device)
        per = label_metrics(target.numpy(), torch.sigmoid(scores).numpy(), labels)
        return {"val_auroc": float(np.mean([v["AUROC"] for v in per.values()])) if per else 0.5}

    def train_and_test(run: Run):
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=0.5, patience=5)
        result = fit(model, train, loss=nn.BCEWithLogitsLoss(), optimizer=optimizer, scheduler=plateau, epochs=epochs,
                     batches=Batches(batch_size),
                     evaluation=Evaluation(mean_val_auroc, monitor="val_auroc", restore_best=True,
                                           stop_if=lambda record: record["lr"] < min_lr),
                     checkpoint=run.checkpoint, device=device, seed=run_seed, progress=progress,
                     desc=f"{name} {init.upper()} r{repeat}")
        scores, target = predict(model, test, batch_size=64, device=device)
        probs = torch.sigmoid(scores).numpy()
        write_npz(run.path("test_predictions.npz"), y_true=target.numpy(), y_score=probs)
        per = label_metrics(target.numpy(), probs, labels)
        metrics = {"per_label": per, "params": count_parameters(model, trainable_only=True),
                   "best_epoch": result.best_epoch, "epochs_run": len(result.history),
                   "source": source.description if init == "tl" else "random",
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


def load_task(S, progress: bool = True):
    """Train/val/test image tables and torch datasets for the chapter's ``dataset``.

    Returns a dict with ``tables`` (split -> image table), ``labels``, ``datasets`` (split ->
    torch dataset of ``(1 x image_size x image_size image, label vector)``), ``make_dataset``
    (image table -> dataset, for subsets), ``split`` (how the splits were made), ``dropped``
    (rows left out by the split), ``root`` and ``data_key`` (what identifies the data in run
    records). Per dataset:

    * ``synthetic``: written in the CheXpert layout and read back through
      :func:`paperkit.data.datasets.chexpert.load_chexpert`, the same loader as the real data;
      random 72/8/20 % split by patient (the paper's CheXpert fractions).
    * ``chexpert``: ``train.csv`` of a CheXpert download, U-Zeros, frontal views, same split.
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

    readers = {"synthetic": _chexpert_source, "chexpert": _chexpert_source, "csv": _csv_source,
               "medmnist": _medmnist_source}
    # SPEC.resolve has already refused unknown names; this guards a SPEC/load_task mismatch.
    if S.dataset not in readers:
        raise ValueError(f"dataset={S.dataset!r}: load_task knows {sorted(DATASET_LABELS)}")
    source = readers[S.dataset](S)
    splits = source.splits if S.dataset == "synthetic" else _cap(source.splits, source.labels, S.max_images, S.seed)
    # Keep labels that have positives and negatives in every split: AUROC/AUPRC need both.
    kept = [lab for lab in source.labels if all(0 < t[lab].sum() < len(t) for t in splits.values())]
    if not kept:
        sizes = ", ".join(f"{n}: {len(t)} images" for n, t in splits.items())
        raise DataError(f"dataset={S.dataset!r} ({source.root}): no label among {source.labels} has both positive and "
                        f"negative images in every split ({sizes}); "
                        "more data, another cutoff_date or a larger max_images is needed")
    make = _dataset_maker(kept, S.image_size, source.images)
    datasets = {name: make(t) for name, t in splits.items()}
    tables = Split(splits, subject="patient", source=source.note,
                   dropped=source.dropped if source.dropped is not None else pd.DataFrame())
    return {"tables": tables, "labels": kept, "datasets": datasets, "make_dataset": make, "split": source.note,
            "dropped": source.dropped, "root": source.root, "data_key": source.data_key}


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


def _chexpert_source(S) -> _Source:
    """``synthetic`` (written in the CheXpert layout) or ``chexpert``: frontal views, U-Zeros, random patient split."""
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
        data_key = {"dataset": S.dataset, "data": fingerprint(root), "max_images": S.max_images}
    table = load_chexpert(root, "train", labels=labels, frontal_only=True)
    return _Source(root, labels, dict(split_patients(table, seed=S.seed)), data_key)


def _csv_source(S) -> _Source:
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


def _medmnist_source(S) -> _Source:
    """``medmnist``: ``<data_dir>/<medmnist_subset>.npz`` with its official split."""
    root = S.data_dir
    npz = root / (S.medmnist_subset if S.medmnist_subset.endswith(".npz") else f"{S.medmnist_subset}.npz")
    splits, labels, images = _medmnist_tables(npz)
    data_key = {"dataset": "medmnist", "file": npz.name, "data": fingerprint(npz), "size": S.image_size,
                "max_images": S.max_images}
    return _Source(root, labels, splits, data_key, images=images,
                   note="the official MedMNIST train/val/test split (no patient ids are published)")


def _dataset_maker(labels: list[str], image_size: int, images: np.ndarray | None):
    """Image table -> torch dataset of ``(1 x image_size x image_size, label vector)``: MedMNIST arrays or files."""
    if images is not None:
        from paperkit.data.datasets.medmnist import MedMNISTDataset

        def make(table):
            return MedMNISTDataset(images[table["array_index"].to_numpy()], table[labels].to_numpy(dtype=np.float32),
                                   channels=1, image_size=image_size)
    else:
        from paperkit.data.datasets.csv_images import ImageLabelDataset

        def make(table):
            return ImageLabelDataset(table, labels, image_size, channels=1, cache=True)
    return make
