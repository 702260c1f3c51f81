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
