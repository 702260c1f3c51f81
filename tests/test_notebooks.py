"""Chapters: jupytext pairs in sync, each chapter runs in the smoke profile, and the book builds.

The chapters are executed once into a temporary copy of the book, which is then built with
Jupyter Book (warnings are errors), so this file tests exactly what `make book` does.
"""
import json
import shutil
import time
from pathlib import Path

import jupytext
import nbformat
import pytest

from paperkit import book, chapters, teaching
from paperkit.chapters import CHAPTERS

ROOT = Path(__file__).resolve().parents[1]
PAIRS = sorted(ROOT.glob("nbs/*.py")) + [ROOT / "book" / n for n in ("claims.py", "paper_cost.py", "teaching.py")]
SECTIONS = ["## Parameters", "## Data", "## Method", "## Experiments", "## Results", "## Claims ledger",
            "## Differences from the paper", "## Exercises"]


@pytest.mark.parametrize("source", PAIRS, ids=lambda p: p.stem)
def test_py_and_ipynb_pair_in_sync(source):
    paired = source.with_suffix(".ipynb")
    assert paired.exists(), f"{source} has no paired {paired.name}; run: jupytext --sync {source}"
    text = jupytext.read(source)
    nb = nbformat.read(paired, as_version=4)
    got = [(c.cell_type, c.source) for c in nb.cells]
    want = [(c.cell_type, c.source) for c in text.cells]
    assert got == want, f"{paired.name} differs from {source.name}; run: jupytext --sync {source}"
    assert all(not c.get("outputs") and not c.get("execution_count") for c in nb.cells if c.cell_type == "code"), \
        f"{paired.name} is committed with outputs"


def test_every_chapter_has_the_contract():
    assert sorted(p.stem for p in ROOT.glob("nbs/*.py")) == sorted(CHAPTERS)
    for name in CHAPTERS:
        nb = jupytext.read(ROOT / "nbs" / f"{name}.py")
        params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(params) == 1, f"{name}: expected one cell tagged 'parameters'"
        for var in ("dataset", "data_dir", "profile", "models", "epochs", "seed", "device", "out_dir", "max_steps"):
            assert f"\n{var} = " in "\n" + params[0].source, f"{name}: parameter {var!r} missing"
        markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        positions = [markdown.find(s) for s in SECTIONS]
        assert -1 not in positions, f"{name}: missing sections {[s for s, p in zip(SECTIONS, positions) if p < 0]}"
        assert positions == sorted(positions), f"{name}: sections out of order"


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_declared_parameter_reaches_start(name):
    """start() refuses a notebook value no parameter took (papermill's -p typo), so each must be passed on."""
    import ast

    nb = jupytext.read(ROOT / "nbs" / f"{name}.py")
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    declared = {t.id for node in ast.parse(params.source).body if isinstance(node, ast.Assign) for t in node.targets}
    code = ast.parse("\n".join(c.source for c in nb.cells if c.cell_type == "code"))
    call = next(n for n in ast.walk(code) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "start")
    assert {k.arg for k in call.keywords} == declared


@pytest.mark.slow
def test_a_mistyped_papermill_parameter_stops_the_chapter(tmp_path):
    import papermill

    with pytest.raises(papermill.PapermillExecutionError, match=r"'datset' \(did you mean 'dataset'\?\)"):
        book.execute(ROOT / "nbs" / "rethink_transfer.ipynb", tmp_path / "out.ipynb",
                     {"profile": "smoke", "datset": "chexpert", "out_dir": str(tmp_path / "runs")}, cwd=ROOT)
    assert not (tmp_path / "out.ipynb").exists() and not (tmp_path / "runs").exists()


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory):
    """A copy of the book sources in a temporary root, into which chapters are executed."""
    root = tmp_path_factory.mktemp("book")
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(ROOT / "book", root / "book", ignore=shutil.ignore_patterns("chapters", "plotly.min.js"))
    return root


# (chapter, claim index) of claims that no training decides: a simulation, timings and counts of fresh models.
NO_TRAINING_NEEDED = [("rethink_transfer", 0), ("video4mri", 3), ("video4mri", 4), ("video4mri", 5)]


@pytest.mark.slow
@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_runs_in_smoke_profile(name, smoke_book):
    out = smoke_book / "book" / "chapters" / f"{name}.ipynb"
    t0 = time.perf_counter()
    book.execute(ROOT / "nbs" / f"{name}.ipynb", out, {"profile": "smoke", "out_dir": str(smoke_book / "runs")},
                 cwd=ROOT)
    print(f"{name}: {time.perf_counter() - t0:.1f} s in the smoke profile")
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    ledger = json.loads((smoke_book / "runs" / name / "claims.json").read_text())
    assert ledger["context"]["profile"] == "smoke" and len(ledger["claims"]) >= 2
    assert all(c["verdict"] in ("supported", "not supported", "not testable here") for c in ledger["claims"])
    # In smoke no network has learnt, so only a claim that needs no trained model may come out supported.
    needs_no_training = {chapters.get(chapter).CLAIMS[i][0] for chapter, i in NO_TRAINING_NEEDED}
    supported = [c["claim"] for c in ledger["claims"] if c["verdict"] == "supported"]
    assert set(supported) <= needs_no_training, f"{name}: an untrained model supports {supported}"
    html = "\n".join(str(o.get("data", {}).get("text/html", "")) for o in outputs)
    assert "Claims ledger" in html
    # Every exercise has a solution, and each solution cell ran without error and showed something.
    found = teaching.exercises(nb, out.name)
    assert len(found) >= 3, f"{name}: {len(found)} exercises with solutions, expected at least 3"
    for exercise in found:
        for i in exercise["code"]:
            cell = nb.cells[i]
            assert cell.get("execution_count"), f"{name}: the solution of {exercise['label']} did not run"
            assert cell.outputs, f"{name}: the solution of {exercise['label']} produced no output"
            assert not [o for o in cell.outputs if o.output_type == "error"], exercise["label"]
            assert cell.metadata.get("papermill", {}).get("duration") is not None, exercise["label"]
    times = teaching.solution_times(out)
    assert (times["status"] == "ran").all(), times
    print(f"{name} solutions: " + ", ".join(f"{r.exercise} {r.seconds:.1f} s" for r in times.itertuples()))


# make test runs fewer models than the cost page's capped runs (book.PAPER_CAPPED_FIT) to stay within minutes, one
# or two of each family at the paper's shapes, and rethink_transfer's Fig. 2 simulation with fewer draws (it trains
# nothing). Every change is in the test's id.
CAPPED_TEST_MODELS = {"video4mri": {"models": ["tsm_r18", "slowfast_r50", "r3d_18"], "ablation_models": ["tsm_r18"]},
                      "model_doctor": {"models": ["md_resnet50", "md_mobilenetv2"]},
                      "rethink_transfer": {"models": ["cbr_small", "resnet50", "dens_t1"], "n_draws": 1000}}


def _capped_changes(name: str) -> dict:
    return {**book.PAPER_CAPPED_FIT[name], **CAPPED_TEST_MODELS.get(name, {})}


def _capped_id(name: str) -> str:
    return name + "".join(f"-{k}={v}" for k, v in _capped_changes(name).items()).replace(" ", "").replace("'", "")


@pytest.mark.slow
@pytest.mark.parametrize("name", CHAPTERS, ids=_capped_id)
def test_chapter_runs_its_paper_profile_step_capped(name, smoke_book):
    """The paper profile, every training stage and evaluation capped at two steps, on synthetic data at the paper's
    image sizes, widths and frame counts; what is changed to fit this CPU machine is in the test's id."""
    out_dir = smoke_book / "runs-paper-capped"
    out = smoke_book / "paper-capped" / f"{name}.ipynb"
    t0 = time.perf_counter()
    book.execute(ROOT / "nbs" / f"{name}.ipynb", out, {"profile": "paper", "max_steps": 2, "out_dir": str(out_dir),
                                                      **_capped_changes(name)}, cwd=ROOT)
    print(f"{name}: {time.perf_counter() - t0:.1f} s in the paper profile capped at 2 steps")
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/markdown", "")) for o in outputs)
    assert "Step-capped run" in text and "not recorded as the profile's time" in text
    ledger = json.loads((out_dir / name / "claims.json").read_text())
    assert "step-capped at 2 steps" in ledger["data"]
    # A capped run's models have made two steps: only a claim that needs no trained model may come out supported.
    needs_no_training = {chapters.get(chapter).CLAIMS[i][0] for chapter, i in NO_TRAINING_NEEDED}
    supported = {c["claim"] for c in ledger["claims"] if c["verdict"] == "supported"}
    assert supported <= needs_no_training, f"{name}: a two-step model supports {supported - needs_no_training}"
    record = json.loads((out_dir / name / "cost.json").read_text())
    assert record["context"]["changed"] == _capped_changes(name)
    assert record["stages"] and all(s["flops_per_step"] > 0 and s["epochs"] >= 1 for s in record["stages"])


@pytest.mark.slow
def test_rethink_transfer_fig2_section_is_complete(smoke_book):
    out = smoke_book / "book" / "chapters" / "rethink_transfer.ipynb"
    if not out.exists():
        pytest.skip("runs after test_chapter_runs_in_smoke_profile[rethink_transfer]")
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    figures = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(figures) >= 2 and all("Plotly.newPlot" in f["data"]["text/html"] for f in figures)
    html = "\n".join(str(o.get("data", {}).get("text/html", "")) for o in outputs)
    assert "simulated scores" in html and "0.354" in html and "0.990" in html
    ledger = json.loads((smoke_book / "runs" / "rethink_transfer" / "claims.json").read_text())
    assert ledger["claims"][0]["verdict"] == "supported"


@pytest.mark.slow
def test_book_builds_with_every_chapter(smoke_book):
    for name in CHAPTERS:
        if not (smoke_book / "book" / "chapters" / f"{name}.ipynb").exists():
            book.execute(ROOT / "nbs" / f"{name}.ipynb", smoke_book / "book" / "chapters" / f"{name}.ipynb",
                         {"profile": "smoke", "out_dir": str(smoke_book / "runs")}, cwd=ROOT)
    book.execute(ROOT / "book" / "claims.ipynb", smoke_book / "book" / "chapters" / "claims.ipynb",
                 {"out_dir": str(smoke_book / "runs")}, cwd=ROOT)
    book.execute_teaching(smoke_book / "book" / "chapters", str(smoke_book / "runs"))
    book.measure_paper_cost(root=ROOT, dest=smoke_book / "book" / "chapters", out_dir=smoke_book / "runs-paper-capped",
                            run=False)  # the capped runs above made the records
    index = book.build_html(smoke_book, strict=True)
    html_dir = index.parent
    cost_page = (html_dir / "book" / "chapters" / "paper_cost.html").read_text()
    measured = [name for name in CHAPTERS if (smoke_book / "runs-paper-capped" / name / "cost.json").exists()]
    assert all(name in cost_page for name in measured) and "hours on NVIDIA A100" in cost_page
    for name in (*CHAPTERS, "claims", "teaching", "paper_cost"):
        assert (html_dir / "book" / "chapters" / f"{name}.html").exists(), name
    page = (html_dir / "book" / "chapters" / "rethink_transfer.html").read_text()
    assert "Plotly.newPlot" in page and "cdn.plot.ly" not in page
    assert (html_dir / "_static" / "plotly.min.js").exists() and 'src="../../_static/plotly.min.js' in page
    claims = (html_dir / "book" / "chapters" / "claims.html").read_text()
    assert all(name in claims for name in CHAPTERS)
    assert "not testable here" in claims and "supported" in claims
    # The teacher's page: every chapter's exercises, linked, with a measured solution time each.
    teacher = (html_dir / "book" / "chapters" / "teaching.html").read_text()
    assert "not executed yet" not in teacher and "smoke" in teacher
    for name in CHAPTERS:
        assert f'href="{name}.html#{name}-ex-1"' in teacher, name
    # A chapter page hides each solution behind a toggle under its exercise.
    chapter_page = (html_dir / "book" / "chapters" / "lv_segmentation.html").read_text()
    import re

    solutions = re.findall(r'<div class="([^"]*\bsolution\b[^"]*)"', chapter_page)
    assert len(solutions) >= 3 and all("dropdown" in classes.split() for classes in solutions), solutions
    assert chapter_page.count('class="cell tag_solution') >= 3
    # Offline: no page loads a script or stylesheet from another host; math comes from _static/mathjax.
    external = {str(p.relative_to(html_dir)): found for p in html_dir.rglob("*.html")
                if (found := external_resources(p.read_text()))}
    assert not external, external
    math_page = (html_dir / "book" / "chapters" / "model_doctor.html").read_text()  # it has formulas
    assert 'src="../../_static/mathjax/tex-mml-chtml.js' in math_page
    assert (html_dir / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()


def external_resources(html: str) -> list[str]:
    """The URLs of other hosts that ``html`` loads as a script or a stylesheet (links to read are fine)."""
    import re

    found = []
    for tag in re.findall(r"<(?:script|link)\b[^>]*>", html, flags=re.I):
        if tag.lower().startswith("<link") and not re.search(r"rel=[\"']?(?:stylesheet|preload|modulepreload)", tag):
            continue
        found += re.findall(r"(?:src|href)=[\"']?((?:https?:)?//[^\"' >]+)", tag, flags=re.I)
    return found


def test_the_external_resource_check_sees_scripts_and_stylesheets_only():
    html = ('<script src="https://cdn.example/x.js"></script><link rel="stylesheet" href="//fonts.example/f.css">'
            '<link rel="canonical" href="https://example.org/page"><a href="https://doi.org/10.1">paper</a>'
            '<script src="_static/local.js"></script>')
    assert external_resources(html) == ["https://cdn.example/x.js", "//fonts.example/f.css"]
