"""The claims ledger: each claim of a paper, the evidence on both sides, and a computed verdict.

A verdict is never typed: :meth:`Ledger.add` takes ``holds``, a boolean computed from the
results (or ``None`` when this run cannot test the claim, with the reason as the evidence); each
chapter's ``claims.py`` computes it, and :meth:`Ledger.judge` adds what such a function returns.
Ledgers are saved to ``out_dir/<chapter>/claims.json`` and gathered by the book's claims overview
page with :func:`load_ledgers`.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from paperkit.atomic import write_json

SUPPORTED, NOT_SUPPORTED, NOT_TESTABLE = "supported", "not supported", "not testable here"
VERDICTS = (SUPPORTED, NOT_SUPPORTED, NOT_TESTABLE)


@dataclass(frozen=True)
class Claim:
    """One row of a ledger: the claim, both sides' evidence, the criterion, the measured effect with its
    95% interval and the number of test items it rests on (empty where the claim is not a comparison),
    the verdict and the data this run used."""

    claim: str
    paper_evidence: str
    our_evidence: str
    verdict: str
    data: str
    criterion: str = ""
    effect: float | None = None
    low: float | None = None
    high: float | None = None
    n: int | None = None


@dataclass(frozen=True)
class Verdict:
    """What a chapter's claims function returns: ``holds`` (True, False, or None when this run cannot
    test the claim) and the evidence, with the criterion and, for a comparison, the effect, its 95%
    interval and the number of test items."""

    holds: bool | None
    evidence: str
    criterion: str = ""
    effect: float | None = None
    low: float | None = None
    high: float | None = None
    n: int | None = None

    def __iter__(self):  # unpacks as (holds, evidence), the form claims functions returned before
        return iter((self.holds, self.evidence))


def judge_interval(low: float, high: float, *, supported_above: float, refuted_below: float) -> bool | None:
    """The verdict an interval gives: True when all of ``[low, high]`` is at or above ``supported_above``,
    False when all of it is at or below ``refuted_below``, None (not testable) when it straddles.

    For "A beats B by a margin m" on ``a - b`` use ``supported_above=m, refuted_below=-m``: a verdict
    needs the whole interval on one side of the margin, so one test item cannot flip it.
    """
    if refuted_below > supported_above:
        raise ValueError(f"refuted_below={refuted_below} exceeds supported_above={supported_above}")
    if low > high:
        raise ValueError(f"interval [{low}, {high}] is reversed")
    if low >= supported_above:
        return True
    if high <= refuted_below:
        return False
    return None


def compare(difference, *, margin: float = 0.0, claim: str = "beats") -> Verdict:
    """A :class:`Verdict` on a :class:`paperkit.metrics.paired.Difference` (``a - b``).

    ``claim="beats"``: supported when the interval clears ``+margin``, not supported when it clears
    ``-margin``. ``claim="matches"`` (a is no worse than b by more than the margin): supported when
    the interval clears ``-margin`` from above, not supported when it lies wholly below it. The margin
    is never finer than one test item (:meth:`Difference.margin`).
    """
    m = difference.margin(margin)
    if claim == "beats":
        holds = judge_interval(difference.low, difference.high, supported_above=m, refuted_below=-m)
        criterion = (f"{difference.a} beats {difference.b}: the 95% interval of the {difference.metric} "
                     f"difference lies above +{m:.3f} (below -{m:.3f}: not supported; a margin of at least one "
                     f"test item in {difference.n})")
    elif claim == "matches":
        holds = judge_interval(difference.low, difference.high, supported_above=-m, refuted_below=-m)
        criterion = (f"{difference.a} is no worse than {difference.b}: the 95% interval of the {difference.metric} "
                     f"difference lies above -{m:.3f} (wholly below it: not supported)")
    else:
        raise ValueError(f"claim={claim!r}: expected 'beats' or 'matches'")
    return Verdict(holds, difference.describe(), criterion, difference.effect, difference.low, difference.high,
                   difference.n)


def verdict_of(holds: bool | None) -> str:
    """``True`` -> supported, ``False`` -> not supported, ``None`` -> not testable here."""
    if holds is None:
        return NOT_TESTABLE
    if isinstance(holds, (bool, np.bool_)):
        return SUPPORTED if bool(holds) else NOT_SUPPORTED
    raise TypeError(f"holds={holds!r}: expected True, False or None computed from the results")


class Ledger:
    """The claims of one chapter's paper, checked against this run.

    ``data`` names what this run ran on (e.g. ``"synthetic cohort, classroom profile"``);
    every row carries it so no synthetic result passes for a real-data reproduction.
    """

    def __init__(self, chapter: str, data: str):
        self.chapter, self.data = chapter, data
        self.rows: list[Claim] = []

    def add(self, claim: str, paper_evidence: str, our_evidence: str, holds: bool | None,
            data: str | None = None) -> Claim:
        """Add a claim; ``holds`` is computed from the results (``None``: not testable here)."""
        row = Claim(claim, paper_evidence, our_evidence, verdict_of(holds), data or self.data)
        self.rows.append(row)
        return row

    def judge(self, claim: tuple[str, str], verdict: Verdict | tuple[bool | None, str],
              data: str | None = None) -> Claim:
        """Add a spec's ``(claim, paper evidence)`` with the :class:`Verdict` (or ``(holds, evidence)``)
        a claims function returned."""
        if not isinstance(verdict, Verdict):
            verdict = Verdict(*verdict)
        text, paper_evidence = claim
        row = Claim(text, paper_evidence, verdict.evidence, verdict_of(verdict.holds), data or self.data,
                    verdict.criterion, verdict.effect, verdict.low, verdict.high, verdict.n)
        self.rows.append(row)
        return row

    def frame(self) -> pd.DataFrame:
        """The ledger as a DataFrame (columns: claim, paper_evidence, our_evidence, verdict, data)."""
        return pd.DataFrame([asdict(r) for r in self.rows], columns=list(Claim.__dataclass_fields__))

    def table(self) -> pd.DataFrame:
        """The rows as a reader sees them (:func:`overview_rows`, without the previous-build column)."""
        return overview_rows(self.frame()).drop(columns="since the previous build")

    def show(self) -> None:
        """Display the ledger as a table in a notebook."""
        from IPython.display import HTML, display

        display(HTML(ledger_html(self.table(), f"Claims ledger — {self.chapter} (this run: {self.data})")))

    def save(self, out_dir: str | Path, **context) -> Path:
        """Write ``out_dir/<chapter>/claims.json`` (with e.g. ``profile=``, ``dataset=`` as context).

        The verdicts of the ledger it replaces are kept as ``previous`` when that ledger was made with
        the same profile and dataset, so the claims overview can say which verdicts changed since.
        """
        path = Path(out_dir) / self.chapter / "claims.json"
        previous = _previous_verdicts(path, context)
        payload = {"chapter": self.chapter, "data": self.data, "context": context, "previous": previous,
                   "claims": [asdict(r) for r in self.rows]}
        return write_json(path, payload)


def _previous_verdicts(path: Path, context: dict) -> dict:
    """Claim text -> verdict of the ledger at ``path`` if it was made under the same profile and dataset."""
    if not path.exists():
        return {}
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):  # an unreadable old ledger has nothing to compare with
        return {}
    same = all(old.get("context", {}).get(k) == context.get(k) for k in ("profile", "dataset"))
    return {row["claim"]: row["verdict"] for row in old.get("claims", [])} if same else {}


_BADGE = {SUPPORTED: "#1a7f37", NOT_SUPPORTED: "#cf222e", NOT_TESTABLE: "#6e7781"}


def ledger_html(frame: pd.DataFrame, caption: str) -> str:
    """A ledger DataFrame as an HTML table with coloured verdicts."""
    import html as h

    head = "".join(f"<th>{h.escape(c.replace('_', ' '))}</th>" for c in frame.columns)
    body = []
    for _, row in frame.iterrows():
        cells = []
        for col, value in row.items():
            text = h.escape(str(value))
            if col == "verdict":
                text = f'<span style="color:{_BADGE.get(value, "#000")};font-weight:600">{text}</span>'
            cells.append(f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<figure class="paperkit"><figcaption><b>{h.escape(caption)}</b></figcaption>'
            f'<table class="paperkit-table"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></figure>')


def load_ledgers(out_dir: str | Path = "runs") -> pd.DataFrame:
    """Every chapter's saved ledger under ``out_dir``, one row per claim, with chapter and context.

    ``previous verdict`` is the claim's verdict in the build before under the same profile and
    dataset (empty when there was none); ``changed`` is True where the two differ.
    """
    rows = []
    for path in sorted(Path(out_dir).glob("*/claims.json")):
        payload = json.loads(path.read_text())
        previous = payload.get("previous", {})
        for claim in payload["claims"]:
            before = previous.get(claim["claim"], "")
            rows.append({"chapter": payload["chapter"], **claim, "previous verdict": before,
                         "changed": bool(before) and before != claim["verdict"],
                         **{f"run {k}": v for k, v in payload.get("context", {}).items()}})
    return pd.DataFrame(rows)


def _effect_text(row) -> str:
    effect = row.get("effect")
    if effect is None or (isinstance(effect, float) and np.isnan(effect)):
        return "—"
    low, high = row.get("low"), row.get("high")
    return f"{effect:+.3f} [{low:+.3f}, {high:+.3f}]"


def _since_text(row) -> str:
    before = row.get("previous verdict") or ""
    if not before:
        return "no earlier build"
    return f"changed (was {before})" if before != row["verdict"] else "same"


OVERVIEW_COLUMNS = ["claim", "verdict", "effect [95% interval]", "n", "paper_evidence", "our_evidence", "criterion",
                    "data", "since the previous build"]


def overview_rows(ledgers: pd.DataFrame) -> pd.DataFrame:
    """Ledger rows as a reader sees them (:data:`OVERVIEW_COLUMNS`): the claim and its verdict first, then
    the effect with its 95% interval and n, both sides' evidence, the criterion, the data, and what the
    previous build of the same profile said."""
    if ledgers.empty:
        return pd.DataFrame(columns=OVERVIEW_COLUMNS)
    n = ledgers["n"] if "n" in ledgers else pd.Series([None] * len(ledgers), index=ledgers.index)
    return pd.DataFrame({
        "claim": ledgers["claim"],
        "verdict": ledgers["verdict"],
        "effect [95% interval]": [_effect_text(r) for _, r in ledgers.iterrows()],
        "n": ["—" if v is None or (isinstance(v, float) and np.isnan(v)) else str(int(v)) for v in n],
        "paper_evidence": ledgers["paper_evidence"],
        "our_evidence": ledgers["our_evidence"],
        "criterion": ledgers.get("criterion", pd.Series([""] * len(ledgers), index=ledgers.index)).fillna(""),
        "data": ledgers["data"],
        "since the previous build": [_since_text(r) for _, r in ledgers.iterrows()],
    })
