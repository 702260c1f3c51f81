"""The rethink_transfer claims ledger's verdicts: pure functions of the result tables, unit-tested."""
from __future__ import annotations

# A lead in mean AUPRC smaller than this is read as a tie: one classroom run per model moves by a
# few hundredths between seeds, so a smaller lead would be a verdict on noise.
TIE_MARGIN = 0.01


def truncated_best(ranking, margin: float = TIE_MARGIN) -> tuple[bool | None, str]:
    """Claim 3's verdict from TL models' mean AUPRC: ``(holds, evidence)``.

    ``ranking`` has one row per model with columns ``model``, ``kind`` ("truncated", "deep",
    "shallow") and ``AUPRC``. Holds if the best truncated model leads every other kind by at
    least ``margin``; fails if another kind leads the best truncated one by at least
    ``margin``; otherwise (a tie within ``margin``, or no truncated or no other model) None.
    """
    missing = {"model", "kind", "AUPRC"} - set(ranking.columns)
    if missing:
        raise ValueError(f"truncated_best: ranking lacks columns {sorted(missing)}; expected model, kind, AUPRC")
    truncated = ranking[ranking["kind"] == "truncated"].sort_values("AUPRC", ascending=False)
    others = ranking[ranking["kind"] != "truncated"].sort_values("AUPRC", ascending=False)
    if truncated.empty or others.empty:
        return None, f"no truncated-vs-full comparison in this run (models: {', '.join(ranking['model'])})"
    t, o = truncated.iloc[0], others.iloc[0]
    lead = float(t["AUPRC"] - o["AUPRC"])
    evidence = (f"best truncated TL model {t['model']} {t['AUPRC']:.3f} vs best other {o['model']} ({o['kind']}) "
                f"{o['AUPRC']:.3f} mean AUPRC (criterion: a lead of at least {margin} either way; less is a tie)")
    if abs(lead) < margin:
        return None, evidence + ": a tie at this run's size"
    return lead > 0, evidence


def transfer_at_least_matches(rich: float, poor: float, margin: float = TIE_MARGIN) -> bool | None:
    """Claim 2's verdict from the mean TL-RI AUPRC gaps with all (``rich``) and little (``poor``) data.

    Fails if TL trails RI by more than ``margin`` with all the data, or if its edge shrinks by at
    least ``margin`` with little data; holds if the edge grows by at least ``margin``; otherwise
    (the edges within ``margin`` of each other) None, a tie.
    """
    if rich < -margin or rich - poor >= margin:
        return False
    if poor - rich >= margin:
        return True
    return None


SMOKE_TOO_SMALL = "the smoke profile is too small to test this claim; run the classroom profile"


def auprc_separates(study, share_needed: float = 0.95) -> tuple[bool | None, str]:
    """Claim 1's verdict from the Fig. 2 construction: ``(holds, evidence)``.

    ``study`` is :func:`paperkit.chapters.rethink_transfer.figures.imbalance_study`'s table (one row per
    draw and classifier, columns ``draw``, ``classifier``, ``AUROC``, ``AUPRC``) with classifiers ``A``
    and ``B``. Holds when, in at least ``share_needed`` of the paired draws, A's lead in AUPRC exceeds
    ten times its lead in AUROC; None when the study lacks A or B.
    """
    missing = {"draw", "classifier", "AUROC", "AUPRC"} - set(study.columns)
    if missing:
        raise ValueError(f"auprc_separates: study lacks columns {sorted(missing)}; "
                         "expected draw, classifier, AUROC, AUPRC")
    if not {"A", "B"} <= set(study["classifier"]):
        return None, f"needs draws of classifiers A and B (this study has {sorted(set(study['classifier']))})"
    med = study.groupby("classifier")[["AUROC", "AUPRC"]].median()
    auroc_gap = med.loc["A", "AUROC"] - med.loc["B", "AUROC"]
    auprc_gap = med.loc["A", "AUPRC"] - med.loc["B", "AUPRC"]
    paired = study.pivot(index="draw", columns="classifier", values=["AUROC", "AUPRC"])
    share = float(((paired["AUPRC"]["A"] - paired["AUPRC"]["B"])
                   > 10 * (paired["AUROC"]["A"] - paired["AUROC"]["B"])).mean())
    return share >= share_needed, (
        f"median gap A-B: AUROC {auroc_gap:.3f} vs AUPRC {auprc_gap:.3f}; the AUPRC gap exceeds 10x the AUROC gap "
        f"in {100 * share:.1f}% of {len(paired)} paired draws (criterion: at least {share_needed:.0%})")


def transfer_claim(results, fractions, *, smoke: bool) -> tuple[bool | None, str]:
    """Claim 2's verdict from every fine-tuning run: ``(holds, evidence)``.

    ``results`` has one row per run with columns ``fraction``, ``model``, ``init`` ("RI"/"TL") and
    ``AUPRC``; ``fractions`` are the training-set fractions of the profile. The mean TL-RI AUPRC gap
    over models with the largest and the smallest fraction decides, as in
    :func:`transfer_at_least_matches`. Not testable in the smoke profile or with one fraction only.
    """
    if smoke:  # a few images for one epoch show that the code runs, not what it finds
        return None, SMOKE_TOO_SMALL
    gap = results.groupby(["fraction", "model", "init"])["AUPRC"].mean().unstack("init")
    gap = (gap["TL"] - gap["RI"]).groupby("fraction").mean()
    rich, poor = gap.loc[max(fractions)], gap.loc[min(fractions)]
    if len(fractions) < 2:
        return None, (f"only one training-set size in this profile (TL-RI AUPRC gap {rich:+.3f}); "
                      "the data-poor part needs fractions=[1.0, 0.1]")
    return transfer_at_least_matches(rich, poor), (
        f"mean TL-RI AUPRC gap over models: {rich:+.3f} with {max(fractions):.0%} of the data, "
        f"{poor:+.3f} with {min(fractions):.0%} (criterion: the first at least -{TIE_MARGIN}, and the "
        f"second larger by at least {TIE_MARGIN}; closer than that is a tie)")


def truncated_claim(ranking, *, smoke: bool) -> tuple[bool | None, str]:
    """Claim 3's verdict: :func:`truncated_best` on the TL ranking, not testable in the smoke profile."""
    if smoke:
        return None, SMOKE_TOO_SMALL
    return truncated_best(ranking)
