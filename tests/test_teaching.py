"""paperkit.teaching: reading exercises, student notebooks without solutions, measured solution times."""
import json
import math

import nbformat
import pytest

from paperkit import teaching
from paperkit.chapters import CHAPTERS


def _exercise(label, text="Compute something."):
    return nbformat.v4.new_markdown_cell(f":::{{exercise}}\n:label: {label}\n\n{text}\n:::")


def _solution(label, code="print(1 + 1)", duration=None, error=False):
    cell = nbformat.v4.new_code_cell(code)
    cell.metadata["tags"] = [teaching.SOLUTION_TAG]
    if duration is not None:
        cell.metadata["papermill"] = {"duration": duration, "exception": error}
        cell.outputs = [nbformat.v4.new_output("error", ename="E", evalue="x", traceback=[]) if error else
                        nbformat.v4.new_output("stream", name="stdout", text="2\n")]
        cell.execution_count = 7
    return [nbformat.v4.new_markdown_cell(f":::{{solution-start}} {label}\n:class: dropdown\n:::"), cell,
            nbformat.v4.new_markdown_cell(":::{solution-end}\n:::")]


def _notebook(*blocks, heading=True):
    cells = [nbformat.v4.new_markdown_cell("# A chapter\n\n## Parameters"), nbformat.v4.new_code_cell("x = 1")]
    cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="run output\n")]
    if heading:
        cells.append(nbformat.v4.new_markdown_cell("## Exercises\n\nTry these."))
    for block in blocks:
        cells += block if isinstance(block, list) else [block]
    cells.append(nbformat.v4.new_code_cell("print(finish(S, clock))"))
    return nbformat.v4.new_notebook(cells=cells)


def test_exercises_are_read_with_their_tagged_solution_cells():
    nb = _notebook(_exercise("c-ex-1"), _solution("c-ex-1"), _exercise("c-ex-2", "Second?"), _solution("c-ex-2"))
    found = teaching.exercises(nb, "c.ipynb")
    assert [e["label"] for e in found] == ["c-ex-1", "c-ex-2"]
    assert found[1]["question"] == "Second?"
    assert [nb.cells[i].source for e in found for i in e["code"]] == ["print(1 + 1)"] * 2


@pytest.mark.parametrize("blocks, match", [
    ([_exercise("c-ex-1")], r"c\.ipynb: exercise\(s\) \['c-ex-1'\] have no solution"),
    ([_exercise("c-ex-1"), _solution("c-ex-2")], "solution-start 'c-ex-2' in cell .* does not follow its exercise"),
    ([_exercise("c-ex-1"), _solution("c-ex-1")[:2]], "'c-ex-1' is never closed"),
    ([_exercise("c-ex-1"), _solution("c-ex-1")[:2], _exercise("c-ex-2")], "'c-ex-1' is not closed"),
    ([_exercise("c-ex-1"), [_solution("c-ex-1")[0], nbformat.v4.new_code_cell("1"), _solution("c-ex-1")[2]]],
     "has no code cell tagged 'solution'"),
    ([nbformat.v4.new_markdown_cell(":::{exercise}\nno label\n:::")], "has no ':label:' option"),
    ([_solution("c-ex-1")[1]], "tagged 'solution' outside any solution-start"),
])
def test_a_broken_exercise_section_is_refused_by_name(blocks, match):
    with pytest.raises(ValueError, match=match):
        teaching.exercises(_notebook(*blocks), "c.ipynb")


def test_a_notebook_without_the_exercises_section_is_refused():
    nb = _notebook(heading=False)
    with pytest.raises(ValueError, match=r"odd\.ipynb: no '## Exercises' section"):
        teaching.student_notebook(nb, "odd.ipynb")


def test_the_student_notebook_has_no_solution_and_no_output():
    nb = _notebook(_exercise("c-ex-1"), _solution("c-ex-1", code="secret = 42", duration=1.5),
                   _exercise("c-ex-2"), _solution("c-ex-2", code="also_secret()", duration=0.5))
    nb.metadata["papermill"] = {"parameters": {}}
    student = teaching.student_notebook(nb, "c.ipynb")
    nbformat.validate(student)
    text = json.dumps(student)
    assert "secret" not in text and "solution-start" not in text and "solution-end" not in text
    assert not [c for c in student.cells if teaching.SOLUTION_TAG in c.metadata.get("tags", [])]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in student.cells
               if c.cell_type == "code")
    assert "papermill" not in student.metadata and "run output" not in text
    # Each exercise stays, read-only, followed by one empty answer cell, in nbgrader's conventions.
    labels = [c.metadata.get("nbgrader", {}).get("grade_id") for c in student.cells]
    assert labels.count("c-ex-1") == 1 and labels.count("c-ex-1-answer") == 1
    answer = student.cells[labels.index("c-ex-1-answer")]
    assert labels.index("c-ex-1-answer") == labels.index("c-ex-1") + 1
    assert answer.source == teaching.ANSWER_PROMPT and answer.metadata["nbgrader"]["solution"] is True
    assert student.cells[labels.index("c-ex-1")].metadata["nbgrader"]["locked"] is True
    assert student.cells[-1].source == "print(finish(S, clock))"
    # The source notebook is untouched.
    assert sum(teaching.SOLUTION_TAG in c.metadata.get("tags", []) for c in nb.cells) == 2


def test_the_student_notebook_is_idempotent():
    nb = _notebook(_exercise("c-ex-1"), _solution("c-ex-1"), _exercise("c-ex-2"), _solution("c-ex-2"))
    once = teaching.student_notebook(nb, "c.ipynb")
    assert teaching.student_notebook(once, "c.ipynb") == once


def test_solution_times_come_from_papermill_metadata(tmp_path):
    nb = _notebook(_exercise("c-ex-1", "First. More text."), _solution("c-ex-1", duration=1.25),
                   _exercise("c-ex-2"), _solution("c-ex-2", duration=0.5, error=True))
    executed = tmp_path / "c.ipynb"
    nbformat.write(nb, executed)
    times = teaching.solution_times(executed)
    assert times["exercise"].tolist() == ["c-ex-1", "c-ex-2"]
    assert times["question"].iloc[0] == "First. More text."
    assert times["status"].tolist() == ["ran", "error"]
    assert times["seconds"].iloc[0] == pytest.approx(1.25)


def test_solution_times_before_any_execution_read_the_source(tmp_path):
    source = tmp_path / "c.ipynb"
    nbformat.write(_notebook(_exercise("c-ex-1"), _solution("c-ex-1")), source)
    times = teaching.solution_times(tmp_path / "missing.ipynb", source=source)
    assert times["status"].tolist() == ["not executed yet"] and math.isnan(times["seconds"].iloc[0])
    with pytest.raises(FileNotFoundError, match="missing.ipynb has not been executed"):
        teaching.solution_times(tmp_path / "missing.ipynb")


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_chapter_has_three_exercises_with_solutions(name):
    nb = nbformat.read(teaching.ROOT / "nbs" / f"{name}.ipynb", as_version=4)
    found = teaching.exercises(nb, f"{name}.ipynb")
    assert len(found) >= 3, f"{name}: {len(found)} exercises, expected at least 3"
    assert [e["label"] for e in found] == [f"{name}-ex-{n}" for n in range(1, len(found) + 1)]
    student = teaching.student_notebook(nb, name)
    assert not [c for c in student.cells if teaching.SOLUTION_TAG in c.metadata.get("tags", [])]
    assert len(teaching.exercises(student, name, require_solutions=False)) == len(found)


def test_every_chapter_has_teaching_notes():
    assert set(teaching.CHAPTER_NOTES) == set(CHAPTERS)
    assert all(set(notes) == {"teaches", "pitfall", "prerequisites"} and all(notes.values())
               for notes in teaching.CHAPTER_NOTES.values())


def test_write_student_notebooks_writes_one_per_chapter(tmp_path):
    written = teaching.write_student_notebooks(tmp_path / "student", chapters=["rethink_transfer"])
    assert [p.name for p in written] == ["rethink_transfer.ipynb"]
    nb = nbformat.read(written[0], as_version=4)
    assert "solution-start" not in json.dumps(nb)
    assert [p.name for p in (tmp_path / "student").iterdir()] == ["rethink_transfer.ipynb"]  # no temporary left
    with pytest.raises(FileNotFoundError, match="nope.ipynb"):
        teaching.write_student_notebooks(tmp_path / "student", chapters=["nope"])
