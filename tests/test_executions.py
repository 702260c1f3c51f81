"""paperkit.executions: the book's record of chapter execution times, and its header table."""
import json

import pytest

from paperkit.executions import execution_table, format_seconds, load_executions, record_execution


def test_a_record_replaces_the_same_profile_and_dataset_only(tmp_path):
    record_execution(tmp_path, "demo", profile="smoke", dataset="synthetic", seconds=41.26, machine="cpu x")
    record_execution(tmp_path, "demo", profile="classroom", dataset="synthetic", seconds=130, machine="cpu x")
    record_execution(tmp_path, "demo", profile="smoke", dataset="synthetic", seconds=39, machine="gpu y")
    records = load_executions(tmp_path, "demo")
    assert set(records) == {"smoke/synthetic", "classroom/synthetic"}
    assert records["smoke/synthetic"]["seconds"] == 39 and records["smoke/synthetic"]["machine"] == "gpu y"
    table = execution_table(tmp_path, "demo")
    assert "39 s on synthetic (gpu y," in table and "2.2 min on synthetic (cpu x," in table
    assert "| `paper` |" in table and "not executed here yet" in table


def test_a_corrupt_record_names_its_file(tmp_path):
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "executions.json").write_text("{")
    with pytest.raises(ValueError, match="executions.json: not a readable execution record"):
        execution_table(tmp_path, "demo")


def test_negative_durations_are_refused(tmp_path):
    with pytest.raises(ValueError, match="seconds=-1"):
        record_execution(tmp_path, "demo", profile="smoke", dataset="synthetic", seconds=-1)
    assert not (tmp_path / "demo" / "executions.json").exists()


@pytest.mark.parametrize("seconds, text", [(5, "5 s"), (119.4, "119 s"), (150, "2.5 min"), (9000, "2.5 h")])
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


def test_the_record_is_plain_json(tmp_path):
    path = record_execution(tmp_path, "demo", profile="paper", dataset="adni", seconds=3600)
    assert json.loads(path.read_text())["paper/adni"]["dataset"] == "adni"
