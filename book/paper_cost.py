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
# # What the paper profile costs
#
# Before renting a GPU, read what each chapter's `paper` profile asks of it. `make book` executes every chapter
# once more with `-p profile paper -p max_steps 1` on its synthetic data (skip it with `python -m paperkit.book
# --skip-cost`): the paper's image sizes, widths and frame counts, with every training stage stopped after one
# optimizer step. That step is measured (`paperkit.cost`): the floating-point operations of its forward and
# backward pass (`torch.utils.flop_counter.FlopCounterMode`) and the peak memory. Each stage also knows how many
# steps its full run would make (its epochs times its steps per epoch on that data), so the table below gives the
# training steps of the whole profile, their total PFLOPs, and the hours that would take on named GPUs
# sustaining a stated share of their datasheet bf16 peak.
#
# Where the paper's batch does not fit the machine that measured (`paperkit.book.PAPER_CAPPED_FIT`), the
# run used a smaller one, and the table says so: the same items then pass in more, smaller steps, so the totals
# are still the profile's. A run that also left stages out (fewer models or sub-experiments) gives a lower
# bound, and the "totals" column says that too. Not counted: evaluation passes, data loading, early stopping
# (which can only shorten a run), and real datasets of other sizes than the synthetic ones (steps scale with
# the number of training items). Peak memory measured on a CPU is the process's peak resident set, an upper
# bound that includes the data held in memory.

# %% tags=["parameters"]
out_dir = "runs/paper-capped"   # where the step-capped paper runs saved their cost records
share = 0.4                     # the share of a GPU's bf16 peak a training run sustains

# %%
from IPython.display import HTML, display

from paperkit import cost
from paperkit.chapters import CHAPTERS

table = cost.cost_table(out_dir, share=share)
missing = [c for c in CHAPTERS if c not in set(table["chapter"])]
if missing:
    print("No cost record for: " + ", ".join(missing) + f" (looked in {out_dir}/<chapter>/cost.json; "
          "run the chapter with -p profile paper -p max_steps 1)")
shown = table.round({"PFLOPs": 2, "peak memory (MB)": 0}).round(2)
display(HTML(shown.to_html(index=False, border=0, classes="paperkit-table")))

# %% [markdown]
# The GPUs and their peaks (`paperkit/reference/hardware/gpus.csv`, from the vendors' datasheets):

# %%
display(HTML(cost.gpus().to_html(index=False, border=0, classes="paperkit-table")))

# %% [markdown]
# Each training stage as measured (one row per `fit` call of the capped runs):

# %%
stages = cost.load_stages(out_dir)
if not stages.empty:
    stages = stages.assign(**{"GFLOPs per step": stages["flops_per_step"] / 1e9})
    display(HTML(stages[["chapter", "stage", "batch_size", "GFLOPs per step", "steps_per_epoch", "epochs",
                         "total_steps", "peak_memory_mb", "device"]].round(1)
                 .to_html(index=False, border=0, classes="paperkit-table")))
