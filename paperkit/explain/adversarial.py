"""Model Doctor's Discovery 2: adversarial samples are isolated, normal samples are not.

:func:`fgsm` makes fast-gradient-sign adversarial images (Goodfellow et al., 2015).
:func:`feature_noise_flips` adds uniform noise ``U[-delta, delta]`` to the feature map of a
randomly chosen conv layer ("the arbitrary layer", 10 draws per image, as in the paper's
Fig. 3) and measures how often the prediction changes and how often it equals the true label.
:func:`discovery2_curves` runs both for normal images and their FGSM versions: the paper
finds normal images keep their (right) prediction while adversarial ones flip back to it.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from paperkit.explain.hooks import FeatureTaps, conv_layer_names, select_conv_layers
from paperkit.runtime import derive_seed


def fgsm(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, epsilon: float, *,
         clamp: tuple[float, float] | None = (0.0, 1.0)) -> torch.Tensor:
    """FGSM: ``x + epsilon * sign(d CE / d x)``, clamped to ``clamp`` (None: no clamping). Eval mode."""
    was_training = model.training
    model.eval()
    x = images.detach().clone().requires_grad_(True)
    loss = F.cross_entropy(model(x), labels.long().view(-1))
    (grad,) = torch.autograd.grad(loss, x)
    model.train(was_training)
    adv = images.detach() + epsilon * grad.sign()
    return adv.clamp(*clamp) if clamp is not None else adv


@torch.no_grad()
def _predict(model: nn.Module, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    return torch.cat([model(images[i:i + batch_size]).argmax(1) for i in range(0, len(images), batch_size)])


@torch.no_grad()
def feature_noise_flips(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *,
                        deltas: Sequence[float] = (0.0, 0.1, 0.2, 0.3), draws: int = 10,
                        layers: Sequence[str] | str | int | None = None, seed: int = 0,
                        batch_size: int = 64) -> pd.DataFrame:
    """Predictions under feature-map noise: one row per ``delta``.

    Each draw picks one of ``layers`` (None: every Conv2d) at random and adds ``U[-delta, delta]``
    noise to its output for all images. Columns: ``delta``, ``changed`` (fraction of
    image-draws whose prediction differs from the noise-free one), ``accuracy`` (fraction
    equal to ``labels``), ``kept`` (fraction equal to the noise-free prediction), ``n``.
    """
    was_training = model.training
    model.eval()
    names = conv_layer_names(model) if layers is None else select_conv_layers(model, layers)
    labels = labels.long().view(-1).to(images.device)
    base = _predict(model, images, batch_size)
    rng = np.random.default_rng(derive_seed(seed, "flip-layers"))
    gen = torch.Generator().manual_seed(derive_seed(seed, "flip-noise"))
    rows = []
    for delta in deltas:
        changed = correct = 0
        for _ in range(draws):
            layer = names[int(rng.integers(len(names)))]

            def noise(name, out, delta=delta):
                return ((2 * torch.rand(out.shape, generator=gen) - 1) * delta).to(out.device)

            with FeatureTaps(model, [layer], noise_fn=noise if delta > 0 else None):
                pred = _predict(model, images, batch_size)
            changed += int((pred != base).sum())
            correct += int((pred == labels).sum())
        total = draws * len(images)
        rows.append({"delta": float(delta), "changed": changed / total, "kept": 1 - changed / total,
                     "accuracy": correct / total, "n": len(images)})
    model.train(was_training)
    return pd.DataFrame(rows)


def discovery2_curves(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, epsilon: float = 0.03,
                      deltas: Sequence[float] = (0.0, 0.1, 0.2, 0.3), draws: int = 10,
                      layers: Sequence[str] | str | int | None = None, successful_only: bool = True,
                      clamp: tuple[float, float] | None = (0.0, 1.0), seed: int = 0,
                      batch_size: int = 64) -> pd.DataFrame:
    """Fig. 3: :func:`feature_noise_flips` for normal images and their FGSM versions.

    With ``successful_only`` only images the model gets right and FGSM fools are used (the
    pairs the discovery is about). Returns the rows of both runs with a ``kind`` column
    (``"normal"`` / ``"adversarial"``); for adversarial rows ``accuracy`` is the fraction
    flipped back to the true label and ``kept`` the fraction still on the adversarial label.
    """
    labels = labels.long().view(-1).to(images.device)
    adv = fgsm(model, images, labels, epsilon, clamp=clamp)
    was_training = model.training
    model.eval()
    use = torch.ones(len(images), dtype=torch.bool, device=images.device)
    if successful_only:
        use = (_predict(model, images, batch_size) == labels) & (_predict(model, adv, batch_size) != labels)
    model.train(was_training)
    if int(use.sum()) == 0:
        raise ValueError(f"discovery2_curves: no image is both correctly classified and fooled by FGSM at "
                         f"epsilon={epsilon}; raise epsilon or pass successful_only=False")
    frames = []
    for kind, x in (("normal", images[use]), ("adversarial", adv[use])):
        frame = feature_noise_flips(model, x, labels[use], deltas=deltas, draws=draws, layers=layers,
                                    seed=seed, batch_size=batch_size)
        frames.append(frame.assign(kind=kind, epsilon=epsilon))
    return pd.concat(frames, ignore_index=True)
