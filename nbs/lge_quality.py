# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Two-stage quality assessment of left-atrial LGE MRI
#
# **Paper.** Sultan, Orkild, Morris, Kholmovski, Bieging, Kwan, Ranjan, DiBella and Elhabian, *Two-stage deep learning framework for quality assessment of left atrial late gadolinium enhanced MRI images* {cite}`sultan2023lgequality`. There is no official release; the first author's earlier prototype and a later work of the group are public.
#
# **In one paragraph.** Late gadolinium enhancement (LGE) MRI of the left atrium is used to quantify fibrosis, but many scans are of non-diagnostic quality. The paper first detects the left atrium with a UNet and selects the slices that contain it, then rates diagnostic quality with a ResNet-34 on those slices. Because quality labels are scarce it compares three training strategies: a plain QA network, multi-task learning (QA plus a decoder), and supervised contrastive pre-training {cite}`khosla2020supcon` (with LARS {cite}`you2017lars`) followed by fine-tuning. Contrastive pre-training is reported to improve F1 by about 4% and specificity by about 9% over multi-task learning when data are limited.
#
# **What this chapter reproduces.** This chapter is a skeleton: the contract (parameters, profiles,
# sections, claims ledger) runs end to end, and each section below says plainly what it will show.
# No number on this page is a result yet.
#
# | part of the paper | status in this version |
# |---|---|
# | Stage 1: left-atrium detection (Dice) and slice selection | not built yet (issue #5) |
# | Table 2: QA, multi-task QA and contrastive QA (precision, recall, F1, specificity) | not built yet (issue #5) |
# | Fig. 2: HiResCAM attention; Fig. 3: UMAP of the embeddings | not built yet (issue #5) |
# | Synthetic LGE volumes with graded degradations; LA 2018 challenge loaders | not built yet (issue #5) |
#
# **Time per profile** (this chapter's parameters select one):

# %%
from IPython.display import Markdown, display

from paperkit import chapters

chapter = chapters.get("lge_quality")
display(Markdown(chapter.SPEC.header()))

# %% [markdown]
# ## Parameters
#
# Every chapter takes the same parameters; papermill overrides them with `-p name value`.

# %% tags=["parameters"]
dataset = "synthetic"   # the chapter choices; "synthetic" always works offline
data_dir = None         # real dataset root; default $PAPERKIT_DATA/<dataset>
profile = "classroom"   # "smoke" (seconds, CI) | "classroom" (minutes, laptop CPU) | "paper" (paper settings, GPU)
models = None           # subset of the chapter models, None means the profile list
epochs = None           # override the profile
seed = 0
device = "auto"         # cuda when available, else cpu
out_dir = "runs"        # run records

# %%
from paperkit.chapter import pending, start
from paperkit.claims import Ledger

chapter, S, clock = start("lge_quality", dataset=dataset, data_dir=data_dir, profile=profile, models=models,
                          epochs=epochs, seed=seed, device=device, out_dir=out_dir)

# %% [markdown]
# ## Data

# %%
pending("Data", chapter.ISSUE, 'the cases and quality-score distribution per split, and sample slices with their atrium masks')

# %% [markdown]
# ## Method

# %%
pending("Method", chapter.ISSUE, 'the stage-1 UNet, the ResNet-34 QA network, the multi-task network, the SupCon loss and LARS')

# %% [markdown]
# ## Experiments

# %%
pending("Experiments", chapter.ISSUE, 'stage-1 segmentation, then each QA strategy over several runs')

# %% [markdown]
# ## Results

# %%
pending("Results", chapter.ISSUE, 'Table 2 beside the paper, HiResCAM maps, UMAP, and a limited-label curve')

# %% [markdown]
# ## Claims ledger
#
# The paper's claims, each to be checked by code against this chapter's results. Until the
# experiments exist every verdict is "not testable here".

# %%
ledger = Ledger(chapter.SPEC.name, S.data_label)
ledger.add_not_built(chapter.CLAIMS, chapter.ISSUE)
ledger.save(S.out_dir, profile=S.profile, dataset=S.dataset, seconds=round(clock.seconds, 1))
ledger.show()

# %% [markdown]
# ## Differences from the paper and from its official code
#
#
#     - No public quality scores exist for left-atrial LGE MRI: the chapter's quality labels will be
#       synthetic (degradation levels), applied to synthetic volumes or to the real LA 2018 volumes, and said so.
#     - SupCon follows the reference formulation (L2-normalised projections, temperature 0.07, positives = same
#       label excluding self); LARS is not in torch and will come from a maintained implementation.
#     - HiResCAM equals Grad-CAM at a ResNet's last stage before a GAP+FC head; the chapter will target an
#       earlier layer where the two differ.

# %% [markdown]
# ## Exercises
#
# Exercises come with the experiments (issue #5): vary the number of labelled scans, the temperature, the degradations.

# %%
print(f"Chapter finished in {clock} (profile {S.profile}, dataset {S.dataset}).")
