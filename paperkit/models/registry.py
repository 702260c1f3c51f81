"""A name -> builder registry for every chapter's models, in the manner of ``timm.create_model``.

Model files register their builders with ``@register("tsn_r18", chapter="video4mri")``;
chapters then build by name: ``paperkit.models.create("tsn_r18", num_classes=2)``.
"""
from __future__ import annotations

import difflib
import fnmatch
import inspect
from dataclasses import dataclass
from typing import Callable

from torch import nn


@dataclass(frozen=True)
class ModelEntry:
    """A registered builder and what it is for."""

    name: str
    builder: Callable[..., nn.Module]
    chapter: str | None
    summary: str


_REGISTRY: dict[str, ModelEntry] = {}


def register(name: str | None = None, *, chapter: str | None = None) -> Callable:
    """Decorator adding a builder under ``name`` (default: the function's name).

    The first line of the builder's docstring becomes the model's summary.
    """
    def decorate(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        key = name or builder.__name__
        if key in _REGISTRY and _REGISTRY[key].builder is not builder:
            raise ValueError(f"model name {key!r} is already registered by {_REGISTRY[key].builder.__module__}")
        doc = inspect.getdoc(builder) or ""
        _REGISTRY[key] = ModelEntry(key, builder, chapter, doc.splitlines()[0] if doc else "")
        return builder
    return decorate


def unregister(name: str) -> None:
    """Remove a model (for tests)."""
    _REGISTRY.pop(name, None)


def _unknown(name: str, choices: list[str]) -> ValueError:
    close = difflib.get_close_matches(name, choices, n=3)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    return ValueError(f"unknown model {name!r}.{hint} Registered models: {', '.join(choices) or '(none)'}")


def model_info(name: str) -> ModelEntry:
    """The registry entry of ``name``."""
    if name not in _REGISTRY:
        raise _unknown(name, sorted(_REGISTRY))
    return _REGISTRY[name]


def create(name: str, **kwargs) -> nn.Module:
    """Build the registered model ``name`` with ``kwargs`` (e.g. ``num_classes``, ``in_channels``)."""
    entry = model_info(name)
    try:
        inspect.signature(entry.builder).bind(**kwargs)
    except TypeError as err:
        params = ", ".join(inspect.signature(entry.builder).parameters)
        raise TypeError(f"model {name!r} got unexpected arguments {sorted(kwargs)}: {err}. "
                        f"It accepts: {params}") from None
    return entry.builder(**kwargs)


def list_models(pattern: str = "*", chapter: str | None = None) -> list[str]:
    """Sorted names of registered models matching a glob ``pattern`` (and ``chapter`` if given)."""
    return sorted(n for n, e in _REGISTRY.items()
                  if fnmatch.fnmatch(n, pattern) and (chapter is None or e.chapter == chapter))
