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
    """One row of a ledger."""

    claim: str
    paper_evidence: str
    our_evidence: str
    verdict: str
    data: str


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

    def judge(self, claim: tuple[str, str], verdict: tuple[bool | None, str], data: str | None = None) -> Claim:
        """Add a spec's ``(claim, paper evidence)`` with the ``(holds, our evidence)`` a claims function returned."""
        (text, paper_evidence), (holds, our_evidence) = claim, verdict
        return self.add(text, paper_evidence, our_evidence, holds=holds, data=data)

    def frame(self) -> pd.DataFrame:
        """The ledger as a DataFrame (columns: claim, paper_evidence, our_evidence, verdict, data)."""
        return pd.DataFrame([asdict(r) for r in self.rows], columns=list(Claim.__dataclass_fields__))

    def show(self) -> None:
        """Display the ledger as a table in a notebook."""
        from IPython.display import HTML, display

        display(HTML(ledger_html(self.frame(), f"Claims ledger — {self.chapter} (this run: {self.data})")))

    def save(self, out_dir: str | Path, **context) -> Path:
        """Write ``out_dir/<chapter>/claims.json`` (with e.g. ``profile=``, ``dataset=`` as context)."""
        payload = {"chapter": self.chapter, "data": self.data, "context": context,
                   "claims": [asdict(r) for r in self.rows]}
        return write_json(Path(out_dir) / self.chapter / "claims.json", payload)


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
    """Every chapter's saved ledger under ``out_dir``, one row per claim, with chapter and context."""
    rows = []
    for path in sorted(Path(out_dir).glob("*/claims.json")):
        payload = json.loads(path.read_text())
        for claim in payload["claims"]:
            rows.append({"chapter": payload["chapter"], **claim,
                         **{f"run {k}": v for k, v in payload.get("context", {}).items()}})
    return pd.DataFrame(rows)
