"""Make ImageNet weights for a CBR model (torchvision publishes none) and put them where the chapter finds them.

On a machine with ImageNet (ILSVRC2012 as ``train/<wnid>/*.JPEG`` and ``val/<wnid>/*.JPEG``) and a GPU::

    python -m paperkit.chapters.rethink_transfer.pretrain --arch cbr_small --imagefolder /data/ILSVRC2012 \\
        --device cuda --num-workers 8 --install

trains the model with :func:`paperkit.chapters.rethink_transfer.experiment.pretrain_on_imagefolder`
(a run record under ``--out-dir``; an interrupted run resumes) and, with ``--install``, copies its
weights to ``imagenet_checkpoint_path(arch)`` (``<torch hub>/checkpoints/<arch>_imagenet.pth``), where
``weights="imagenet"`` and the paper profile look. ResNet-50 and DenseNet-121 are not made here:
torchvision's own checkpoints are placed in that folder instead (the error of a run that misses them
names the file).
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from paperkit.atomic import atomic_path
from paperkit.models.pretrained import TORCHVISION_ARCHS, imagenet_checkpoint_path, imagenet_parent


def install_weights(weights: str | Path, arch: str) -> Path:
    """Copy a pretrained state dict to where ``weights="imagenet"`` finds ``arch``'s (atomically); return the path.

    Refused for the architectures torchvision publishes (their file name is torchvision's checkpoint's).
    """
    parent = imagenet_parent(arch)
    if parent in TORCHVISION_ARCHS:
        raise ValueError(f"{arch}: torchvision publishes ImageNet weights for {parent}; place its checkpoint at "
                         f"{imagenet_checkpoint_path(parent)} rather than weights trained here")
    target = imagenet_checkpoint_path(parent)
    with atomic_path(target) as tmp:
        shutil.copyfile(weights, tmp)
    return target


def main(argv=None) -> Path:
    from paperkit.chapters.rethink_transfer.experiment import pretrain_on_imagefolder

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", required=True, help="a CBR model, e.g. cbr_small")
    parser.add_argument("--imagefolder", required=True, help="folder holding train/<class>/ and val/<class>/")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--epochs", type=int, default=90)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--max-images", type=int, default=None, help="a quick trial on this many training images")
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out-dir", default="runs")
    parser.add_argument("--install", action="store_true", help="copy the weights to where the chapter finds them")
    args = parser.parse_args(argv)
    trained = pretrain_on_imagefolder(args.arch, args.imagefolder, image_size=args.image_size, epochs=args.epochs,
                                      batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                                      max_images=args.max_images, num_workers=args.num_workers, device=args.device,
                                      out_dir=args.out_dir)
    weights = trained.run.path("weights.pt")
    print(f"{args.arch}: top-1 validation accuracy {trained.metrics['source_val_accuracy']:.1%} "
          f"({trained.metrics['n_classes']} classes); weights in {weights}")
    if args.install:
        weights = install_weights(weights, args.arch)
        print(f"installed as {weights}")
    return weights


if __name__ == "__main__":
    main()
