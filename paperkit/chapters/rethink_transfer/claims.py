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
