# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Claims overview
#
# Every chapter ends with a claims ledger: each claim of its paper, the paper's evidence, this run's
# evidence and a verdict computed by code (`supported`, `not supported`, `not testable here`). A
# comparison shows its criterion, the measured effect with its 95% paired-bootstrap interval and the
# number of test items it rests on: a verdict needs the whole interval on one side of a margin of at
# least one test item, so a single item cannot flip it. This page gathers the ledgers the chapters
# wrote when the book was built, with the data and profile each ran on. A verdict on synthetic data
# says whether the paper's mechanism shows up on data built to carry it; it is not a reproduction of
# the paper's real-data result.

# %% tags=["parameters"]
out_dir = "runs"        # where the chapters saved their run records and ledgers

# %%
from IPython.display import HTML, display

from paperkit.chapters import CHAPTERS
from paperkit.ledger import VERDICTS, ledger_html, load_ledgers, overview_rows

ledgers = load_ledgers(out_dir)
missing = [c for c in CHAPTERS if ledgers.empty or c not in set(ledgers["chapter"])]
if missing:
    print("No ledger found for: " + ", ".join(missing) + f" (looked in {out_dir}/<chapter>/claims.json)")

# %% [markdown]
# ## Verdicts per chapter

# %%
if not ledgers.empty:
    counts = (ledgers.pivot_table(index="chapter", columns="verdict", values="claim", aggfunc="count", fill_value=0)
              .reindex(columns=list(VERDICTS), fill_value=0)
              .reindex([c for c in CHAPTERS if c in set(ledgers.chapter)]))
    counts.columns.name = None
    counts["run profile"] = ledgers.groupby("chapter")["run profile"].first()
    counts["run dataset"] = ledgers.groupby("chapter")["run dataset"].first()
    counts["last execution (s)"] = ledgers.groupby("chapter")["run seconds"].first()
    counts["changed since the previous build"] = ledgers.groupby("chapter")["changed"].sum().astype(int)
    display(HTML(counts.reset_index().to_html(index=False, border=0, classes="paperkit-table")))
    print("Last execution: the seconds the chapter took when this page was built. Finished runs are reused from "
          "their run records, so a rebuild is much faster than a first run; "
          "each chapter's header gives first-run times.")

# %% [markdown]
# ## Changed since the previous build
#
# A verdict that differs from the one the previous build of the same profile and dataset wrote.

# %%
changed = ledgers[ledgers["changed"]] if not ledgers.empty else ledgers
if len(changed):
    display(HTML(ledger_html(overview_rows(changed).assign(chapter=changed["chapter"].values)[
        ["chapter", "claim", "since the previous build", "verdict", "effect [95% interval]", "n"]],
        "Verdicts that changed since the previous build")))
else:
    print("No verdict changed since the previous build of the same profile (or there was no earlier build).")

# %% [markdown]
# ## All claims

# %%
for chapter in CHAPTERS:
    rows = ledgers[ledgers.chapter == chapter] if not ledgers.empty else ledgers
    if len(rows):
        context = rows.iloc[0]
        caption = f"{chapter} — profile {context['run profile']}, dataset {context['run dataset']}"
        display(HTML(ledger_html(overview_rows(rows), caption)))
