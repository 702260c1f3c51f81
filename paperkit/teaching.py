"""Teaching with the book: the chapters' exercises and solutions, student notebooks, the teacher's page.

Every chapter ends with an ``## Exercises`` section written with sphinx-exercise's directives: an
``exercise`` block labelled ``<chapter>-ex-<n>``, then its solution between the gated directives
``solution-start <label>`` and ``solution-end`` (each in its own markdown cell, ``:class: dropdown`` so
the page hides it behind a toggle), enclosing code cells tagged :data:`SOLUTION_TAG` that compute the
answer from the run.

* :func:`exercises` reads that structure from a notebook and refuses a broken one (an exercise without
  its solution, a solution without a tagged code cell, an unclosed solution), naming the notebook.
* :func:`student_notebook` removes the solutions and every output; :func:`write_student_notebooks`
  (``python -m paperkit.teaching student --out student/``, ``make student``) writes one per chapter.
* :func:`solution_times` reads, from a chapter notebook papermill executed, how long each solution
  took (``metadata.papermill.duration``) for the teacher's page; no time is ever typed.
* :data:`CHAPTER_NOTES` is what each chapter teaches, the pitfall it shows and what a student should
  know first: the teacher's page prints it.
"""
from __future__ import annotations

import argparse
import copy
import re
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from paperkit.atomic import atomic_path

ROOT = Path(__file__).resolve().parents[1]
SOLUTION_TAG = "solution"
EXERCISES_HEADING = re.compile(r"^##\s+Exercises\s*$", re.M)
_FENCE = r"(?:`{3,}|:{3,})"
EXERCISE = re.compile(rf"^{_FENCE}\{{exercise\}}[^\n]*\n(?P<body>.*?)^{_FENCE}\s*$", re.M | re.S)
LABEL = re.compile(r"^:label:\s*(?P<label>\S+)\s*$", re.M)
SOLUTION_START = re.compile(rf"^{_FENCE}\{{solution-start\}}\s+(?P<label>\S+)", re.M)
SOLUTION_END = re.compile(rf"^{_FENCE}\{{solution-end\}}", re.M)
ANSWER_PROMPT = "# YOUR CODE HERE"
NBGRADER_SCHEMA = 3  # the cell-metadata schema of nbgrader 0.9

# What each chapter teaches: the method's idea, the pitfall it shows, what a student should know first.
CHAPTER_NOTES: dict[str, dict[str, str]] = {
    "video4mri": {
        "teaches": "Treating the slices of a 3D brain MRI as the frames of a video: temporal segment networks "
                   "(TSN) sample a few slices, the temporal shift module (TSM) lets neighbouring slices exchange "
                   "channels at no cost in parameters, SlowFast mixes two slice rates; they are compared with 3D "
                   "ResNets on accuracy, size and speed.",
        "pitfall": "Comparing architectures trained on one budget: a 3D network that has not learnt in a short run "
                   "says more about the learning rate than about the architecture; and an accuracy on a small "
                   "test set needs its bootstrap interval before any ranking is read from it.",
        "prerequisites": "2D convolutional networks (ResNet), batch normalisation, a train/test split by subject, "
                         "accuracy and AUROC.",
    },
    "model_doctor": {
        "teaches": "Diagnosing a trained CNN by aggregating gradients: which kernels of a layer each class relies "
                   "on, then treating the model by fine-tuning with a channel-wise constraint (stay on the class's "
                   "kernels) and a space-wise constraint (no evidence on the annotated background).",
        "pitfall": "Shortcut learning: a spurious background cue correlated with the label gives a good test "
                   "accuracy for the wrong reason, and a fine-tuning gain is only a treatment effect when it beats "
                   "fine-tuning without any constraint (the control).",
        "prerequisites": "Backpropagation and input gradients, convolutional feature maps, fine-tuning, "
                         "class activation or saliency maps.",
    },
    "lge_quality": {
        "teaches": "A two-stage quality-assessment pipeline for LGE MRI: a UNet selects the slices holding the left "
                   "atrium, then a ResNet judges each scan's quality, trained as a plain classifier, with an "
                   "auxiliary segmentation task, or after supervised contrastive pre-training.",
        "pitfall": "Reading an ordering of methods from a few test scans and one run: the spread over runs and a "
                   "paired bootstrap over scans decide whether the ordering is real; a slice threshold trades "
                   "the recall of the slice selection against its precision.",
        "prerequisites": "Image segmentation and Dice, binary classification metrics (precision, recall, F1, "
                         "specificity), the idea of contrastive learning.",
    },
    "lv_segmentation": {
        "teaches": "Segmenting the left ventricle with a fully convolutional network whose global-average-pooling "
                   "context branch doubles as a class activation map, compared with FCN and U-Net variants, and "
                   "scored with the challenge's contour distance (APD) and Dice.",
        "pitfall": "Pixel accuracy under class imbalance (an all-background answer scores high while Dice is zero), "
                   "and leakage by image: slices of one heart on both sides of a split inflate every score.",
        "prerequisites": "Convolutions, pooling and up-sampling, per-pixel cross-entropy, Dice, a split by patient.",
    },
    "rethink_transfer": {
        "teaches": "When ImageNet transfer learning helps a chest X-ray classifier: shallow networks trained from "
                   "scratch against deep and truncated pretrained ones, with little and with more data.",
        "pitfall": "AUROC versus AUPRC under class imbalance: with many negatives AUROC barely separates two "
                   "classifiers that differ tenfold in false positives, AUPRC does; and AUPRC has two common "
                   "definitions (trapezoid and average precision) that differ.",
        "prerequisites": "ROC and precision-recall curves, multi-label classification, transfer learning and "
                         "fine-tuning.",
    },
}


def _text(cell: Any) -> str:
    source = cell["source"]
    return "".join(source) if isinstance(source, list) else source


def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def exercises_start(nb: Any, name: str = "notebook") -> int:
    """Index of the markdown cell holding the ``## Exercises`` heading; ``ValueError`` naming ``name`` when absent."""
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "markdown" and EXERCISES_HEADING.search(_text(cell)):
            return i
    raise ValueError(f"{name}: no '## Exercises' section; a chapter notebook follows the contract's sections "
                     "(tests/test_notebooks.py SECTIONS) and ends with its exercises")


def exercises(nb: Any, name: str = "notebook", *, require_solutions: bool = True) -> list[dict]:
    """The exercises of ``nb``'s Exercises section, each with the indices of its solution's cells.

    Returns one dict per exercise, in order: ``label``, ``question`` (its text), ``cell`` (index of its
    markdown cell), ``solution`` (indices of the cells from ``solution-start`` to ``solution-end``) and
    ``code`` (the indices of the solution's code cells tagged :data:`SOLUTION_TAG`). Raises ``ValueError``
    naming ``name`` and the label for an exercise without a label or a solution, a solution that does not
    follow its exercise or is never closed, or a solution with no tagged code cell;
    ``require_solutions=False`` accepts exercises without a solution (a student notebook).
    """
    found: list[dict] = []
    open_solution: dict | None = None
    for i in range(exercises_start(nb, name), len(nb["cells"])):
        cell = nb["cells"][i]
        text = _text(cell) if cell["cell_type"] == "markdown" else ""
        if open_solution is not None:
            open_solution["solution"].append(i)
            if cell["cell_type"] == "code" and SOLUTION_TAG in _tags(cell):
                open_solution["code"].append(i)
            if SOLUTION_END.search(text):
                if not open_solution["code"]:
                    raise ValueError(f"{name}: the solution of {open_solution['label']!r} has no code cell tagged "
                                     f"{SOLUTION_TAG!r}")
                open_solution = None
            elif SOLUTION_START.search(text) or EXERCISE.search(text):
                raise ValueError(f"{name}: the solution of {open_solution['label']!r} is not closed with "
                                 "solution-end before the next exercise or solution")
            continue
        if cell["cell_type"] == "code" and SOLUTION_TAG in _tags(cell):
            raise ValueError(f"{name}: cell {i} is tagged {SOLUTION_TAG!r} outside any solution-start/solution-end")
        for match in EXERCISE.finditer(text):
            label = LABEL.search(match["body"])
            if label is None:
                raise ValueError(f"{name}: an exercise in cell {i} has no ':label:' option")
            question = LABEL.sub("", match["body"]).strip()
            found.append({"label": label["label"], "question": question, "cell": i, "solution": [], "code": []})
        start = SOLUTION_START.search(text)
        if start:
            if not found or found[-1]["solution"] or found[-1]["label"] != start["label"]:
                raise ValueError(f"{name}: solution-start {start['label']!r} in cell {i} does not follow its exercise")
            open_solution = found[-1]
            open_solution["solution"].append(i)
    if open_solution is not None:
        raise ValueError(f"{name}: the solution of {open_solution['label']!r} is never closed with solution-end")
    missing = [e["label"] for e in found if not e["solution"]]
    if missing and require_solutions:
        raise ValueError(f"{name}: exercise(s) {missing} have no solution (solution-start ... solution-end)")
    return found


def _nbgrader(grade_id: str, *, solution: bool) -> dict:
    """nbgrader's cell metadata: a read-only exercise cell, or the student's answer cell (no points)."""
    return {"grade": False, "grade_id": grade_id, "locked": not solution, "schema_version": NBGRADER_SCHEMA,
            "solution": solution, "task": False}


def student_notebook(nb: Any, name: str = "notebook") -> Any:
    """A copy of chapter notebook ``nb`` to hand out: no solution and no output.

    Each solution (its ``solution-start`` and ``solution-end`` cells and the tagged code cells between)
    is replaced by one empty answer cell; every exercise cell becomes read-only and the answer cells
    editable, with nbgrader's metadata (``grade_id`` = the exercise label). Outputs, execution counts and
    papermill's metadata are removed. Applying it to its own result changes nothing.
    """
    import nbformat

    nb = copy.deepcopy(nb)
    found = exercises(nb, name, require_solutions=False)
    drop = {i for e in found for i in e["solution"]}
    answers = {e["solution"][0]: e["label"] for e in found if e["solution"]}
    cells = []
    for i, cell in enumerate(nb["cells"]):
        if i in answers:
            label = answers[i]
            answer = nbformat.v4.new_code_cell(ANSWER_PROMPT)
            answer.metadata = {"nbgrader": _nbgrader(f"{label}-answer", solution=True)}
            answer.pop("id", None)
            cells.append(answer)
        if i in drop:
            continue
        cell.get("metadata", {}).pop("papermill", None)
        cell.get("metadata", {}).pop("execution", None)
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        cells.append(cell)
    nb["cells"] = cells
    for e in exercises(nb, name, require_solutions=False):  # the exercises keep their places; mark them read-only
        nb["cells"][e["cell"]].setdefault("metadata", {})["nbgrader"] = _nbgrader(e["label"], solution=False)
    nb["metadata"].pop("papermill", None)
    for i, cell in enumerate(nb["cells"]):  # fresh, unique cell ids (nbformat 4.5)
        cell["id"] = f"cell-{i}"
    return nb


def write_student_notebooks(out: str | Path, *, root: Path = ROOT, chapters: Sequence[str] | None = None) -> list[Path]:
    """Write ``out/<chapter>.ipynb``, :func:`student_notebook` of ``nbs/<chapter>.ipynb``, atomically."""
    import nbformat

    from paperkit.chapters import CHAPTERS

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in chapters or CHAPTERS:
        source = root / "nbs" / f"{name}.ipynb"
        if not source.exists():
            raise FileNotFoundError(f"{source}: the chapter notebook is missing; run jupytext --sync nbs/{name}.py")
        student = student_notebook(nbformat.read(source, as_version=4), source.name)
        nbformat.validate(student)
        target = out / f"{name}.ipynb"
        with atomic_path(target) as tmp:
            nbformat.write(student, str(tmp))
        written.append(target)
    return written


def solution_times(executed: str | Path, *, source: str | Path | None = None) -> pd.DataFrame:
    """How each solution of an executed chapter notebook went: one row per exercise.

    Columns ``exercise`` (its label), ``question`` (its text on one line), ``status`` (``ran``, ``error`` or
    ``not executed yet``) and ``seconds`` (papermill's ``metadata.papermill.duration`` summed over the
    solution's tagged code cells; NaN when not executed). When ``executed`` does not exist the exercises
    are read from ``source`` (the chapter's ``.ipynb`` or ``.py``) and every row says ``not executed yet``.
    """
    import jupytext

    executed = Path(executed)
    ran = executed.exists()
    path = executed if ran else (Path(source) if source is not None else None)
    if path is None or not path.exists():
        raise FileNotFoundError(f"{executed} has not been executed and no chapter source was given "
                                f"(looked for {path})")
    nb = jupytext.read(path)
    rows = []
    for e in exercises(nb, path.name):
        question = re.sub(r"\s+", " ", e["question"])
        status, seconds = "not executed yet", float("nan")
        if ran:
            cells = [nb.cells[i] for i in e["code"]]
            durations = [c.metadata.get("papermill", {}).get("duration") for c in cells]
            failed = any(o.get("output_type") == "error" for c in cells for o in c.get("outputs", []))
            if failed or any(c.metadata.get("papermill", {}).get("exception") for c in cells):
                status = "error"
            elif None in durations:
                status = "not executed yet"
            else:
                status, seconds = "ran", float(sum(durations))
        rows.append({"exercise": e["label"], "question": question, "status": status, "seconds": seconds})
    return pd.DataFrame(rows, columns=["exercise", "question", "status", "seconds"])


def executed_profile(executed: str | Path) -> str | None:
    """The ``profile`` papermill passed to an executed chapter notebook (None when absent or not recorded)."""
    import json

    path = Path(executed)
    if not path.exists():
        return None
    parameters = json.loads(path.read_text()).get("metadata", {}).get("papermill", {}).get("parameters", {})
    return parameters.get("profile")


def chapter_section(name: str, *, out_dir: str | Path, chapters_dir: str | Path, root: Path = ROOT) -> str:
    """The teacher's page section of chapter ``name`` as MyST Markdown: nothing in it is typed by hand.

    What the chapter teaches, its pitfall and prerequisites (:data:`CHAPTER_NOTES`), each profile's last
    recorded execution under ``out_dir`` (:func:`paperkit.executions.execution_table`) and the exercises
    with the time their solutions took in the executed notebook ``chapters_dir/<name>.ipynb``
    (:func:`solution_times`; "not executed yet" when it is absent).
    """
    from paperkit import chapters
    from paperkit.executions import execution_table, format_seconds

    spec = chapters.get(name).SPEC
    notes = CHAPTER_NOTES[name]
    executed = Path(chapters_dir) / f"{name}.ipynb"
    times = solution_times(executed, source=root / "nbs" / f"{name}.ipynb")
    profile = executed_profile(executed)
    rows = ["| exercise | question | solution time |", "|---|---|---|"]
    for row in times.itertuples():
        when = format_seconds(row.seconds) if row.status == "ran" else row.status
        question = row.question.replace("|", "\\|")
        rows.append(f"| {{ref}}`{row.exercise}` | {question} | {when} |")
    timed = (f"measured when the book was built, in the `{profile}` profile" if profile else
             "measured when the book is built")
    return "\n".join([
        f"**{spec.title}** ({{doc}}`the chapter <{name}>`).", "",
        f"**What it teaches.** {notes['teaches']}", "",
        f"**The pitfall it shows.** {notes['pitfall']}", "",
        f"**Prerequisites.** {notes['prerequisites']}", "",
        "**Time per profile** on the machines that executed it (the book's own record):", "",
        execution_table(out_dir, name), "",
        f"**Exercises** and the time each solution took ({timed}; solutions reuse the chapter's trained models):",
        "", *rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Teaching with the book")
    sub = parser.add_subparsers(dest="command", required=True)
    student = sub.add_parser("student", help="write each chapter's notebook without solutions and outputs")
    student.add_argument("--out", default="student", help="folder to write into (default: student/)")
    student.add_argument("--chapters", nargs="*", default=None, help="chapter names (default: all)")
    args = parser.parse_args(argv)
    for path in write_student_notebooks(args.out, chapters=args.chapters):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
