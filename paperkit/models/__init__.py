"""Model registry. Importing this package registers every chapter's models.

>>> from paperkit import models
>>> models.list_models(chapter="rethink_transfer")     # doctest: +SKIP
>>> net = models.create("res_t3", num_classes=13)       # doctest: +SKIP
"""
from .registry import ModelEntry, create, list_models, model_info, register, unregister

# Chapter model files are imported here as they are added, so that they register themselves.

__all__ = ["ModelEntry", "create", "list_models", "model_info", "register", "unregister"]
