"""paperkit.ledger: the interval rule, comparisons on paired differences, rows and the previous build's verdicts."""
import json

import pytest

from paperkit.ledger import (
    NOT_SUPPORTED,
    NOT_TESTABLE,
    SUPPORTED,
    Ledger,
    Verdict,
    compare,
    judge_interval,
    load_ledgers,
)
from paperkit.metrics.paired import Difference


@pytest.mark.parametrize("low, high, expected", [
    (0.03, 0.10, True),     # clears +margin
    (0.02, 0.10, True),     # touches it
    (0.01, 0.10, None),     # straddles +margin
    (-0.01, 0.01, None),    # a tie
    (-0.10, -0.02, False),  # clears -margin the other way
    (-0.10, -0.01, None),
])
def test_judge_interval(low, high, expected):
    assert judge_interval(low, high, supported_above=0.02, refuted_below=-0.02) is expected


def test_judge_interval_refuses_reversed_input():
    with pytest.raises(ValueError, match="reversed"):
        judge_interval(0.2, 0.1, supported_above=0.0, refuted_below=0.0)
    with pytest.raises(ValueError, match="exceeds"):
        judge_interval(0.0, 0.1, supported_above=0.0, refuted_below=0.1)


def _diff(effect, low, high, n=50):
    return Difference("accuracy", "tsm", "r3d", effect, low, high, n, 2000, 0.95, 1 / n)


def test_compare_beats_uses_at_least_one_item_as_margin():
    # 0.01 requested, but one item of 50 is 0.02: an interval starting at 0.015 is not enough
    assert compare(_diff(0.05, 0.015, 0.09), margin=0.01).holds is None
    assert compare(_diff(0.05, 0.02, 0.09), margin=0.01).holds is True
    assert compare(_diff(-0.05, -0.09, -0.02), margin=0.01).holds is False
    v = compare(_diff(0.05, 0.02, 0.09))
    assert (v.effect, v.low, v.high, v.n) == (0.05, 0.02, 0.09, 50)
    assert "+0.020" in v.criterion and "n=50" in v.evidence


def test_compare_matches_is_non_inferiority():
    assert compare(_diff(-0.01, -0.015, 0.03), margin=0.05, claim="matches").holds is True
    assert compare(_diff(-0.10, -0.15, -0.06), margin=0.05, claim="matches").holds is False
    assert compare(_diff(-0.05, -0.12, 0.01), margin=0.05, claim="matches").holds is None
    with pytest.raises(ValueError, match="claim='equals'"):
        compare(_diff(0, 0, 0), claim="equals")


def test_verdict_unpacks_like_the_old_tuple_and_fills_a_row():
    holds, evidence = Verdict(False, "worse")
    assert holds is False and evidence == "worse"
    ledger = Ledger("demo", "synthetic")
    row = ledger.judge(("A beats B", "Table 2"), compare(_diff(0.05, 0.03, 0.08)))
    assert row.verdict == SUPPORTED and row.n == 50 and row.low == 0.03
    row = ledger.judge(("C", "Fig. 1"), (None, "needs more data"))
    assert row.verdict == NOT_TESTABLE and row.n is None and row.criterion == ""


def test_a_rebuild_remembers_the_previous_verdicts_of_the_same_profile(tmp_path):
    def build(holds, profile="classroom"):
        ledger = Ledger("demo", "synthetic")
        ledger.judge(("A beats B", "Table 2"), (holds, "e"))
        ledger.save(tmp_path, profile=profile, dataset="synthetic", seconds=1.0)

    build(True)
    first = load_ledgers(tmp_path)
    assert first.loc[0, "previous verdict"] == "" and not first.loc[0, "changed"]
    build(False)
    second = load_ledgers(tmp_path)
    assert second.loc[0, "previous verdict"] == SUPPORTED and second.loc[0, "verdict"] == NOT_SUPPORTED
    assert bool(second.loc[0, "changed"])
    build(True, profile="smoke")  # another profile is not a previous build of this one
    third = load_ledgers(tmp_path)
    assert third.loc[0, "previous verdict"] == "" and not third.loc[0, "changed"]
    assert json.loads((tmp_path / "demo" / "claims.json").read_text())["previous"] == {}


def test_an_unreadable_previous_ledger_is_ignored(tmp_path):
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "claims.json").write_text("{not json")
    ledger = Ledger("demo", "synthetic")
    ledger.judge(("A", "B"), (True, "e"))
    ledger.save(tmp_path, profile="smoke", dataset="synthetic")
    assert load_ledgers(tmp_path).loc[0, "previous verdict"] == ""
    assert load_ledgers(tmp_path).loc[0, "effect"] is None  # not a comparison: no effect


def test_the_overview_shows_effect_interval_n_and_what_changed(tmp_path):
    from paperkit.ledger import overview_rows

    for holds in (True, False):
        ledger = Ledger("demo", "synthetic")
        difference = _diff(0.05, 0.02, 0.09) if holds else _diff(-0.05, -0.09, -0.02)
        ledger.judge(("A beats B", "Table 2"), compare(difference))
        ledger.judge(("C", "Fig. 1"), (None, "needs more data"))
        ledger.save(tmp_path, profile="classroom", dataset="synthetic")
    table = overview_rows(load_ledgers(tmp_path))
    first, second = table.iloc[0], table.iloc[1]
    assert first["effect [95% interval]"] == "-0.050 [-0.090, -0.020]" and first["n"] == "50"
    assert first["since the previous build"] == "changed (was supported)" and first["verdict"] == NOT_SUPPORTED
    assert second["effect [95% interval]"] == "—" and second["n"] == "—"
    assert second["since the previous build"] == "same"
    assert list(overview_rows(load_ledgers(tmp_path / "none")).columns)[:4] == ["claim", "verdict",
                                                                              "effect [95% interval]", "n"]


def test_a_chapters_ledger_table_shows_criterion_effect_and_n():
    ledger = Ledger("demo", "synthetic")
    ledger.judge(("A beats B", "Table 2"), compare(_diff(0.05, 0.02, 0.09)))
    ledger.judge(("C", "Fig. 1"), (None, "needs more data"))
    table = ledger.table()
    assert list(table.columns) == ["claim", "verdict", "effect [95% interval]", "n", "paper_evidence",
                                   "our_evidence", "criterion", "data"]
    assert table.iloc[0]["effect [95% interval]"] == "+0.050 [+0.020, +0.090]" and table.iloc[1]["n"] == "—"
