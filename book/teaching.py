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
# # Teaching with this book
#
# Every chapter runs on a laptop CPU in the `classroom` profile, on data the book generates itself, and
# ends with exercises. Each exercise has a worked solution that runs in the chapter on the same run's data
# and trained models; on the page it is hidden behind a toggle under its exercise. This page is for the
# teacher: what each chapter teaches and which pitfall it shows, what students should know first, how long
# each profile and each solution took on the machine that built the book (measured by the build, never
# typed), and how to prepare a room of laptops that have no network.
#
# **Student notebooks.** `make student` (or `python -m paperkit.teaching student --out student/`) writes
# `student/<chapter>.ipynb` for every chapter: the chapter without its solutions and without outputs, each
# exercise followed by an empty answer cell. The cells carry nbgrader's metadata (exercises read-only,
# answer cells editable), so the notebooks can also be handed out through nbgrader.

# %% tags=["parameters"]
out_dir = "runs"                # where the chapters saved their run records and execution times
chapters_dir = "book/chapters"  # the chapter notebooks the book executed

# %%
from IPython.display import Markdown, display

from paperkit.chapters import CHAPTERS
from paperkit.teaching import chapter_section, executed_profile

built = [name for name in CHAPTERS if executed_profile(f"{chapters_dir}/{name}.ipynb")]
print(f"Chapters executed for this build: {', '.join(built) or 'none yet'}.")

# %% [markdown]
# ## Preparing a classroom of laptops offline
#
# 1. **Install once, with the network.** On one machine with network access, collect every wheel the
#    book needs into one folder (torch and torchvision included, at their pinned versions):
#    `python -m pip download --dest wheels pip setuptools ".[book,test]"` from the repository root. Copy the
#    repository and the `wheels` folder to each laptop (a USB stick will do).
# 2. **One `make install` per laptop, without the network.** pip reads its options from the
#    environment, so `PIP_NO_INDEX=1 PIP_FIND_LINKS=$PWD/wheels make install` creates `.venv` from the
#    folder alone. pip also keeps what it downloaded in its cache (`PIP_CACHE_DIR`, by default
#    `~/.cache/pip`): a second install on the same laptop reuses it.
# 3. **Generate the data and run the chapters once, before class.** The synthetic data sets are written
#    under `PAPERKIT_CACHE` (by default `~/.cache/paperkit`) and every training under `runs/`; a finished run
#    is reused rather than retrained. Run `make book` (or one chapter with papermill, `-p profile classroom`)
#    on one laptop, then copy its `PAPERKIT_CACHE` folder and `runs/` to the others, or point
#    `PAPERKIT_CACHE` at a shared folder: the students' first execution then reads the data and trained models
#    instead of making them, and the solutions that retrain a model train only that one.
# 4. **Hand out** `make student`'s notebooks; the chapter pages keep the solutions behind their toggles.
#
# Nothing in the synthetic path touches the network: no download, no CDN (plotly.js and MathJax are
# served from the book's own `_static` folder).

# %% [markdown]
# ## The chapters
#
# For each chapter: what it teaches, the pitfall it shows, prerequisites, the time each profile took on
# the machines that executed it, and the exercises with the time their solutions took when this book was
# built.

# %% [markdown]
# ### Video networks for brain MRI (video4mri)

# %%
display(Markdown(chapter_section("video4mri", out_dir=out_dir, chapters_dir=chapters_dir)))

# %% [markdown]
# ### Model Doctor (model_doctor)

# %%
display(Markdown(chapter_section("model_doctor", out_dir=out_dir, chapters_dir=chapters_dir)))

# %% [markdown]
# ### LGE MRI quality assessment (lge_quality)

# %%
display(Markdown(chapter_section("lge_quality", out_dir=out_dir, chapters_dir=chapters_dir)))

# %% [markdown]
# ### Left-ventricle segmentation (lv_segmentation)

# %%
display(Markdown(chapter_section("lv_segmentation", out_dir=out_dir, chapters_dir=chapters_dir)))

# %% [markdown]
# ### Rethinking transfer learning (rethink_transfer)

# %%
display(Markdown(chapter_section("rethink_transfer", out_dir=out_dir, chapters_dir=chapters_dir)))
