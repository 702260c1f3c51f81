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
# # Video4MRI: video networks vs 3D CNNs for brain MRI
#
# **Paper.** Zhang, Wang, Bian, Liu, Xu, Dou and Xiong, *Video4MRI: an empirical study on brain magnetic resonance image analytics with CNN-based video classification frameworks* {cite}`zhang2023video4mri`. There is no official code; the nearest public code is Baidu's PP-Care application in PaddleVideo.
#
# **In one paragraph.** A brain MRI volume is a stack of slices, much as a video is a stack of frames. The paper treats the slice axis as time and trains video classifiers (TSN {cite}`wang2016tsn`, TSM {cite}`lin2019tsm` and SlowFast {cite}`feichtenhofer2019slowfast`) from scratch to recognise Alzheimer's disease (ADNI, OASIS-1, OASIS-2) and Parkinson's disease (PPMI), against 3D ResNets {cite}`hara2018resnet3d`. K = 32 segments of 224x224 frames, 100 epochs, batch 4, a subject-level 7:3 split, and a bootstrap estimate of accuracy (40% of the test set resampled 100 times). It reports that the video models are 5-11% more accurate with 50-66% fewer trainable parameters, that TSM is the best trade-off, and that video-style augmentation (rotation, CutMix) helps while MixUp hurts.
#
# **What this chapter reproduces.** This chapter is a skeleton: the contract (parameters, profiles,
# sections, claims ledger) runs end to end, and each section below says plainly what it will show.
# No number on this page is a result yet.
#
# | part of the paper | status in this version |
# |---|---|
# | Table 1: the cohorts (subjects, scans, classes) computed from the loaded data | not built yet (issue #3) |
# | Table 2: seven models, bootstrap accuracy with 95% CI, time per epoch, parameters, inference time | not built yet (issue #3) |
# | Fig. 1: accuracy vs parameters; Fig. 2: the number of segments K | not built yet (issue #3) |
# | Table 3: the augmentation ablation | not built yet (issue #3) |
# | Synthetic brain cohort; ADNI, PPMI, OASIS-1/2 loaders | not built yet (issue #3) |
#
# **Time per profile** (this chapter's parameters select one):

# %%
from IPython.display import Markdown, display

from paperkit import chapters

chapter = chapters.get("video4mri")
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

chapter, S, clock = start("video4mri", dataset=dataset, data_dir=data_dir, profile=profile, models=models,
                          epochs=epochs, seed=seed, device=device, out_dir=out_dir)

# %% [markdown]
# ## Data

# %%
pending("Data", chapter.ISSUE, 'the cohort table (subjects, sessions, classes per split) computed from the loaded volumes, and sample slices')

# %% [markdown]
# ## Method

# %%
pending("Method", chapter.ISSUE, 'the seven models (TSN, TSM, SlowFast, 3D ResNets) with their parameter counts beside Table 2')

# %% [markdown]
# ## Experiments

# %%
pending("Experiments", chapter.ISSUE, 'training of each model of the profile with bootstrap accuracy, time per epoch and inference time')

# %% [markdown]
# ## Results

# %%
pending("Results", chapter.ISSUE, 'Table 2 and Table 3 beside the paper, Fig. 1 (accuracy vs parameters) and Fig. 2 (K ablation)')

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
#     - **Temporal shift.** The canonical TSM shifts 1/8 of the channels one step each way on the residual
#       branch; Baidu's PP-Care shifts 1/num_segments, which equals it only at 8 segments. paperkit will
#       follow the paper/canonical TSM, with `shift_div` as the flag.
#     - **Segments.** The paper uses K = 32; PP-Care's configs use 8 training and 16 test segments.
#     - **Loss.** PP-Care applies a sigmoid before a softmax cross-entropy with label smoothing; the paper
#       describes plain cross-entropy.

# %% [markdown]
# ## Exercises
#
# Exercises come with the experiments (issue #3): vary K, switch the slicing plane, turn off CutMix.

# %%
print(f"Chapter finished in {clock} (profile {S.profile}, dataset {S.dataset}).")
