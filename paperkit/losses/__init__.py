"""Losses (and the LARS optimiser factory) of the lge_quality chapter.

* :mod:`.supcon` -- supervised contrastive loss (Khosla et al. 2020; Sultan et al. Eq. 4) and
  its sum over several label sets (Eq. 5).
* :mod:`.quality` -- the QA loss (BCE over three attributes + QA, Eq. 1), the blood-pool Dice
  loss (Eq. 2, MONAI ``DiceLoss``) and the multi-task sum (Eq. 3).
* :mod:`.lars` -- :func:`make_lars`, ``timm.optim.Lars`` set up for SupCon pretraining.
"""
from .lars import make_lars
from .quality import dice_loss, multitask_loss, qa_loss
from .supcon import SupConLoss, multi_label_supcon_loss, supcon_loss

__all__ = ["SupConLoss", "dice_loss", "make_lars", "multi_label_supcon_loss", "multitask_loss", "qa_loss",
           "supcon_loss"]
