"""Model registry. Importing this package registers every chapter's models.

>>> from paperkit import models
>>> models.list_models(chapter="rethink_transfer")     # doctest: +SKIP
>>> net = models.create("res_t3", num_classes=13)       # doctest: +SKIP
"""
# Chapter model files are imported here so that they register themselves.
from . import (  # noqa: F401,E402  (rethink_transfer: CBR family, ResNet-50/DenseNet-121 and truncations)  # noqa: F401,E402  (model_doctor: Table 1's classifiers md_*, small_cnn)
           cbr,
           classifiers,
           lge_quality,  # noqa: F401,E402  (lge_quality: stage-1 UNet, QA ResNet-34, multi-task, SupCon encoder)
           lv_segmentation,  # noqa: F401,E402  (gap_net, fcn8s, unet, unetpp, attention_unet)
           pretrained,
           small_cnn,
           truncated,
           video,  # noqa: F401,E402  (video4mri: TSN, TSM, SlowFast, 3D ResNets)
)
from .parameters import count_parameters, parameter_table
from .pretrained import imagenet_weights_available  # noqa: E402
from .registry import ModelEntry, create, list_models, model_info, register, unregister

__all__ = ["ModelEntry", "count_parameters", "imagenet_weights_available", "parameter_table", "create", "list_models",
           "model_info", "register", "unregister"]
