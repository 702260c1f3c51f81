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
# # Model Doctor: diagnosing and treating CNN classifiers
#
# **Paper.** Feng, Hu, Wu, Yu, Song and Song (AAAI 2022), *Model Doctor: a simple gradient aggregation strategy for diagnosing and treating CNN classifiers* {cite}`feng2022modeldoctor`. Official code: github jiaconghu/model_doctor.
#
# **In one paragraph.** The paper makes two observations about trained CNN classifiers: each class depends on a sparse, specific set of convolution kernels in the deep layers (found by summing the absolute gradient of the class score with respect to each feature map over confident samples, with feature noise), and adversarial samples are isolated in feature space, so small feature noise flips them back while normal samples keep their label. From the first it builds two loss terms, a channel-wise constraint (penalise gradients on kernels unrelated to the predicted class, and on the runner-up class) and a space-wise constraint (penalise gradients on the background of coarsely annotated images), and fine-tunes trained classifiers with them, reporting +1-5% accuracy for 16 architectures on 7 datasets.
#
# **What this chapter reproduces.** This chapter is a skeleton: the contract (parameters, profiles,
# sections, claims ledger) runs end to end, and each section below says plainly what it will show.
# No number on this page is a result yet.
#
# | part of the paper | status in this version |
# |---|---|
# | Fig. 2: class-kernel correlation per layer and derivative maps | not built yet (issue #4) |
# | Fig. 3: normal vs FGSM samples under feature noise | not built yet (issue #4) |
# | Table 1: 16 classifiers, base / +channel / +space / +both | not built yet (issue #4) |
# | Fig. 6 and Tables 2-3: layer depth, annotated samples, mask expansion | not built yet (issue #4) |
# | Fig. 5: Grad-CAM before and after treatment | not built yet (issue #4) |
#
# **Time per profile** (this chapter's parameters select one):

# %%
from IPython.display import Markdown, display

from paperkit import chapters

chapter = chapters.get("model_doctor")
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

chapter, S, clock = start("model_doctor", dataset=dataset, data_dir=data_dir, profile=profile, models=models,
                          epochs=epochs, seed=seed, device=device, out_dir=out_dir)

# %% [markdown]
# ## Data

# %%
pending("Data", chapter.ISSUE, 'class counts per split and sample images with their foreground masks')

# %% [markdown]
# ## Method

# %%
pending("Method", chapter.ISSUE, 'the gradient aggregation (Eqs. 3-4), the channel- and space-wise constraints (Eqs. 5-7) and the classifiers')

# %% [markdown]
# ## Experiments

# %%
pending("Experiments", chapter.ISSUE, 'training each classifier, diagnosing it, and treating it, with run records')

# %% [markdown]
# ## Results

# %%
pending("Results", chapter.ISSUE, 'Table 1 rows beside the paper, Figs. 2, 3, 5 and 6')

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
#     The official code differs from the paper in ways paperkit will expose as flags (see the project's
#     notes on anchors):
#     - it takes the ReLU of the raw target logit's gradient, not the absolute value of the class score's;
#     - it uses the top-50 most confident training images per class, min-max normalised and thresholded at 0.2;
#     - it constrains only the last convolution layer, with the feature noise switched off;
#     - its treatment retrains from scratch instead of fine-tuning the trained model;
#     - until May 2023 its constraint losses were computed without `create_graph`, so they carried no gradient.

# %% [markdown]
# ## Exercises
#
# Exercises come with the experiments (issue #4): change the threshold, the layers treated, the mask expansion.

# %%
print(f"Chapter finished in {clock} (profile {S.profile}, dataset {S.dataset}).")
