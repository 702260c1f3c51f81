"""Model Doctor (Feng et al., AAAI 2022): diagnose a trained CNN by gradient aggregation, then treat it.

Diagnosis (paper Eqs. 2-4). For a conv layer r with output maps ``m_k``, the correlation of
kernel k with class n on one image is the sum over the map of ``|d y_n / d(m_k + sigma_j)|``,
averaged over J noise draws ``sigma_j ~ U[-delta, delta]`` (Eq. 4). It is accumulated over up
to T correctly classified training images per class predicted with confidence > 0.9,
giving a ``(num_classes, channels)`` matrix per layer (:func:`aggregate_correlation`).
Here the matrix holds the *mean* over the images used (the paper sums; the scale does not
change any mask).

Batched, not per image: in eval mode the logits of different images do not interact, so
one backward of ``sum_i y_{i, n_i}`` gives every image's own gradient, and the J noise draws
are handled by repeating the batch J times at the first hooked layer (the layers before it
see no noise, so they run once per image). :func:`aggregate_correlation_reference` is the
plain per-image, per-draw loop, kept for tests and ``bench/bench_model_doctor.py``; both
draw the noise from the same per-batch bank, so they agree to float precision.

Treatment (Eqs. 5-7). With channel masks from the correlation (:func:`channel_masks`),
the channel-wise term penalises the class's gradients on kernels it is *not* correlated
with, plus all gradients of the runner-up class; the space-wise term penalises gradients on
the background of a coarse foreground mask expanded by ``expand`` pixels. Both are
differentiable (``create_graph=True``: a double backward) and are added to the cross-entropy
while fine-tuning the trained model (:func:`treat`, through :func:`paperkit.train.fit`).

Paper vs official code (jiaconghu/model_doctor), chosen with :class:`DoctorConfig`:

==================  ===========================================  ==============================================
setting             paper (``DoctorConfig.paper()``, default)    official (``DoctorConfig.official()``)
==================  ===========================================  ==============================================
gradient            ``abs`` of d logit / d map (Eq. 3)           ``relu`` of it
images per class    first T=100 correct with p > 0.9             the 50 most confident correct (``selection="top"``)
noise               J=10 draws, U[-delta, delta]                 none (the hook exists but is off)
channel mask        kept if correlation >= v (``"threshold"``)   per-class min-max normalised >= 0.2 (``"minmax"``)
constrained class   the prediction and the 2nd prediction        the label and the confusing class
channel rule        class off-mask + *all* of runner-up          class off-mask + runner-up *on its own* mask
weights             lambda_channel = lambda_space = 1 (Eq. 7)    lambda_channel = 10, space 0 on small images
layers              deep layers (``layers=k``: the last k)       the last Conv2d only (``layers=1``)
feature map         after the activation (Eq. 1, ``point``)      the Conv2d's raw output (``point="conv"``)
==================  ===========================================  ==============================================

The paper gives no value for v; ``threshold=None`` uses each class's mean correlation over
the layer's kernels (kernels below their class's average are "not correlated"). Nor does
it give delta; ``noise=0.1`` (feature maps of BN networks are of order 1). Eq. 5 constrains
the *predicted* class and the second prediction (``target="predicted"``); the official code
constrains the label and its confusing class, the highest-scoring class other than the label
(``target="label"``). They differ only on training images the model gets wrong, where the
paper's second prediction can be the label itself. Until May 2023 the official code computed
these gradients without ``create_graph``, so its constraints had no effect on the weights;
the tests check that ours do.
"""
from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from paperkit.explain.hooks import POINTS, FeatureTaps, select_feature_layers
from paperkit.runtime import derive_seed, resolve_device

GRADIENTS = ("abs", "relu")
SELECTIONS = ("confidence", "top")
MASK_MODES = ("threshold", "minmax")
CHANNEL_RULES = ("paper", "confusing")
TARGETS = ("predicted", "label")


@dataclass(frozen=True)
class DoctorConfig:
    """Every setting where the paper and the official code differ (module docstring table)."""

    gradient: str = "abs"
    draws: int = 10
    noise: float = 0.1
    per_class: int = 100
    selection: str = "confidence"
    min_confidence: float = 0.9
    mask: str = "threshold"
    threshold: float | None = None
    channel_rule: str = "paper"
    lambda_channel: float = 1.0
    lambda_space: float = 1.0
    expand: int = 30
    target: str = "predicted"
    point: str = "activation"

    def __post_init__(self):
        for name, value, choices in (("gradient", self.gradient, GRADIENTS),
                                     ("selection", self.selection, SELECTIONS),
                                     ("mask", self.mask, MASK_MODES),
                                     ("channel_rule", self.channel_rule, CHANNEL_RULES),
                                     ("target", self.target, TARGETS),
                                     ("point", self.point, POINTS)):
            if value not in choices:
                raise ValueError(f"DoctorConfig.{name}={value!r}: expected one of {choices}")
        if self.draws < 1:
            raise ValueError(f"DoctorConfig.draws={self.draws}: expected at least 1 noise draw (J)")
        if self.noise < 0 or self.per_class < 1 or self.expand < 0:
            raise ValueError(f"DoctorConfig: noise={self.noise}, per_class={self.per_class}, expand={self.expand}; "
                             "expected noise >= 0, per_class >= 1, expand >= 0")

    @classmethod
    def paper(cls, **overrides) -> "DoctorConfig":
        """The paper's settings (J=10, T=100, p > 0.9, |gradient|, threshold v, expand 30)."""
        return replace(cls(), **overrides)

    @classmethod
    def official(cls, **overrides) -> "DoctorConfig":
        """The official code's settings (ReLU gradient, top-50, no noise, min-max 0.2, label and confusing class,
        weight 10)."""
        base = cls(gradient="relu", draws=1, noise=0.0, per_class=50, selection="top", mask="minmax",
                   threshold=0.2, channel_rule="confusing", lambda_channel=10.0, lambda_space=1.0, expand=0,
                   target="label", point="conv")
        return replace(base, **overrides)

    @property
    def effective_draws(self) -> int:
        """J, or 1 when there is no noise (identical draws would only repeat the work)."""
        return self.draws if self.noise > 0 else 1


@dataclass
class Correlation:
    """Aggregated kernel-class correlation: ``values[layer]`` is ``(num_classes, channels)``.

    ``counts[n]`` images of class n were used (rows of classes with none are zero);
    ``indices`` are their positions in the dataset.
    """

    layers: list[str]
    values: dict[str, torch.Tensor]
    counts: torch.Tensor
    indices: list[int] = field(default_factory=list)
    config: DoctorConfig = field(default_factory=DoctorConfig)


# --------------------------------------------------------------------------- noise and gradients


class NoiseBank:
    """Per-batch noise tensors ``(J, B, C, H, W)`` in ``[-delta, delta]``, one per layer.

    Drawn on first use from a generator seeded by ``(seed, batch, layer)``, so the batched
    and the per-image code see identical draws; ``batched(name, out)`` serves the J-repeated
    batch (row ``j * B + i``), ``single(i, j)`` one image and draw.
    """

    def __init__(self, delta: float, draws: int, batch: int, seed: int, batch_id: int):
        self.delta, self.draws, self.batch, self.seed, self.batch_id = delta, draws, batch, seed, batch_id
        self._bank: dict[str, torch.Tensor] = {}

    def get(self, name: str, shape: Sequence[int], device: torch.device) -> torch.Tensor:
        if name not in self._bank:
            g = torch.Generator().manual_seed(derive_seed(self.seed, self.batch_id, name))
            u = torch.rand((self.draws, self.batch, *shape), generator=g)
            # In place: the bank is the pass's largest tensor and each fresh one costs page faults;
            # same values, bit for bit, as (2 * u - 1) * delta.
            self._bank[name] = u.mul_(2).sub_(1).mul_(self.delta).to(device)
        return self._bank[name]

    def batched(self, name: str, out: torch.Tensor) -> torch.Tensor:
        bank = self.get(name, out.shape[1:], out.device)
        return bank.reshape(-1, *out.shape[1:])

    def single(self, i: int, j: int) -> Callable[[str, torch.Tensor], torch.Tensor]:
        return lambda name, out: self.get(name, out.shape[1:], out.device)[j, i:i + 1]


def _transform(grad: torch.Tensor, gradient: str, inplace: bool = False) -> torch.Tensor:
    """``|grad|`` (paper) or ``relu(grad)`` (official code); ``inplace`` overwrites ``grad``."""
    if inplace:
        return grad.abs_() if gradient == "abs" else grad.relu_()
    return grad.abs() if gradient == "abs" else grad.relu()


def _score_grads(logits: torch.Tensor, classes: torch.Tensor, features: Sequence[torch.Tensor],
                 create_graph: bool, retain_graph: bool = True) -> tuple[torch.Tensor, ...]:
    """Per-image gradients of each image's own class score (images are independent in eval mode)."""
    score = logits.gather(1, classes[:, None]).sum()
    return torch.autograd.grad(score, list(features), create_graph=create_graph, retain_graph=retain_graph)


# Models (weakly held) -> hooked-layer lists whose first tap a skip connection crosses.
_SKIP_CROSSES_FIRST_TAP: "weakref.WeakKeyDictionary[nn.Module, set[tuple[str, ...]]]" = weakref.WeakKeyDictionary()


def per_sample_correlation(model: nn.Module, images: torch.Tensor, classes: torch.Tensor, *,
                           layers: Sequence[str] | str | int | None = 1, config: DoctorConfig | None = None,
                           seed: int = 0, batch_id: int = 0) -> dict[str, torch.Tensor]:
    """Eq. 4 for one batch: ``{layer: (B, channels)}`` correlations of each image with ``classes[i]``.

    The model should be in eval mode (otherwise BatchNorm couples the images). One forward
    and one backward: the layers before the first hooked one run on the B images, the rest on
    the B x J noisy copies (:class:`FeatureTaps` ``repeat``). If a skip connection crosses the
    first hooked layer (a ResNet block, say), that forward fails on the batch size and the whole
    batch is repeated J times at the input instead.
    """
    config = config or DoctorConfig()
    names = select_feature_layers(model, layers, config.point)
    J, B = config.effective_draws, images.shape[0]
    bank = NoiseBank(config.noise, J, B, seed, batch_id)
    crossed = _SKIP_CROSSES_FIRST_TAP.setdefault(model, set())
    share = J > 1 and tuple(names) not in crossed
    with FeatureTaps(model, names, noise_fn=bank.batched if config.noise > 0 else None,
                     repeat=J if share else 1) as taps:
        logits = None
        if share:
            try:
                logits = model(images)
                if logits.shape[0] != J * B:  # the repeated rows were folded away somewhere: not safe
                    raise RuntimeError(f"{logits.shape[0]} output rows for {J * B} noisy copies")
            except RuntimeError:
                crossed.add(tuple(names))  # remembered, so the next batches skip the failing try
                taps.repeat, logits = 1, None
        if logits is None:
            logits = model(images.repeat(J, *([1] * (images.ndim - 1))))
        # The only backward of this graph: freeing its buffers as it goes saves memory and time.
        grads = _score_grads(logits, classes.repeat(J), [taps.features[n] for n in names], create_graph=False,
                             retain_graph=False)
    # The gradients are read only here, so they are transformed in place (one map-sized temporary
    # less per layer). contiguous() copies a gradient autograd hands back expanded (a sum right
    # after the tap); two taps handed the same tensor stay right, as abs and relu are idempotent.
    return {n: _transform(g.contiguous(), config.gradient, inplace=True).sum((2, 3)).view(J, B, -1).mean(0)
            for n, g in zip(names, grads)}


# --------------------------------------------------------------------------- selecting images


def select_samples(model: nn.Module, dataset: Dataset, num_classes: int, config: DoctorConfig | None = None, *,
                   batch_size: int = 128, device: str | torch.device = "auto") -> list[int]:
    """Dataset positions of the images the correlation is aggregated over.

    Correctly classified images only; ``selection="confidence"``: the first ``per_class`` per
    class (dataset order) with softmax confidence > ``min_confidence`` (paper);
    ``"top"``: the ``per_class`` most confident per class (official code).
    """
    from paperkit.train import predict

    config = config or DoctorConfig()
    was_training = model.training
    logits, targets = predict(model, dataset, batch_size=batch_size, device=device, amp="off")
    model.train(was_training)
    if targets is None:
        raise ValueError("select_samples: the dataset must yield (image, label, ...) batches")
    targets = targets.long().view(-1)
    prob, pred = logits.softmax(1).max(1)
    correct = pred == targets
    chosen: list[int] = []
    for n in range(num_classes):
        idx = torch.nonzero(correct & (targets == n)).view(-1)
        if config.selection == "confidence":
            idx = idx[prob[idx] > config.min_confidence][:config.per_class]
        else:
            idx = idx[torch.argsort(prob[idx], descending=True, stable=True)][:config.per_class]
        chosen.extend(idx.tolist())
    return sorted(chosen)


# --------------------------------------------------------------------------- aggregation


def _aggregate(model, dataset, num_classes, layers, config, batch_size, device, seed, indices, per_image):
    config = config or DoctorConfig()
    dev = resolve_device(device)
    model.to(dev)
    names = select_feature_layers(model, layers, config.point)
    if indices is None:
        indices = select_samples(model, dataset, num_classes, config, batch_size=batch_size, device=dev)
    was_training = model.training
    model.eval()
    channels = FeatureTaps(model, names).channels()
    sums = {n: torch.zeros(num_classes, channels[n], dtype=torch.float64) for n in names}
    counts = torch.zeros(num_classes, dtype=torch.long)
    loader = DataLoader(Subset(dataset, list(indices)), batch_size=batch_size, shuffle=False)
    J = config.effective_draws
    dtype = next(model.parameters()).dtype  # images follow the model (float64 for exact checks)
    try:
        for b, batch in enumerate(loader):
            x, y = batch[0].to(dev, dtype=dtype), batch[1].long().view(-1).to(dev)
            if per_image:
                per = {n: torch.zeros(len(y), channels[n], dtype=torch.float64) for n in names}
                bank = NoiseBank(config.noise, J, len(y), seed, b)
                for i in range(len(y)):
                    for j in range(J):
                        with FeatureTaps(model, names,
                                         noise_fn=bank.single(i, j) if config.noise > 0 else None) as taps:
                            logit = model(x[i:i + 1])[0, y[i]]
                            grads = torch.autograd.grad(logit, [taps.features[n] for n in names])
                        for n, g in zip(names, grads):
                            per[n][i] += _transform(g[0], config.gradient).sum((1, 2)).double().cpu() / J
            else:
                per = per_sample_correlation(model, x, y, layers=names, config=config, seed=seed, batch_id=b)
            for n in names:
                sums[n].index_add_(0, y.cpu(), per[n].double().cpu())
            counts += torch.bincount(y.cpu(), minlength=num_classes)
    finally:
        model.train(was_training)
    values = {n: (s / counts.clamp(min=1)[:, None]).float() for n, s in sums.items()}
    return Correlation(names, values, counts, list(indices), config)


def aggregate_correlation(model: nn.Module, dataset: Dataset, num_classes: int, *,
                          layers: Sequence[str] | str | int | None = 1, config: DoctorConfig | None = None,
                          batch_size: int = 32, device: str | torch.device = "auto", seed: int = 0,
                          indices: Sequence[int] | None = None) -> Correlation:
    """The (num_classes, channels) correlation matrix of each hooked layer (Eqs. 3-4), batched.

    ``dataset`` yields ``(image, label, ...)``; ``indices`` (default :func:`select_samples`)
    are the images used. ``layers``: Conv2d names or k for the last k. Each forward carries
    ``batch_size * J`` images.
    """
    return _aggregate(model, dataset, num_classes, layers, config, batch_size, device, seed, indices, False)


def aggregate_correlation_reference(model: nn.Module, dataset: Dataset, num_classes: int, *,
                                    layers: Sequence[str] | str | int | None = 1, config: DoctorConfig | None = None,
                                    batch_size: int = 32, device: str | torch.device = "auto", seed: int = 0,
                                    indices: Sequence[int] | None = None) -> Correlation:
    """Same result as :func:`aggregate_correlation` by the plain loop: one image, one draw, one backward."""
    return _aggregate(model, dataset, num_classes, layers, config, batch_size, device, seed, indices, True)


def correlation_sparsity(values: torch.Tensor, mass: float = 0.8) -> torch.Tensor:
    """Per class, the fraction of kernels needed to hold ``mass`` of its total correlation (Discovery 1).

    Uniform correlation gives about ``mass``; a class tied to a few kernels gives much less.
    """
    v = values.double().clamp(min=0)
    ordered = v.sort(dim=1, descending=True).values
    share = ordered.cumsum(1) / ordered.sum(1, keepdim=True).clamp(min=1e-30)
    needed = ((share < mass).sum(1) + 1).clamp(max=v.shape[1])  # an all-zero row (class never seen) needs all
    return (needed.double() / v.shape[1]).float()


# --------------------------------------------------------------------------- masks and losses


def channel_masks(correlation: Correlation, *, mode: str | None = None,
                  threshold: float | None = None) -> dict[str, torch.Tensor]:
    """``{layer: (num_classes, channels)}`` 1.0 where a kernel is correlated with the class, else 0.0.

    ``mode="threshold"`` (paper): kept if correlation >= v (``threshold``; None = the class's
    mean over the layer's kernels). ``"minmax"`` (official): min-max normalised per class,
    kept if >= ``threshold`` (None = 0.2). Defaults come from ``correlation.config``.
    Classes with no images keep every kernel (no channel constraint for them).
    """
    mode = mode or correlation.config.mask
    if mode not in MASK_MODES:
        raise ValueError(f"mode={mode!r}: expected one of {MASK_MODES}")
    threshold = threshold if threshold is not None else correlation.config.threshold
    seen = correlation.counts > 0
    masks = {}
    for name, v in correlation.values.items():
        if mode == "threshold":
            v_n = v.mean(1, keepdim=True) if threshold is None else torch.full_like(v[:, :1], threshold)
            keep = v >= v_n
        else:
            lo, hi = v.min(1, keepdim=True).values, v.max(1, keepdim=True).values
            keep = (v - lo) / (hi - lo).clamp(min=1e-12) >= (0.2 if threshold is None else threshold)
        keep[~seen] = True
        masks[name] = keep.float()
    return masks


def runner_up_class(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The highest-scoring class other than the label: 2nd prediction if top-1 is right, else top-1."""
    masked = logits.detach().clone()
    masked.scatter_(1, labels[:, None], float("-inf"))
    return masked.argmax(1)


def background_mask(foreground: torch.Tensor, size: Sequence[int], expand: int = 30) -> torch.Tensor:
    """``(B, 1, h, w)`` background (1) at a feature map's size from ``(B, [1,] H, W)`` foreground masks.

    A feature cell is foreground if any of its pixels is; the foreground is then expanded by
    ``expand`` input pixels, converted to cells (``round(expand * h / H)``, a square
    neighbourhood), so object boundaries stay unconstrained (the paper's eroded background).
    """
    fg = foreground.float()
    if fg.ndim == 3:
        fg = fg[:, None]
    if fg.ndim != 4 or fg.shape[1] != 1:
        raise ValueError(f"foreground masks have shape {tuple(foreground.shape)}; expected (B, H, W) or (B, 1, H, W)")
    H = fg.shape[-2]
    h, w = int(size[0]), int(size[1])
    fg = (fg > 0.5).float()
    if h <= fg.shape[-2] and w <= fg.shape[-1]:
        small = F.adaptive_max_pool2d(fg, (h, w))
    else:
        small = F.interpolate(fg, size=(h, w), mode="nearest")
    cells = int(round(expand * h / H))
    if cells > 0:
        small = F.max_pool2d(small, 2 * cells + 1, stride=1, padding=cells)
    return 1.0 - small


def constraint_losses(logits: torch.Tensor, features: Mapping[str, torch.Tensor], labels: torch.Tensor,
                      masks: Mapping[str, torch.Tensor], *, config: DoctorConfig | None = None,
                      foreground: torch.Tensor | None = None, image_size: Sequence[int] | None = None,
                      draws: int = 1, runner_up: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The channel-wise (Eq. 5) and space-wise (Eq. 6) terms, differentiable w.r.t. the weights.

    ``labels`` are the classes whose gradients are constrained (:class:`DoctorObjective` passes
    the predictions or the labels, after ``DoctorConfig.target``); ``runner_up`` (default: the
    best-scoring other class, :func:`runner_up_class`) is the class of the second term.

    ``logits`` ``(draws * B, N)`` and ``features`` (hooked maps of the same forward, rows
    ``j * B + i``) come from the batch repeated ``draws`` times (with noise in the hooks).
    Per image, the terms are summed over kernels, draws and space (as in the equations),
    then averaged over the batch. ``foreground`` ``(B, [1,] H, W)`` masks enable the space
    term (``image_size`` = (H, W) of the input); an all-foreground mask (an image without
    annotation) contributes nothing. Returns ``{"channel": ..., "space": ...}``.
    """
    config = config or DoctorConfig()
    B = labels.shape[0]
    names = list(features)
    rep_labels = labels.repeat(draws)
    if runner_up is None:
        runner_up = runner_up_class(logits.view(draws, B, -1).mean(0), labels)
    g_label = _score_grads(logits, rep_labels, [features[n] for n in names], create_graph=True)
    g_second = _score_grads(logits, runner_up.repeat(draws), [features[n] for n in names], create_graph=True)
    channel = logits.new_zeros(())
    space = logits.new_zeros(())
    bg_cache: dict[tuple[int, int], torch.Tensor] = {}
    for name, gn, gs in zip(names, g_label, g_second):
        mask = masks[name].to(gn.device, gn.dtype)
        an = gn.abs().sum((2, 3))                                     # (draws * B, C)
        off_mask = ((1 - mask[rep_labels]) * an).sum(1)
        if config.channel_rule == "paper":
            second = gs.abs().sum((1, 2, 3))
        else:
            second = (mask[runner_up.repeat(draws)] * gs.abs().sum((2, 3))).sum(1)
        channel = channel + (off_mask + second).view(draws, B).sum(0).mean()
        if foreground is not None:
            key = tuple(gn.shape[-2:])
            if key not in bg_cache:
                bg_cache[key] = background_mask(foreground.to(gn.device), key, config.expand).to(gn.dtype)
            bg = bg_cache[key].repeat(draws, 1, 1, 1)
            space = space + (bg * gn.abs()).sum((1, 2, 3)).view(draws, B).sum(0).mean()
    return {"channel": channel, "space": space}


# --------------------------------------------------------------------------- treating


@dataclass
class TreatResult:
    """What :func:`treat` returns: the diagnosis used, its channel masks and the fine-tuning history."""

    correlation: Correlation
    masks: dict[str, torch.Tensor]
    fit: Any


class DoctorObjective:
    """``forward``/``loss`` pair for :func:`paperkit.train.fit`: CE + lambda_c * channel + lambda_s * space.

    Batches are ``(image, label)`` or ``(image, label, foreground_mask)``. With noise, the clean
    batch gives the cross-entropy and a second pass of the batch repeated J times (noise in
    the hooks) gives the constraints; without noise one pass gives both.
    """

    def __init__(self, model: nn.Module, layers: Sequence[str], masks: Mapping[str, torch.Tensor],
                 config: DoctorConfig, seed: int = 0):
        self.model, self.layers, self.masks, self.config = model, list(layers), dict(masks), config
        self.seed, self.step = seed, 0
        self.last_terms: dict[str, float] = {}

    def forward(self, net: nn.Module, batch) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        x, y = batch[0], batch[1].long().view(-1)
        fg = batch[2] if len(batch) > 2 and self.config.lambda_space > 0 else None
        J = self.config.effective_draws
        self.step += 1
        bank = NoiseBank(self.config.noise, J, len(y), self.seed, self.step)
        with FeatureTaps(self.model, self.layers) as taps:
            clean = net(x)
            if self.config.noise > 0:
                taps.noise_fn = bank.batched
                logits = net(x.repeat(J, *([1] * (x.ndim - 1))))
            else:
                logits = clean
            # Eq. 5 constrains the prediction (paper) or the label (official code); CE always uses the label.
            target = clean.detach().argmax(1) if self.config.target == "predicted" else y
            terms = constraint_losses(logits, dict(taps.features), target, self.masks, config=self.config,
                                      foreground=fg, draws=J, runner_up=runner_up_class(clean, target))
        return {"logits": clean, **terms}, y

    def loss(self, output: Mapping[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        ce = F.cross_entropy(output["logits"], target)
        self.last_terms = {"ce": float(ce.detach()), "channel": float(output["channel"].detach()),
                           "space": float(output["space"].detach())}
        return ce + self.config.lambda_channel * output["channel"] + self.config.lambda_space * output["space"]


def treat(model: nn.Module, dataset: Dataset, num_classes: int, *, layers: Sequence[str] | str | int | None = 1,
          config: DoctorConfig | None = None, correlation: Correlation | None = None,
          diagnose_data: Dataset | None = None,
          optimizer: torch.optim.Optimizer | Callable[[Any], torch.optim.Optimizer] | None = None,
          epochs: int = 5, batch_size: int = 32, device: str | torch.device = "auto", seed: int = 0,
          **fit_kwargs) -> TreatResult:
    """Fine-tune a trained classifier with Model Doctor's constraints (Eq. 7).

    Diagnoses ``model`` on ``diagnose_data`` (default ``dataset``) unless ``correlation`` is
    given, builds channel masks, then runs :func:`paperkit.train.fit` with
    ``CE + lambda_channel * L_ch + lambda_space * L_sp``. Give ``optimizer`` (an instance, or
    ``params -> optimizer``) with the classifier's original settings, as the paper does;
    None uses SGD(lr=0.01, momentum=0.9, weight_decay=5e-4). ``dataset`` yields
    ``(image, label[, foreground_mask])``; without masks the space term is zero. Other
    keywords (``evaluation``, ``checkpoint``, ``progress``, ...) go to ``fit``.
    """
    from paperkit.train import Batches, fit

    config = config or DoctorConfig()
    dev = resolve_device(device)
    model.to(dev)
    if correlation is None:
        correlation = aggregate_correlation(model, diagnose_data or dataset, num_classes, layers=layers,
                                            config=config, batch_size=batch_size, device=dev, seed=seed)
    masks = channel_masks(correlation)
    if optimizer is None:
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    elif not isinstance(optimizer, torch.optim.Optimizer):
        optimizer = optimizer(model.parameters())
    objective = DoctorObjective(model, correlation.layers, masks, config, seed=seed)
    result = fit(model, dataset, loss=objective.loss, forward=objective.forward, optimizer=optimizer,
                 epochs=epochs, batches=Batches(batch_size), device=dev, seed=seed, **fit_kwargs)
    return TreatResult(correlation, masks, result)
