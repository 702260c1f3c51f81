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
# # An interpretable fully convolutional network for the left ventricle
#
# **Paper.** Liu, Yuan, Yang, Song and Luo, *An interpretable CNN for the segmentation of the left ventricle in cardiac MRI by real-time visualization* (CMES 2023) {cite}`liu2023lvsegmentation`. There is no official code.
#
# **In one paragraph.** The paper segments the left ventricle in short-axis cine MRI of the Sunnybrook Cardiac Data {cite}`radau2009sunnybrook` with a small fully convolutional network trained from scratch, arguing that ImageNet transfer brings many unreliable parameters and hampers explanation. The network uses global average pooling so that class activation maps explain it, and the authors monitor per-layer gradients live during training. They report a Dice coefficient of 94.48% and a pixel accuracy of 99.7%, and a model lighter than transfer-learning alternatives.
#
# **What this chapter reproduces.** This chapter is a skeleton: the contract (parameters, profiles,
# sections, claims ledger) runs end to end, and each section below says plainly what it will show.
# No number on this page is a result yet.
#
# | part of the paper | status in this version |
# |---|---|
# | Table 1: the GAP network vs FCN-8s, U-Net, UNet++ and Attention U-Net in one harness | not built yet (issue #6) |
# | Figs. 9-10: predictions vs ground truth; CAM figures | not built yet (issue #6) |
# | Challenge-style average perpendicular distance with the good-contour percentage | not built yet (issue #6) |
# | Fig. 7: why pixel accuracy misleads | not built yet (issue #6) |
# | Synthetic cine phantoms; the Sunnybrook loader with the official patient split | not built yet (issue #6) |
#
# **Time per profile** (this chapter's parameters select one):

# %%
from IPython.display import Markdown, display

from paperkit import chapters

chapter = chapters.get("lv_segmentation")
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

chapter, S, clock = start("lv_segmentation", dataset=dataset, data_dir=data_dir, profile=profile, models=models,
                          epochs=epochs, seed=seed, device=device, out_dir=out_dir)

# %% [markdown]
# ## Data

# %%
pending("Data", chapter.ISSUE, 'patients and images per split (by patient, never by image) and sample images with contours')

# %% [markdown]
# ## Method

# %%
pending("Method", chapter.ISSUE, 'the GAP network and the comparison models with their parameter counts')

# %% [markdown]
# ## Experiments

# %%
pending("Experiments", chapter.ISSUE, 'training each model with a live monitor of loss, Dice and per-layer gradient norms')

# %% [markdown]
# ## Results

# %%
pending("Results", chapter.ISSUE, 'Table 1 beside the paper, predictions, CAMs, and the pixel-accuracy trap')

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
#     - The "GPU training system with real-time visualisation" resembles NVIDIA DIGITS, whose Sunnybrook
#       example splits images, not patients, into training and validation: slices of one patient then sit
#       on both sides. paperkit always splits by patient.
#     - The challenge's own evaluation measures the distance from each automatic contour point to the manual
#       contour along the automatic contour's normal and counts a contour as good below 5 mm; many Python
#       re-implementations use a symmetric nearest-point distance instead. paperkit offers both, named.

# %% [markdown]
# ## Exercises
#
# Exercises come with the experiments (issue #6): switch the split, shrink the network, read the CAMs.

# %%
print(f"Chapter finished in {clock} (profile {S.profile}, dataset {S.dataset}).")
