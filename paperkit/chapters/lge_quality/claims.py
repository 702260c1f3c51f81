"""The lge_quality claims ledger's verdicts: pure functions of the result tables, unit-tested."""
from __future__ import annotations

# The three QA strategies in the order claim 1 ranks them, best first.
RANKED = ("supcon_qa", "multitask_qa", "qa_resnet34")


def contrastive_beats_multitask(means, methods, runs: int, *, smoke: bool) -> tuple[bool | None, str]:
    """Claim 1 (contrastive > multi-task > QA in F1 and specificity) from the mean over runs: ``(holds, evidence)``.

    ``means`` is indexed by method with columns ``f1 mean`` and ``specificity mean``
    (:func:`~paperkit.chapters.lge_quality.experiment.summarise_runs`); ``methods`` are the QA methods
    of this run. Holds when both orderings are strict; not testable without all three methods or in smoke.
    """
    if smoke or len(methods) < 3:
        return None, "needs all three QA methods trained beyond the smoke profile"
    f1 = [means.loc[m, "f1 mean"] for m in RANKED]
    sp = [means.loc[m, "specificity mean"] for m in RANKED]
    return bool(f1[0] > f1[1] > f1[2] and sp[0] > sp[1] > sp[2]), (
        f"mean over {runs} run(s), contrastive / multi-task / QA: F1 {f1[0]:.2f} / {f1[1]:.2f} / {f1[2]:.2f}, "
        f"specificity {sp[0]:.2f} / {sp[1]:.2f} / {sp[2]:.2f} (criterion: both orderings strict)")


def multitask_attends_atrium(attention, *, smoke: bool) -> tuple[bool | None, str]:
    """Claim 2 (the multi-task model looks at the atrium) from the attention table: ``(holds, evidence)``.

    ``attention`` is :func:`~paperkit.chapters.lge_quality.figures.attention_table` (rows ``QA`` and
    ``Multi-Task QA``), or None when this run lacks one of the two models. Holds when Multi-Task QA's
    HiResCAM mass inside the atrium exceeds both QA's and the atrium's share of the image.
    """
    if smoke or attention is None:
        return None, "needs qa_resnet34 and multitask_qa trained beyond the smoke profile"
    a = attention.set_index("model")
    mt, qa, chance = (a.loc["Multi-Task QA", "HiResCAM atrium share (layer3)"],
                      a.loc["QA", "HiResCAM atrium share (layer3)"], a.loc["QA", "atrium area share (chance)"])
    return bool(mt > qa and mt > chance), (
        f"HiResCAM (layer3) mass inside the atrium (+2 px): Multi-Task QA {mt:.2f}, QA {qa:.2f}, "
        f"area share {chance:.2f} (criterion: Multi-Task above both)")


def contrastive_with_few_labels(curve, n_train: int, methods, *, smoke: bool) -> tuple[bool | None, str]:
    """Claim 3 (contrastive beats multi-task with few labels) from the label curve: ``(holds, evidence)``.

    ``curve`` has columns ``labelled scans``, ``method``, ``f1``, ``specificity``; ``n_train`` is the full
    training set's size. At the smallest subset, holds when contrastive minus multi-task is positive in
    both metrics; not testable without both methods, without a subset smaller than the full set, or in smoke.
    """
    smallest = curve["labelled scans"].min()
    if smoke or not {"supcon_qa", "multitask_qa"} <= set(methods) or smallest == n_train:
        return None, "needs supcon_qa and multitask_qa on a label subset beyond the smoke profile"
    low = curve[curve["labelled scans"] == smallest].set_index("method")
    d_f1 = low.loc["supcon_qa", "f1"] - low.loc["multitask_qa", "f1"]
    d_sp = low.loc["supcon_qa", "specificity"] - low.loc["multitask_qa", "specificity"]
    return bool(d_f1 > 0 and d_sp > 0), (f"with {smallest} labelled scans (run 1): contrastive minus multi-task F1 "
                                         f"{d_f1:+.2f}, specificity {d_sp:+.2f} (criterion: both > 0)")
