"""Book build helpers: executed notebooks keep only each progress bar's last state."""
from __future__ import annotations

import nbformat

from paperkit.book import collapse_carriage_returns, collapse_progress_output


def test_carriage_returns_keep_what_a_terminal_shows():
    assert collapse_carriage_returns("a 0%\ra 50%\ra 100%\nnext\rdone\n") == "a 100%\ndone\n"
    assert collapse_carriage_returns("line\r\nplain\n") == "line\nplain\n"


def test_progress_redraws_split_across_outputs_are_merged(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    stream = lambda text, name="stderr": nbformat.v4.new_output("stream", name=name, text=text)  # noqa: E731
    figure = nbformat.v4.new_output("display_data", data={"text/plain": "fig"})
    cell.outputs = [stream("\rmodel:   0%"), figure, stream("\rmodel:  50%"),
                    stream("hello\n", name="stdout"), stream("\rmodel: 100%")]
    nb.cells.append(cell)
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    collapse_progress_output(path)
    outs = nbformat.read(str(path), as_version=4).cells[0].outputs
    assert [o.output_type for o in outs] == ["stream", "display_data", "stream"]
    assert outs[0].text == "model: 100%" and outs[2].text == "hello\n"


def test_the_build_says_what_to_expect_and_ends_with_times_and_verdict_counts(tmp_path):
    from paperkit import ledger
    from paperkit.book import expected_time, summary_table
    from paperkit.executions import record_execution

    assert expected_time(tmp_path, "demo", "classroom") == "no earlier build recorded"
    record_execution(tmp_path, "demo", profile="classroom", dataset="synthetic", seconds=150)
    assert expected_time(tmp_path, "demo", "classroom") == "last build took 2.5 min"
    assert expected_time(tmp_path, "demo", "smoke") == "no earlier build recorded"
    led = ledger.Ledger("demo", "synthetic demo data")
    led.add("A beats B", "Table 1", "-", True)
    led.add("B beats C", "Table 1", "-", True)
    led.add("C beats A", "Table 2", "-", None)
    led.save(tmp_path, profile="classroom", dataset="synthetic")
    table = summary_table({"demo": 150.0, "claims": 4.0}, tmp_path).splitlines()
    assert table[0].split() == ["notebook", "time", "supported", "not", "supported", "not", "testable", "here"]
    assert table[1].split() == ["demo", "2.5", "min", "2", "0", "1"]
    assert table[2].split() == ["claims", "4", "s", "-", "-", "-"]


def test_plumbing_cells_are_collapsed_and_the_injected_cell_removed(tmp_path):
    from paperkit.book import is_plumbing, tidy_for_reading

    assert is_plumbing("import numpy as np\nfrom x import y\nchapter, S, clock = start('a', profile=profile)")
    assert is_plumbing("glue('a', 1, display=False)\nfor k, v in d.items():\n    glue(k, v, display=False)")
    assert is_plumbing("print(finish(S, clock))")
    assert not is_plumbing("import numpy as np\ntrained = experiment.train(S)")  # a method line: read it
    assert not is_plumbing("print(results)") and not is_plumbing("") and not is_plumbing("%time x = 1")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("profile = 'smoke'", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("profile = 'paper'", metadata={"tags": ["injected-parameters"]}),
                nbformat.v4.new_code_cell("import numpy as np"),
                nbformat.v4.new_code_cell("model = train(data)"),
                nbformat.v4.new_markdown_cell("## Results")]
    path = tmp_path / "page.ipynb"
    nbformat.write(nb, path)
    tidy_for_reading(path)
    cells = nbformat.read(path, as_version=4).cells
    assert [c.source for c in cells] == ["profile = 'smoke'", "import numpy as np", "model = train(data)", "## Results"]
    assert [c.metadata.get("tags", []) for c in cells] == [["parameters", "hide-input"], ["hide-input"], [], []]
    tidy_for_reading(path, hide_all_code=True)  # idempotent, and the claims page hides all its code
    cells = nbformat.read(path, as_version=4).cells
    assert [c.metadata.get("tags", []) for c in cells[:3]] == [["parameters", "hide-input"], ["hide-input"],
                                                               ["hide-input"]]
