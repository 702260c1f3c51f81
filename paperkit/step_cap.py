"""A process-wide step cap: every training stage and every evaluation stops after ``n`` steps.

A chapter's ``max_steps`` parameter sets it (``contract.start``), so a chapter's ``paper``
profile can be executed at the paper's image sizes, widths and batch sizes in minutes on a CPU:
every :func:`paperkit.train.fit` call makes at most ``n`` optimizer steps, and a chapter cuts its
evaluation sets to ``n`` batches with :func:`head` before predicting them (never by stopping a
prediction loop early: its outputs must stay lined up with the data they belong to). Numbers from
such a run prove that the code runs at those shapes; they measure nothing else, and pages say so
(:func:`describe`).

The cap is module state on purpose: a chapter has a dozen training and evaluation calls spread
over its experiment module, and threading one test-only argument through all of them would
make every signature longer for a setting a reader never uses.
"""
from __future__ import annotations

import contextlib
import itertools
import numbers
from typing import Iterable, Iterator, Sequence, TypeVar

T = TypeVar("T")
_cap: int | None = None


def check(max_steps) -> int | None:
    """``max_steps`` as given if it is None or a positive integer; otherwise a ValueError saying what is expected."""
    if max_steps is None:
        return None
    if not isinstance(max_steps, numbers.Integral) or isinstance(max_steps, bool) or max_steps < 1:
        raise ValueError(f"max_steps={max_steps!r}: expected a positive number of optimizer steps "
                         "(and of evaluation batches), or None for no cap")
    return int(max_steps)


def set_cap(max_steps: int | None) -> None:
    """Cap every later training stage and evaluation at ``max_steps`` steps (None removes the cap)."""
    global _cap
    _cap = check(max_steps)


def current() -> int | None:
    """The cap in force, or None."""
    return _cap


@contextlib.contextmanager
def capped(max_steps: int | None) -> Iterator[None]:
    """``with capped(2): ...`` runs the block under a cap and restores the previous one after."""
    global _cap
    previous = _cap
    set_cap(max_steps)
    try:
        yield
    finally:
        _cap = previous


def limit(batches: Iterable[T]) -> Iterable[T]:
    """The first ``cap`` items of ``batches`` under a cap, all of them otherwise (for a pass whose outputs are
    not kept per item, e.g. a BatchNorm recalibration)."""
    return batches if _cap is None else itertools.islice(batches, _cap)


def head(items: Sequence[T], batch_size: int) -> Sequence[T]:
    """The items of ``cap`` batches of ``batch_size`` under a cap, all of them otherwise (for an evaluation set
    whose per-item results are kept side by side, so it is cut before it is evaluated)."""
    return items if _cap is None else items[:_cap * batch_size]


def describe() -> str:
    """One sentence for a page run under a cap, '' without one."""
    if _cap is None:
        return ""
    return (f"This run is step-capped (max_steps={_cap}): every training stage stopped after {_cap} optimizer "
            f"step(s), and every evaluation set was cut to {_cap} batch(es). Its numbers only show that the "
            "pipeline runs at these settings; they are not results.")
