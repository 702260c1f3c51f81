"""No measured number is typed into a chapter's prose.

A number in a chapter's markdown is a paper fact (a value of the chapter's reference CSV), or is
computed by the run and shown with myst-nb ``glue`` or a computed Markdown display. This test reads
every markdown cell of ``nbs/<chapter>.py`` and fails on a token that looks like a measurement or a
setting -- a decimal, a percentage, a number with a time or ratio unit, or an assignment such as
``J=2`` -- unless the reference CSV holds that value. Glue roles, citations, code spans, math and
link targets are not prose and are skipped.
"""
import re
from pathlib import Path

import jupytext
import pytest

from paperkit import reference
from paperkit.chapters import CHAPTERS

ROOT = Path(__file__).resolve().parents[1]
NOT_PROSE = [r"\{glue(?::\w+)?\}`[^`]*`", r"\{cite(?::\w+)?\}`[^`]*`", r"`[^`]*`", r"\$\$.*?\$\$", r"\$[^$]*\$",
             r"\]\([^)]*\)", r"<!--.*?-->", r"\(\{[^}]*\}\)"]
# a decimal, a percentage, a number with a time/ratio unit, or a one-letter/ALLCAPS assignment like "J=2"
MEASURE = re.compile(r"(?<![\w.§-])(?:(?P<assign>\b[A-Z][A-Z_]*\s*=\s*)(?P<av>\d+(?:\.\d+)?)"
                     r"|(?P<num>\d+(?:\.\d+)?)(?P<unit>\s?%|\s?×|x\b|\s?ms\b|\s?s\b|\s?min\b|\s?h\b)?)")
SECTION = re.compile(r"(§|Sec\.|Section|Table|Tables|Fig\.|Figs\.|Figure|Eq\.|Eqs\.|App\.|v|CC BY)\s*[\d.,–-]*$")


def _prose(text: str) -> str:
    for pattern in NOT_PROSE:
        text = re.sub(pattern, " ", text, flags=re.S)
    return text


def _paper_values(chapter: str) -> set[float]:
    values = set()
    for v in reference.load(chapter)["value"]:
        values |= {round(float(v), 4), round(float(v) * 100, 4), round(float(v) / 100, 6)}
    return values


def typed_measurements(chapter: str) -> list[str]:
    """``"cell N: token :: context"`` for every measurement-like token not found in the reference CSV."""
    paper = _paper_values(chapter)
    found = []
    for index, cell in enumerate(jupytext.read(ROOT / "nbs" / f"{chapter}.py").cells):
        if cell.cell_type != "markdown":
            continue
        prose = _prose(cell.source)
        for match in MEASURE.finditer(prose):
            value = match.group("av") or match.group("num")
            is_measure = bool(match.group("assign") or match.group("unit") or "." in value)
            if not is_measure or SECTION.search(prose[max(0, match.start() - 12):match.start()]):
                continue
            if round(float(value), 4) in paper:
                continue
            context = prose[max(0, match.start() - 40):match.end() + 30].replace("\n", " ")
            found.append(f"cell {index}: {match.group(0).strip()} :: …{context}…")
    return found


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_no_typed_measurement_in_a_chapters_prose(chapter):
    found = typed_measurements(chapter)
    assert not found, (f"{chapter}: numbers typed into markdown that the reference CSV does not hold; glue them "
                       "from the run or the settings, or add the paper fact to the CSV:\n" + "\n".join(found))
