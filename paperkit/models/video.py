"""The video4mri chapter's models in one place: importing this module registers all seven.

=============  ==========================================  ===============
name           what                                        paper (Table 2)
=============  ==========================================  ===============
tsn_r18        TSN, 2D ResNet-18 per slice                 TSN-Res18
tsn_r50        TSN, 2D ResNet-50 per slice                 TSN-Res50
tsm_r18        TSM (temporal shift), ResNet-18             TSM-Res18
tsm_r50        TSM (temporal shift), ResNet-50             TSM-Res50
slowfast_r50   SlowFast-R50, alpha 8, beta 1/8             SlowFast
r3d_18         torchvision 3D ResNet-18                    3DResNet-18
r3d_50         MONAI 3D ResNet-50                          3DResNet-50
=============  ==========================================  ===============

All take ``(B, C, T, H, W)`` clips (``T`` = slices) and return ``(B, num_classes)`` logits.
With ``num_classes=2`` and ``in_channels=1`` (raw single-channel MRI slices) the trainable
parameter counts match Table 2 within 0.3% (3DResNet-50 exactly); see
``paperkit.models.parameter_table(VIDEO4MRI_MODELS, paper_m=paper_parameters_m())``.
One channel fits better than three: 3DResNet-50 gives 46.163M (1 channel) vs 46.207M (3).
Counting the BatchNorm running mean/variance as well (as ``paddle.summary``'s total does) turns
1-channel TSN/TSM-Res50, SlowFast and 3DResNet-18 into exactly 23.56, 33.61 and 33.16M; that the
paper counted this way is a guess (it would give 11.18M, not 11.19M, for the ResNet-18 models).
"""
from __future__ import annotations

import inspect

from torch import nn

from . import resnet3d, slowfast, tsn_tsm  # noqa: F401  (register the builders)
from .registry import create, model_info

__all__ = ["PAPER_NAMES", "VIDEO4MRI_MODELS", "create_video_model", "paper_parameters_m"]

VIDEO4MRI_MODELS = ("tsn_r18", "tsn_r50", "tsm_r18", "tsm_r50", "slowfast_r50", "r3d_18", "r3d_50")

# Each model's row label in the paper's Table 2 (the ``setting`` column of paperkit/reference/video4mri.csv).
PAPER_NAMES: dict[str, str] = {
    "tsn_r18": "TSN-Res18", "tsn_r50": "TSN-Res50", "tsm_r18": "TSM-Res18", "tsm_r50": "TSM-Res50",
    "slowfast_r50": "SlowFast", "r3d_18": "3DResNet-18", "r3d_50": "3DResNet-50",
}


def paper_parameters_m() -> dict[str, float]:
    """Table 2's trainable parameters (millions, 2-class models) of each model, from the reference CSV."""
    from .. import reference  # imported here: it needs pandas, which building a model does not

    rows = reference.load("video4mri", source="Table 2", metric="params")
    by_setting = dict(zip(rows["setting"], rows["value"]))
    missing = [label for label in PAPER_NAMES.values() if label not in by_setting]
    if missing:
        raise ValueError(f"paperkit/reference/video4mri.csv has no Table 2 'params' row for {missing}")
    return {name: float(by_setting[label]) for name, label in PAPER_NAMES.items()}


def create_video_model(name: str, num_classes: int = 2, in_channels: int = 1, **options) -> nn.Module:
    """Build a video4mri model, passing each option only to builders that take it.

    Lets a chapter call every model the same way, e.g.
    ``create_video_model(name, num_segments=32, dropout=0.4)``: TSN/TSM/SlowFast use
    ``num_segments``; all seven take ``dropout`` (0.4 by default, the paper's one recipe).
    """
    if name not in VIDEO4MRI_MODELS:
        raise ValueError(f"unknown video4mri model {name!r}; expected one of {', '.join(VIDEO4MRI_MODELS)}")
    accepted = inspect.signature(model_info(name).builder).parameters
    unknown = [k for k in options if not any(k in inspect.signature(model_info(m).builder).parameters
                                             for m in VIDEO4MRI_MODELS)]
    if unknown:
        raise TypeError(f"create_video_model: no video4mri model takes {unknown}")
    kwargs = {k: v for k, v in options.items() if k in accepted}
    return create(name, num_classes=num_classes, in_channels=in_channels, **kwargs)
