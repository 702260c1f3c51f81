"""Build the book: execute every chapter with papermill, then render the HTML with Jupyter Book.

``python -m paperkit.book --profile classroom`` is what ``make book`` runs. Chapters are
executed from ``nbs/<name>.ipynb`` into ``book/chapters/<name>.ipynb`` (the executed copies
the table of contents points at; they are build products, not sources), then the claims
overview page gathers every chapter's ledger and the teacher's page reads each chapter's
execution times and its solutions' measured times, then ``jupyter-book build`` renders the tree
with execution off. plotly.js is copied from the installed plotly package into
``book/_static`` so figures render with no CDN.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .atomic import atomic_path
from .chapters import CHAPTERS
from .executions import format_seconds, load_executions
from .ledger import NOT_SUPPORTED, NOT_TESTABLE, SUPPORTED, load_ledgers
from .plots import plotly_js_path

ROOT = Path(__file__).resolve().parents[1]


def execute(notebook: Path, output: Path, parameters: dict, *, cwd: Path, progress: str | None = None,
            hide_all_code: bool = False) -> float:
    """Execute ``notebook`` with papermill into ``output`` (atomically); return the seconds it took.

    ``progress`` is the label of a per-cell progress bar on stderr (cells done, time so far); None shows none.
    The page is tidied for reading (:func:`tidy_for_reading`); ``hide_all_code`` collapses every code cell.
    """
    import papermill

    t0 = time.perf_counter()
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.stem}.partial.ipynb")
    bar = {"desc": progress, "ncols": 100, "mininterval": 2.0, "file": sys.stderr} if progress else False
    try:
        papermill.execute_notebook(str(notebook), str(partial), parameters=parameters, cwd=str(cwd),
                                   progress_bar=bar, kernel_name="python3")
        collapse_progress_output(partial)
        tidy_for_reading(partial, hide_all_code=hide_all_code)
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)  # a failed run leaves no half-executed page behind
    return time.perf_counter() - t0


def collapse_carriage_returns(text: str) -> str:
    """What a terminal shows of ``text``: each line keeps only what follows its last carriage return.

    A progress bar redraws itself with ``\r``; Jupyter does the same live, but the stored output
    keeps every redraw, which a rendered page would show as hundreds of lines.
    """
    return "\n".join(line.rsplit("\r", 1)[-1] if "\r" in line.rstrip("\r") else line.rstrip("\r")
                     for line in text.split("\n"))


def collapse_progress_output(path: Path) -> None:
    """Rewrite an executed notebook so each progress bar keeps only its last state.

    A cell's stream outputs of one name (stdout, stderr) are merged into the first of them (the
    kernel sends a bar's redraws as separate messages, interleaved with figures that update in
    place), then :func:`collapse_carriage_returns` is applied.
    """
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        merged, first = [], {}
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") in first:
                first[out["name"]]["text"] += out["text"]
                continue
            if out.get("output_type") == "stream":
                first[out["name"]] = out
            merged.append(out)
        for out in merged:
            if out.get("output_type") == "stream" and "\r" in out.get("text", ""):
                out["text"] = collapse_carriage_returns(out["text"])
        if "outputs" in cell:
            cell["outputs"] = merged
    nbformat.write(nb, str(path))


_PLUMBING_CALLS = {"glue", "start", "finish", "print"}


def is_plumbing(source: str) -> bool:
    """True for a cell a reader need not see: imports, ``glue`` of values, ``start``/``finish`` of the run.

    Every top-level statement must be an import, or a call (possibly assigned, possibly in a loop)
    of ``glue``, ``start`` or ``print(finish(...))``; any other statement makes it a cell to read.
    """
    import ast

    def plumbing(node) -> bool:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            return True
        if isinstance(node, ast.For):
            return all(plumbing(n) for n in node.body) and not node.orelse
        if isinstance(node, (ast.Expr, ast.Assign)) and isinstance(node.value, ast.Call):
            name = getattr(node.value.func, "id", "")
            if name == "print":
                args = node.value.args
                return len(args) == 1 and isinstance(args[0], ast.Call) and getattr(args[0].func, "id", "") == "finish"
            return name in _PLUMBING_CALLS
        return False

    try:
        body = ast.parse(source).body
    except SyntaxError:  # magics: not ours to judge
        return False
    return bool(body) and all(plumbing(node) for node in body)


def tidy_for_reading(path: Path, *, hide_all_code: bool = False) -> None:
    """Rewrite an executed notebook so a reader sees the story first.

    papermill's injected-parameters cell is removed (``start`` prints the settings the run used);
    the parameters cell and plumbing cells (:func:`is_plumbing`) get the ``hide-input`` tag, so
    their code is one click away and their output stays visible; with ``hide_all_code`` every
    code cell does (a page whose code is bookkeeping, such as the claims overview).
    """
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    nb.cells = [c for c in nb.cells if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tags = cell.metadata.setdefault("tags", [])
        hide = hide_all_code or "parameters" in tags or is_plumbing(cell.source)
        if hide and "hide-input" not in tags:
            tags.append("hide-input")
    nbformat.write(nb, str(path))


def execute_chapters(profile: str, *, root: Path = ROOT, dest: Path | None = None, out_dir: Path | None = None,
                     chapters: tuple[str, ...] = CHAPTERS, extra: dict | None = None) -> dict[str, float]:
    """Execute each chapter, then the claims overview and the teacher's page; return the seconds per notebook.

    Each chapter shows a per-cell progress bar, after a line with the time its last execution of
    this profile took (the record under ``out_dir``), so a long build says where it is.
    """
    dest = dest or root / "book" / "chapters"
    # Relative to the notebooks' working directory (root), so the page shows no machine path.
    out_dir = os.path.relpath((out_dir or root / "runs").resolve(), root)
    dest.mkdir(parents=True, exist_ok=True)
    times = {}
    dataset = (extra or {}).get("dataset", "synthetic")
    for i, name in enumerate(chapters, 1):
        last = expected_time(root / out_dir, name, profile, dataset)
        print(f"[book] {i}/{len(chapters)} {name} ({profile} profile): {last}", flush=True)
        times[name] = execute(root / "nbs" / f"{name}.ipynb", dest / f"{name}.ipynb",
                              {"profile": profile, "out_dir": out_dir, **(extra or {})}, cwd=root, progress=name)
        print(f"[book] {name}: {format_seconds(times[name])}", flush=True)
    times["claims"] = execute(root / "book" / "claims.ipynb", dest / "claims.ipynb", {"out_dir": out_dir}, cwd=root,
                              hide_all_code=True)
    times["teaching"] = execute_teaching(dest, out_dir, root=root)
    return times


# What the step-capped paper runs of the cost page change from the paper profile so that they run on a 2-core,
# 24 GB CPU in minutes per chapter. Image sizes, widths, frame counts and the models are never changed. A smaller
# batch keeps the profile's total FLOPs (the same items in more, smaller steps); fewer repeats or sub-experiments
# leave stages out, and the cost page marks those totals as a lower bound (paperkit.cost.totals_complete).
# Measured here: lge_quality's 512-slice SupCon step fits (13 GB peak) but takes minutes; stage 1's selection pass
# over every scan is what makes lge_quality's 196 synthetic scans slow. The paper profile's ImageNet starts
# (lge_quality, rethink_transfer) need weight files this offline machine does not hold, so those runs start from
# random or substitute weights, which cost the same per step.
PAPER_CAPPED_FIT: dict[str, dict] = {
    "video4mri": {"batch_size": 1, "k_values": [64], "ablation_models": ["tsm_r50"], "augmentations": ["rotate+mix"]},
    "lge_quality": {"supcon_batch_size": 128, "runs": 1, "label_counts": [20], "n_cases": 20, "pretrained": False},
    "lv_segmentation": {},
    "model_doctor": {"repeats": 1, "depths": [1.0], "annotated_counts": [10], "expansions": [0.0],
                     "channel_weights": []},
    "rethink_transfer": {"batch_size": 16, "fractions": [1.0], "repeats": 1, "n_patients": 400,
                         "tl_weights": "substitute", "source_images": 256},
}


def measure_paper_cost(*, root: Path = ROOT, dest: Path | None = None, out_dir: Path | None = None,
                       chapters: tuple[str, ...] = CHAPTERS, max_steps: int = 1, run: bool = True) -> dict[str, float]:
    """Execute each chapter's ``paper`` profile step-capped, then the page that tabulates what it costs.

    The capped runs (with :data:`PAPER_CAPPED_FIT`'s changes) measure one optimizer step of every
    training stage at the paper's shapes (:mod:`paperkit.cost`) into ``out_dir`` (default
    ``runs/paper-capped``), where their run records are reused by the next build; their pages are
    scratch (a temporary folder), only ``book/chapters/paper_cost.ipynb`` joins the book. With
    ``run=False`` only that page is made, from the records already under ``out_dir``.
    """
    import tempfile

    dest = dest or root / "book" / "chapters"
    out_dir = os.path.relpath((out_dir or root / "runs" / "paper-capped").resolve(), root)
    times = {}
    with tempfile.TemporaryDirectory() as scratch:
        for i, name in enumerate(chapters if run else (), 1):
            print(f"[book] {i}/{len(chapters)} {name}: paper profile capped at {max_steps} step(s), measuring its cost",
                  flush=True)
            times[f"{name} (paper, capped)"] = execute(
                root / "nbs" / f"{name}.ipynb", Path(scratch) / f"{name}.ipynb",
                {"profile": "paper", "max_steps": max_steps, "out_dir": out_dir, **PAPER_CAPPED_FIT[name]}, cwd=root,
                progress=name)
    times["paper_cost"] = execute(root / "book" / "paper_cost.ipynb", dest / "paper_cost.ipynb", {"out_dir": out_dir},
                                  cwd=root, hide_all_code=True)
    return times


def execute_teaching(dest: Path, out_dir: str | Path, *, root: Path = ROOT) -> float:
    """Execute the teacher's page into ``dest/teaching.ipynb``; it reads the chapters executed into ``dest``."""
    chapters_dir = os.path.relpath(Path(dest).resolve(), root)
    return execute(root / "book" / "teaching.ipynb", Path(dest) / "teaching.ipynb",
                   {"out_dir": str(out_dir), "chapters_dir": chapters_dir}, cwd=root, hide_all_code=True)


def expected_time(out_dir: Path, chapter: str, profile: str, dataset: str = "synthetic") -> str:
    """'last build took 2.1 min' from the chapter's execution record, or 'no earlier build recorded'."""
    record = load_executions(out_dir, chapter).get(f"{profile}/{dataset}")
    return f"last build took {format_seconds(record['seconds'])}" if record else "no earlier build recorded"


def summary_table(times: dict[str, float], out_dir: Path) -> str:
    """Plain-text table for the end of a build: each chapter's time and its ledger's verdict counts."""
    ledgers = load_ledgers(out_dir)
    verdicts = [SUPPORTED, NOT_SUPPORTED, NOT_TESTABLE]
    rows = [["notebook", "time", *verdicts]]
    for name, seconds in times.items():
        mine = ledgers[ledgers["chapter"] == name] if len(ledgers) else ledgers
        counts = [str(int((mine["verdict"] == v).sum())) if len(mine) else "-" for v in verdicts]
        rows.append([name, format_seconds(seconds), *counts])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


# What MathJax's tex-mml-chtml component loads from beside itself: its fonts, the TeX extensions it
# can autoload, and the menu's accessibility and UI parts.
MATHJAX_PARTS = ("tex-mml-chtml.js", "output/chtml/fonts/woff-v2", "input/tex/extensions", "a11y", "ui")


def mathjax_dir() -> Path:
    """MathJax 3's ``es5`` folder as the ``django-static-mathjax`` wheel installs it (the book extra)."""
    import importlib.util

    spec = importlib.util.find_spec("mathjax")
    folder = Path(spec.origin).parent / "static" / "mathjax" / "es5" if spec and spec.origin else None
    if folder is None or not (folder / "tex-mml-chtml.js").exists():
        raise FileNotFoundError("MathJax 3 not found: install the book extra (pip install -e '.[book]'), which "
                                "ships it in the django-static-mathjax wheel, so math renders without a network")
    return folder


def prepare_static(root: Path = ROOT) -> Path:
    """Copy plotly.min.js and MathJax 3 from the installed packages into ``book/_static`` (no CDN at all)."""
    static = root / "book" / "_static"
    target = static / "plotly.min.js"
    target.parent.mkdir(parents=True, exist_ok=True)
    source = plotly_js_path()
    if not target.exists() or target.stat().st_size != source.stat().st_size:
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)
    mathjax = static / "mathjax"
    if not (mathjax / MATHJAX_PARTS[0]).exists():
        _copy_mathjax(mathjax_dir(), mathjax)
    return target


def _copy_mathjax(source: Path, target: Path) -> None:
    """Copy :data:`MATHJAX_PARTS` into ``target`` through a temporary sibling, renamed when complete."""
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for part in MATHJAX_PARTS:
            src, dst = source / part, tmp / part
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(src, dst) if src.is_dir() else shutil.copyfile(src, dst)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def build_html(root: Path = ROOT, *, strict: bool = True) -> Path:
    """Run ``jupyter-book build`` on ``root`` (warnings are errors when ``strict``); return index.html."""
    prepare_static(root)
    cmd = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(root), "--builder", "html"]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    subprocess.run(cmd, check=True, env={**os.environ, "PYDEVD_DISABLE_FILE_VALIDATION": "1"})
    index = root / "_build" / "html" / "index.html"
    if not index.exists():
        raise RuntimeError(f"jupyter-book finished but {index} was not written")
    return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="classroom", choices=["smoke", "classroom", "paper"])
    parser.add_argument("--skip-execute", action="store_true", help="render the notebooks already in book/chapters")
    parser.add_argument("--skip-cost", action="store_true",
                        help="do not run every chapter's paper profile capped at one step for the cost page "
                             "(it then shows the records already under runs/paper-capped)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    if not args.skip_execute:
        times = execute_chapters(args.profile)
        times.update(measure_paper_cost(run=not args.skip_cost))
        print("[book] chapters executed:\n" + summary_table(times, ROOT / "runs"), flush=True)
    index = build_html()
    print(f"[book] built in {time.perf_counter() - t0:.0f} s. Open file://{index}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
