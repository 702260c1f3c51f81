import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from paperkit import plots, reference


def test_every_reference_file_loads_with_its_source():
    assert "rethink_transfer" in reference.chapters()
    for chapter in reference.chapters():
        df = reference.load(chapter)
        assert list(df.columns[:7]) == reference.COLUMNS
        assert df["source"].str.len().min() > 0 and df["dataset"].str.len().min() > 0
        assert df["value"].dtype.kind == "f"


def test_fig2_values_and_filters():
    df = reference.load("rethink_transfer", metric="AUPRC")
    assert sorted(df["value"]) == [0.354, 0.990]


def test_unknown_chapter_and_bad_file(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="no reference numbers for chapter 'nope'"):
        reference.load("nope")
    (tmp_path / "broken.csv").write_text("source,dataset,setting,metric,value,unit,note\nT1,d,s,m,abc,,\n")
    monkeypatch.setattr(reference, "_HERE", tmp_path)
    with pytest.raises(ValueError, match=r"rows \[2\] have a non-numeric value"):
        reference.load("broken")


def test_renderer_emits_html_without_plotlyjs():
    plots.setup()
    assert pio.renderers.default == plots.RENDERER
    bundle = plots.BookRenderer().to_mimebundle(go.Figure(go.Scatter(x=[1, 2], y=[3, 4])).to_dict())
    assert "application/vnd.plotly.v1+json" in bundle
    assert "Plotly.newPlot" in bundle["text/html"] and "cdn.plot.ly" not in bundle["text/html"]
    assert len(bundle["text/html"]) < 100_000  # plotly.js itself is not inlined
    assert plots.plotly_js_path().stat().st_size > 1_000_000


def test_paper_vs_run_names_both_data_sources():
    ref = reference.load("rethink_transfer")
    ours = pd.DataFrame({"setting": ["classifier A (positives within the top 12)", "extra"],
                         "metric": ["AUROC", "AUROC"], "value": [0.9981, 0.5]})
    table = plots.paper_vs_run(ref, ours, run_data="simulated, 500 draws")
    row = table[(table.metric == "AUROC") & table.setting.str.startswith("classifier A")].iloc[0]
    assert row["paper"] == "0.999" and row["this run"] == "0.998" and row["this run data"] == "simulated, 500 draws"
    assert row["paper data"].startswith("constructed example")
    extra = table[table.setting == "extra"].iloc[0]
    assert extra["paper"] == "—" and extra["this run data"] == "simulated, 500 draws"
    missing = table[(table.metric == "AUPRC")].iloc[0]
    assert missing["this run"] == "—" and missing["this run data"] == "—"
    html = plots.table_html(table, "Fig. 2 on simulated scores")
    assert "<figcaption><b>Fig. 2 on simulated scores</b>" in html
    with pytest.raises(ValueError, match="lacks columns"):
        plots.paper_vs_run(ref, ours.drop(columns="metric"), run_data="x")
