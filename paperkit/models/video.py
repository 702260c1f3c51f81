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
parameter counts match Table 2 within 0.3% (3DResNet-50 exactly); see :func:`parameter_table`.
One channel fits better than three: 3DResNet-50 gives 46.163M (1 channel) vs 46.207M (3).
Counting the BatchNorm running mean/variance as well (as ``paddle.summary``'s total does) turns
1-channel TSN/TSM-Res50, SlowFast and 3DResNet-18 into exactly 23.56, 33.61 and 33.16M; that the
paper counted this way is a guess (it would give 11.18M, not 11.19M, for the ResNet-18 models).
"""
from __future__ import annotations

import inspect

import pandas as pd
from torch import nn

from ..train import count_parameters
from . import resnet3d, slowfast, tsn_tsm  # noqa: F401  (register the builders)
from .registry import create, model_info

__all__ = ["PAPER_PARAMS_M", "PAPER_PARAMS_SOURCE", "VIDEO4MRI_MODELS", "create_video_model", "parameter_table",
           "trainable_parameters_m"]

VIDEO4MRI_MODELS = ("tsn_r18", "tsn_r50", "tsm_r18", "tsm_r50", "slowfast_r50", "r3d_18", "r3d_50")

PAPER_PARAMS_SOURCE = "Zhang et al., Video4MRI (2023), Table 2, column 'Params number(M)'"
# Trainable parameters in millions as printed in Table 2 (2-class models).
PAPER_PARAMS_M: dict[str, float] = {
    "r3d_18": 33.16, "r3d_50": 46.16,
    "tsn_r18": 11.19, "tsn_r50": 23.56,
    "tsm_r18": 11.19, "tsm_r50": 23.56,
    "slowfast_r50": 33.61,
}


def trainable_parameters_m(model: nn.Module) -> float:
    """Trainable parameters of ``model`` in millions (as the paper counts them)."""
    return count_parameters(model, trainable_only=True) / 1e6


def create_video_model(name: str, num_classes: int = 2, in_channels: int = 1, **options) -> nn.Module:
    """Build a video4mri model, passing each option only to builders that take it.

    Lets a chapter call every model the same way, e.g.
    ``create_video_model(name, num_segments=32, dropout=0.4)``: TSN/TSM/SlowFast use
    ``num_segments`` and ``dropout``; the 3D ResNets take neither and ignore them.
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


def parameter_table(names: tuple[str, ...] | list[str] = VIDEO4MRI_MODELS, num_classes: int = 2,
                    in_channels: int = 1) -> pd.DataFrame:
    """Trainable parameters (M) of each model next to Table 2's number and their relative difference."""
    rows = []
    for name in names:
        measured = trainable_parameters_m(create(name, num_classes=num_classes, in_channels=in_channels))
        paper = PAPER_PARAMS_M[name]
        rows.append({"model": name, "params_m": round(measured, 4), "paper_params_m": paper,
                     "relative_diff": (measured - paper) / paper})
    return pd.DataFrame(rows).set_index("model")

