"""No measured number is typed into a chapter's prose.

A number in a chapter's markdown is a paper fact (a value of the chapter's reference CSV), or is
computed by the run and shown with myst-nb ``glue`` or a computed Markdown display. This test reads
every markdown cell of ``nbs/<chapter>.py`` and the comments of ``paperkit/chapters/<chapter>/spec.py``
and fails on a token that looks like a measurement or a setting -- a decimal, a percentage, a number
with a time or ratio unit, a number right after a metric's name (``corr 1``, ``accuracy 0.83``), or an
assignment such as ``J=2`` -- unless the reference CSV holds that value (or it is the 95% level of the
book's intervals). Glue roles, citations, code spans, math and link targets are not prose and are skipped.
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
METRIC = r"(?:corr|correlation|accuracy|AUROC|AUPRC|Dice|F1|specificity|sensitivity|recall|precision)"
MEASURE = re.compile(r"(?<![\w.§-])(?:(?P<assign>\b[A-Z][A-Z_]*\s*=\s*)(?P<av>\d+(?:\.\d+)?)"
                     rf"|(?P<metric>\b{METRIC}\s*(?:of|=|:)?\s*)(?P<mv>\d+(?:\.\d+)?)"
                     r"|(?P<num>\d+(?:\.\d+)?)(?P<unit>\s?%|\s?×|x\b|\s?ms\b|\s?s\b|\s?min\b|\s?h\b)?)", re.I)
# The level of every interval the book computes (paperkit.metrics.paired's default): a definition, not a result.
DEFINITIONS = {"95%"}
SECTION = re.compile(r"(§|Sec\.|Section|Table|Tables|Fig\.|Figs\.|Figure|Eq\.|Eqs\.|App\.|v|CC BY)\s*[\d.,–-]*$")
# Typed claims a review found that no number pattern can see; they must not come back.
REVIEWED_PHRASES = ["about as rare as CheXpert"]


def _prose(text: str) -> str:
    for pattern in NOT_PROSE:
        text = re.sub(pattern, " ", text, flags=re.S)
    return text


def _paper_values(chapter: str) -> set[float]:
    values = set()
    for v in reference.load(chapter)["value"]:
        values |= {round(float(v), 4), round(float(v) * 100, 4), round(float(v) / 100, 6)}
    return values


def typed_in(text: str, paper: set[float]) -> list[str]:
    """Every measurement-like token of ``text`` whose value ``paper`` does not hold, with its context."""
    prose, found = _prose(text), []
    for match in MEASURE.finditer(prose):
        value = match.group("av") or match.group("mv") or match.group("num")
        flagged = match.group("assign") or match.group("metric") or match.group("unit") or "." in value
        if not flagged or SECTION.search(prose[max(0, match.start() - 12):match.start()]):
            continue
        if round(float(value), 4) in paper or match.group(0).replace(" ", "") in DEFINITIONS:
            continue
        found.append(f"{match.group(0).strip()} :: …{prose[max(0, match.start() - 40):match.end() + 30]}…"
                     .replace("\n", " "))
    found += [f"{phrase} :: a typed comparison" for phrase in REVIEWED_PHRASES if phrase in text]
    return found


def typed_measurements(chapter: str) -> list[str]:
    """Typed tokens of a chapter's markdown cells and of its spec's comments."""
    paper, found = _paper_values(chapter), []
    for index, cell in enumerate(jupytext.read(ROOT / "nbs" / f"{chapter}.py").cells):
        if cell.cell_type == "markdown":
            found += [f"markdown cell {index}: {hit}" for hit in typed_in(cell.source, paper)]
    spec = (ROOT / "paperkit" / "chapters" / chapter / "spec.py").read_text()
    comments = "\n".join(line.split("#", 1)[1] for line in spec.splitlines() if "#" in line)
    found += [f"spec.py comment: {hit}" for hit in typed_in(comments, paper)]
    return found


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_no_typed_measurement_in_a_chapters_prose(chapter):
    found = typed_measurements(chapter)
    assert not found, (f"{chapter}: numbers typed into prose that the reference CSV does not hold; glue them "
                       "from the run or the settings, or add the paper fact to the CSV:\n" + "\n".join(found))


@pytest.mark.parametrize("text", [
    "Classroom: few epochs, J=2 noise draws and T=30 images per class",          # model_doctor, settings typed
    "the background is the class's own texture 90% of the time",                 # model_doctor, a setting typed
    "the maps agree (corr 1)",                                                     # lge_quality, a measurement
    'The smoke run prints "supported (0.53×)"',                                    # video4mri, a ratio
    "classroom ≈ 2.5 min (2.1 min measured on an idle 2-core CPU)",                # a typed timing
    "R3D-18 reaches accuracy 0.67, AUROC 0.79 at 1e-4",                            # video4mri spec comment
    "the synthetic rare labels are about as rare as CheXpert's",                   # rethink_transfer
])
def test_the_examples_the_review_found_are_caught(text):
    assert typed_in(text, paper=set()), text


def test_paper_facts_glue_and_definitions_pass():
    paper = {0.9448, 94.48, 1.93}
    assert typed_in("They report Dice 94.48% and an APD of 1.93 mm", paper) == []
    assert typed_in("this run reaches {glue:text}`dice:.1%` (Table 2, §3.4); a 95% interval", paper) == []
    assert typed_in("`lr=0.02` in code, $p = 0.5$ in math", paper) == []
