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
# # Two-stage quality assessment of left-atrial LGE MRI
#
# **Paper.** Sultan, Orkild, Morris, Kholmovski, Bieging, Kwan, Ranjan, DiBella and Elhabian, *Two-stage deep
# learning framework for quality assessment of left atrial late gadolinium enhanced MRI images*
# {cite}`sultan2023lgequality`. There is no official release; the first author's earlier prototype and a later
# work of the group are public.
#
# **In one paragraph.** Late gadolinium enhancement (LGE) MRI of the left atrium is used to quantify fibrosis,
# but many scans are of non-diagnostic quality. The paper first detects the left atrium with a UNet and
# selects the slices that contain it, then rates diagnostic quality with a ResNet-34 on those slices. Because
# quality labels are scarce it compares three training strategies: a plain QA network, multi-task learning (QA
# plus a decoder), and supervised contrastive pre-training {cite}`khosla2020supcon` (with LARS {cite}`you2017lars`)
# followed by fine-tuning. Contrastive pre-training is reported to improve F1 by about 4% and specificity by
# about 9% over multi-task learning when data are limited.
#
# **What this chapter reproduces.** The paper's 196 scored scans are private and no public LGE
# quality scores exist, so **every quality label in this chapter is synthetic** unless you bring
# your own scores (`dataset="la2018"`): graded degradations (blur, poor myocardial nulling, weak
# aorta/valve enhancement, noise, motion ghosting) whose levels *are* the 1-5 scores, applied to
# synthetic LGE-like volumes (default) or to real LA 2018 challenge volumes (`"la2018-degraded"`).
#
# | part of the paper | status in this version |
# |---|---|
# | Stage 1: UNet on the atrial blood pool, threshold `t`, slice selection (Dice, selection accuracy) | **built** |
# | Table 2: QA, Multi-Task QA, QA & Contrastive (precision, recall, F1, specificity, mean ± std over runs) | **built**; labels synthetic; the CPU profiles use a quarter-width ResNet-34 and fewer runs |
# | SupCon pre-training (Eqs. 4-5) with LARS, frozen encoder | **built** |
# | Fig. 2: HiResCAM of QA vs Multi-Task QA; Fig. 3: UMAP of the encoders' embeddings | **built** |
# | The limited-label motivation: performance vs number of labelled scans | **built** (not a figure of the paper) |
# | ImageNet initialisation | `pretrained=True` (the paper profile's default) requires torchvision's ResNet-34 checkpoint in the local torch cache and stops, naming where to put it, when it is missing; `pretrained=False` trains from random weights, and says so |
# | Stage 1 on its own segmentation cohort (the paper's 900 scans) | **built**: `train.list`/`test.list` of the data, or a separate cohort (`seg_data_dir`); its test-list Dice and selection accuracy are stored in its run record |
#
# **Time per profile**: shown under the parameters, from the book's own record of the last execution of
# each profile on the machine that ran it (nothing typed).

# %% [markdown]
# ## Parameters
#
# Every chapter takes the same parameters; papermill overrides them with `-p name value`. This
# chapter's own: `runs` (repetitions of every QA method; the paper's Table 2 has 5), `image_size`
# (slices are resized to it; the paper uses 128), `width` (channel multiplier of the ResNet-34;
# 1 is the paper's network), `max_slices` (at most this many of a scan's selected slices, evenly
# spaced; `None` keeps all), `label_counts` (training-set sizes, in scans, of the limited-label
# curve), `scores_csv` (your scores for `dataset="la2018"`), `pretrained` (ImageNet initial weights; the
# paper profile requires them), `seg_data_dir` (a separate stage-1 segmentation cohort, as the paper's 900
# segmented scans) and `tie_rule` (how a tied per-scan vote is broken). `None` keeps the profile's value.

# %% tags=["parameters"]
dataset = "synthetic"   # the chapter choices; "synthetic" always works offline
data_dir = None         # real dataset root; default $PAPERKIT_DATA/<dataset>
                        # ($PAPERKIT_DATA/la2018 for la2018-degraded)
profile = "classroom"   # "smoke" (seconds, CI) | "classroom" (minutes, laptop CPU) | "paper" (paper settings, GPU)
models = None           # subset of the chapter models, None means the profile list
epochs = None           # override the profile
seed = 0
device = "auto"         # cuda when available, else cpu
out_dir = "runs"        # run records
max_steps = None        # stop every training stage after this many optimizer steps (a run that only checks)
runs = None             # repetitions of every QA method, None means the profile value
image_size = None       # slice side in pixels (a multiple of 32), None means the profile value
width = None            # ResNet-34 channel multiplier (1.0 is the paper), None means the profile value
max_slices = None       # at most this many selected slices per scan, None means the profile value
label_counts = None     # labelled training scans of the limited-label curve, e.g. [8, 16]
scores_csv = None       # your quality scores for the la2018 dataset (default: scores.csv in data_dir)
pretrained = None       # True: ImageNet weights (must be cached), False: random, None means the profile value
seg_data_dir = None     # stage-1 cohort (LA 2018 layout with masks), None: the data's own masked scans
tie_rule = None         # tied scan votes: "non-diagnostic" | "diagnostic" | "mean-probability", None: profile
batch_size = None       # slices per QA training batch, None means the profile value
supcon_batch_size = None# slices per SupCon batch, None means the profile value (the paper: 512)
n_cases = None          # synthetic scans generated, None means the profile value

# %%
import warnings
from functools import partial

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from IPython.display import Markdown, display
from plotly.subplots import make_subplots

from paperkit import models as registry
from paperkit import plots, reference
from paperkit.chapters.contract import finish, start
from paperkit.chapters.lge_quality import claims, experiment, figures
from paperkit.data.datasets.la2018 import ATTRIBUTE_COLUMNS, QA_COLUMN, LGESlices, cases_table
from paperkit.ledger import Ledger
from paperkit.plots import gray, mask_outline

chapter, S, clock = start("lge_quality", dataset=dataset, data_dir=data_dir,
                          profile=profile, models=models, epochs=epochs, seed=seed, device=device, out_dir=out_dir, max_steps=max_steps,
                          runs=runs, image_size=image_size, width=width, max_slices=max_slices,
                          label_counts=label_counts, scores_csv=scores_csv, pretrained=pretrained,
                          seg_data_dir=seg_data_dir, tie_rule=tie_rule,
                          batch_size=batch_size, supcon_batch_size=supcon_batch_size, n_cases=n_cases)
METHODS = [m for m in chapter.QA_METHODS if m in S.models]
init_weights, init_note = experiment.initial_weights(S)  # stops here when ImageNet weights are required but absent
experiment.check_tie_rule(S.tie_rule)

# %% [markdown]
# ## Data
#
# Whatever the dataset, the cases are read by the LA 2018 loader: `Training Set/<case>/lgemri.nrrd`
# (the LGE volume) and `laendo.nrrd` (the atrial cavity), as the challenge ships them (the
# preprocessed HDF5 layout is read too), plus a scores CSV with the three attribute scores and
# the fibrosis-quality score, 1-5. With `dataset="synthetic"` paperkit draws each scan (body, left
# atrium with an enhanced wall, left ventricle in a nulled myocardium, aorta with an enhanced wall,
# mitral valve ring), degrades it with five graded defects and writes it in that layout; the
# defect levels are the scores (attributes: their own defect; overall: the rounded mean, capped one
# above the worst), with some observer noise. A score of 3 or more is *diagnostic* (1), as in the paper.
#
# The split is by subject and stratified by the QA label: `n_test` test scans (the paper's 20,
# capped at 20% of the subjects on small data), the rest 90:10 train/validation.

# %%
data = experiment.load_data(S)
split = data["split"]
label_source = ("your scores CSV" if S.dataset == "la2018" else
                "SYNTHETIC labels: the levels of the degradations paperkit applied")
rows = []
for name, group in split.items():
    table = cases_table(group)
    row = {"set": name, "scans": len(group), "subjects": table["subject"].nunique()}
    for col in (*ATTRIBUTE_COLUMNS, QA_COLUMN):
        row[f"{col} diagnostic (%)"] = round(100 * table[f"{col}_diagnostic"].mean(), 1)
    row[f"{QA_COLUMN} mean score"] = round(table[QA_COLUMN].mean(), 2)
    rows.append(row)
plots.show_table(pd.DataFrame(rows), f"Scans per set and share of diagnostic scores ({S.data_label})",
                 note=f"{split.summary()} Labels: {label_source}. Paper: 196 expert-scored scans, 20 test, "
                      "mostly scores 2-4.")

# %% [markdown]
# How the scores go together. The paper's Table 1 reports that the attributes correlate with the
# fibrosis-quality score among real expert scores; what the same table means here depends on where
# the scores came from, which the next lines work out from the data folder itself:

# %%
corr_table, corr_caption, corr_reading = figures.score_correlations(data["cases"], data["root"])
display(Markdown(corr_reading))
plots.show_table(corr_table, f"{corr_caption} ({S.dataset})")

# %%
picks, images, masks = figures.preview_slices(split["train"], S.image_size)
short = {"myocardium_nulling": "MN", "sharpness": "S", "enhancement_aorta_valve": "E", QA_COLUMN: "Q"}
fig = make_subplots(rows=1, cols=len(picks), horizontal_spacing=0.04,
                    subplot_titles=[figures.strip_title(c, short) for c in picks])
for col, (image, mask) in enumerate(zip(images, masks), start=1):
    fig.add_trace(gray(image), 1, col)
    fig.add_trace(mask_outline(mask, plots.COLORS[1], "atrium mask", col == 1), 1, col)
fig.update_annotations(font_size=11)
fig.update_xaxes(visible=False).update_yaxes(visible=False, autorange="reversed", scaleanchor="x")
fig.update_layout(title=f"Training scans from the worst to the best quality score ({S.dataset}, {S.image_size} px)"
                        "<br><sub>MN nulling, S sharpness, E enhancement, Q fibrosis quality (1-5)</sub>",
                  height=360, margin=dict(t=110))
fig.show()

# %% [markdown]
# ## Method
#
# **Stage 1** is MONAI's `BasicUNet` (2D) on single slices, giving a blood-pool logit per pixel;
# after a sigmoid, a slice is kept when any pixel exceeds `t`. **Stage 2** is a ResNet-34 encoder
# whose 512-d embedding feeds three attribute heads (myocardium nulling, sharpness, enhancement of
# aorta and valve); their outputs are concatenated into the QA head (Eq. 1: BCE over the four).
# *Multi-Task QA* adds a UNet decoder (MONAI's, over the encoder's five scales) segmenting the blood
# pool with a Dice loss (Eqs. 2-3). *QA & Contrastive* first trains the encoder with a projection
# head by supervised contrastive learning, one SupCon loss per binarised label summed (Eqs. 4-5),
# with LARS; the encoder is then frozen and the heads trained with Eq. 1.
#
# The CPU profiles narrow every ResNet-34 stage (`width`, keeping all 34 layers) so a classroom run
# fits in minutes; the table gives both sizes.
#
# **Initial weights.** The paper starts from ImageNet. paperkit never downloads: with `pretrained=True`
# (the paper profile's default) torchvision's ResNet-34 checkpoint must already be in the local torch
# cache, at full width, or the chapter stops at its start saying where to put it; `pretrained=False`
# (the CPU profiles' default, whose narrowed networks have no ImageNet weights) starts from random weights.

# %%
display(Markdown(f"**Initial weights of the encoders in this run:** {init_note}"))

rows = []
for name, builder, kwargs in (("unet_la", "unet_la", {"features": tuple(S.stage1_features)}),
                              ("qa_resnet34", "qa_resnet34", {}), ("multitask_qa", "multitask_qa", {}),
                              ("supcon_qa (pretraining net)", "supcon_resnet34", {})):
    full = registry.create(builder)
    row = {"model": name, "paper's name": experiment.METHODS.get(name.split()[0], "stage 1 UNet"),
           "parameters at the paper's size (M)": round(sum(p.numel() for p in full.parameters()) / 1e6, 2)}
    here = registry.create(builder, **(kwargs if builder == "unet_la" else {"width": S.width}))
    row["parameters in this run (M)"] = round(sum(p.numel() for p in here.parameters()) / 1e6, 3)
    rows.append(row)
plots.show_table(pd.DataFrame(rows), f"Models: parameters at the paper's size and in this run (width {S.width:g}, "
                                     f"UNet features {S.stage1_features})",
                 note="The paper does not print parameter counts; the UNet's widths are not given either.")

# %% [markdown]
# ## Experiments
#
# ### Stage 1: left-atrium detection
#
# As in the paper, the UNet has its own cohort and split, apart from the QA split: the paper trains
# it on 900 scans with blood-pool segmentations and then runs it over the 196 scored scans. Here the
# cohort is `seg_data_dir` when given (a separate LA 2018 folder with masks), else the scans of the
# data that have masks; its split follows the folder's `train.list`/`test.list` (as the challenge
# ships them; the synthetic generator writes them too), else a random split by subject; the QA
# test scans are held out of its training, as the paper's UNet learns from other scans. The UNet
# learns the blood pool on every slice of its training scans, those without atrium included, so
# that it also learns to find none (it never sees a quality label); it is scored on its own test
# list (stored in its run record) and then run over every slice of every QA scan.

# %%
if "unet_la" in S.models:
    cohort = experiment.stage1_cohort(S, data)
    seg_split = cohort["split"]
    seg_train = LGESlices(seg_split["train"], S.image_size, slices="all", augment=True)
    seg_val = LGESlices(seg_split["val"], S.image_size, slices="all")
    unet = experiment.train_stage1(seg_train, seg_val,
                                   data_key={**cohort["data_key"], "image_size": S.image_size, "slices": "all"},
                                   epochs=S.stage1_epochs, batch_size=S.batch_size, lr=S.lr,
                                   features=S.stage1_features, seed=S.seed, test=seg_split["test"],
                                   threshold=S.threshold, device=S.device, out_dir=S.out_dir)
    stage1, selection = experiment.stage1_report(unet.model, data["cases"], image_size=S.image_size,
                                                 threshold=S.threshold, device=S.device)
    slice_source = f"stage 1 (UNet, t = {S.threshold})"
    print(f"Stage-1 cohort: {cohort['source']}; split {seg_split.summary()}")
else:
    stage1 = None
    unmasked = [c.case_id for c in data["cases"] if not c.has_mask]
    if unmasked:
        raise ValueError(f"scans {unmasked[:5]} have no atrium mask: their slices can only come from stage 1; "
                         "add unet_la to models")
    selection = {c.case_id: np.flatnonzero(c.load()[1].any(axis=(0, 1))) for c in data["cases"]}
    slice_source = "the ground-truth atrium mask (unet_la is not in this run's models)"
selection = experiment.thin_slices(selection, S.max_slices)
print(f"QA slices come from {slice_source}; at most {S.max_slices or 'all'} per scan: "
      f"{sum(len(v) for v in selection.values())} slices over {len(selection)} scans")

# %%
if stage1 is not None:
    seg_test = experiment.load_stage1_test(unet)
    summary1 = seg_test[["dice", "selection accuracy", "selection recall", "selection precision"]]
    summary1 = summary1.agg(["mean", "std"]).T.round(3).reset_index().rename(columns={"index": "stage-1 metric"})
    qa_scored = stage1.dropna(subset=["dice"])
    summary1["on the QA scans with masks (mean)"] = [round(qa_scored[m].mean(), 3) if len(qa_scored) else None
                                                     for m in summary1["stage-1 metric"]]
    plots.show_table(summary1, f"Stage 1 on its own test list: {len(seg_test)} scans of {cohort['source']} "
                               f"({S.data_label})",
                     note=f"Dice at {S.image_size} px. Selection: a slice is kept when any pixel's probability "
                          f"exceeds t = {S.threshold}; truth = the slice's mask has atrium. Read from the stage-1 "
                          f"run record (stage1_test.csv). The last column: the {len(qa_scored)} of "
                          f"{len(stage1)} QA scans that have masks ({len(cohort['held_out'])} QA test scans of "
                          "the cohort were held out of stage-1 training, so stage 1 selects their slices unseen). "
                          "The paper reports no stage-1 numbers.")

# %% [markdown]
# ### Stage 2: the three QA strategies, `runs` times each
#
# Each network trains on the selected slices of the training scans (flip, perspective and
# shift-scale-rotate, each with probability 0.5), with Adam, cosine annealing and early stopping on
# the validation slices' MSE; the best epoch's weights are kept. Every training is a run record
# under `out_dir/lge_quality/`; a finished one is reused.

# %%
slices_of = partial(experiment.selected_slices, selection=selection, image_size=S.image_size)
qa_train, qa_val, qa_test = slices_of(split["train"], augment=True), slices_of(split["val"]), slices_of(split["test"])
qa_key = {**data["data_key"], "image_size": S.image_size, "slices": slice_source, "max_slices": S.max_slices,
          "train": [c.case_id for c in split["train"]]}
trained, rows, test_slices, test_scans = {}, [], {}, []
for r in range(S.runs):
    for method in METHODS:
        result = experiment.train_method(S, method, qa_train, qa_val, data_key=qa_key, run_index=r,
                                         weights=init_weights)
        frame, embedding = experiment.predict_slices(result.model, qa_test, device=S.device)
        scans = experiment.scan_predictions(frame, tie=S.tie_rule)
        experiment.store_test_scans(result, scans)  # the claims compare methods on these, scan by scan
        test_scans.append(scans.assign(method=method, run=r + 1))
        rows.append({"method": method, "run": r + 1, **experiment.scan_metrics(scans),
                     "epochs run": result.metrics["epochs_run"], "reused": result.reused})
        if r == 0:
            trained[method], test_slices[method] = result, (frame, embedding)
results, test_scans = pd.DataFrame(rows), pd.concat(test_scans, ignore_index=True)
print(f"{len(results)} QA trainings; {len(qa_train)} training slices of {len(split['train'])} scans, "
      f"{len(qa_test)} test slices of {len(split['test'])} scans")

# %% [markdown]
# ## Results
#
# ### Table 2: this run beside the paper
#
# Scan-level metrics (a scan's label is the mode of its slices'), diagnostic = positive, mean ±
# standard deviation over runs. The paper's numbers come from 20 expert-scored real test scans;
# this run's from the data named in the table, whose labels are synthetic unless you brought scores.
# The paper does not say how a tied vote is broken (with an even number of slices per scan, 2-2 ties
# are common); the rule is the `tie_rule` setting, stated and counted here:

# %%
n_votes = len(test_scans)
n_tied = int(test_scans["tied"].sum())
display(Markdown(f"**Tied votes.** Rule in this run: `tie_rule = '{S.tie_rule}'` — "
                 f"{experiment.TIE_RULES[S.tie_rule]}. {n_tied} of the {n_votes} scan votes of the Table 2 runs "
                 f"({100 * n_tied / n_votes:.0f}%) were tied and decided by it; each run's count is in the "
                 "'tied scans' column below."))

# %%
PAPER_NAMES = experiment.METHODS
METRIC_NAMES = {"precision": "Precision", "recall": "Recall", "f1": "F1-Score", "specificity": "Specificity"}
summary = experiment.summarise_runs(results)
by_method = summary.set_index("method")
measured = pd.DataFrame([{"setting": PAPER_NAMES[method], "metric": name,
                          "value": f"{by_method.loc[method, f'{m} mean']:.2f} ± "
                                   f"{by_method.loc[method, f'{m} std']:.2f}"}
                         for method in by_method.index for m, name in METRIC_NAMES.items()])
paper = reference.load("lge_quality", source="Table 2").set_index(["setting", "metric"])["value"]
paper_rows = reference.load("lge_quality", source="Table 2")
paper_rows = paper_rows[paper_rows.metric.isin(METRIC_NAMES.values())].copy()
paper_rows["value"] = [f"{v:.2f} ± {paper[(s, m + ' std')]:.2f}"
                       for s, m, v in zip(paper_rows.setting, paper_rows.metric, paper_rows.value)]
table = plots.paper_vs_run(paper_rows, measured,
                           run_data=f"{len(split['test'])} test scans, {S.runs} run(s); {S.data_label}")
table = table.drop(columns=["paper source"])
plots.show_table(table, f"Table 2: scan-level test performance, paper vs this run ({S.dataset}, {label_source})",
                 note="Paper: 20 real test scans with expert scores, ImageNet-initialised ResNet-34 at 128 px, 5 runs. "
                      f"This run: width {S.width:g}, {S.image_size} px, {S.epochs} epoch(s) at most, "
                      f"init: {'ImageNet' if init_weights else 'random'}. Compare the ordering, not the numbers.")

# %%
per_run = results[["method", "run", "precision", "recall", "f1", "specificity", "accuracy", "tp", "fp", "tn", "fn",
                   "tied scans", "epochs run", "reused"]].copy()
per_run["method"] = per_run["method"].map(PAPER_NAMES)
plots.show_table(per_run.round(3),
                 f"Every run: scan-level metrics and confusion counts on the test scans ({S.dataset})")

# %% [markdown]
# ### Fig. 2: where the QA and Multi-Task QA networks look (HiResCAM)
#
# HiResCAM {cite}`draelos2020hirescam` multiplies a layer's activations by the gradient of the
# score element-wise and sums over channels. At the last stage before global average pooling it
# equals Grad-CAM exactly (the gradient is then spatially constant), so the maps are taken at
# `layer3`, where the two differ (the table below shows both). The score explained is the
# evidence for the network's own prediction. The "atrium share" is the fraction of the map's mass
# inside the atrium mask (grown by 2 pixels), against the share of the image the grown mask covers.

# %%
attention = shares = None
if {"qa_resnet34", "multitask_qa"} <= set(trained):
    n_cam = min(len(qa_test), 48)
    idx = np.linspace(0, len(qa_test) - 1, n_cam).round().astype(int)
    images, masks = qa_test.images[idx], qa_test.masks[idx, 0].numpy() > 0
    attention, maps, preds = figures.attention_table(
        {m: trained[m].model for m in ("qa_resnet34", "multitask_qa")}, PAPER_NAMES, images, masks, device=S.device)
    corr4 = attention["corr(HiResCAM, Grad-CAM) layer4"]
    plots.show_table(attention.round(3), f"Where the maps fall, over {n_cam} test slices ({S.dataset}, run 1)",
                     note="layer4 feeds global average pooling, where HiResCAM and Grad-CAM are the same map up to "
                          "scale; at layer3 they differ. "
                          + (f"Measured correlation at layer4 in this run: {corr4.min():.2f} to {corr4.max():.2f}."
                             if corr4.notna().any() else "Every map of this run at layer4 is flat, so no correlation "
                                                         "is defined."))
    slice_cases = [qa_test.cases[qa_test.index[i][0]] for i in idx]
    per_method = {PAPER_NAMES[m]: figures.atrium_shares(maps[m], masks) for m in ("qa_resnet34", "multitask_qa")}
    shares = per_method["QA"].rename(columns={"atrium share": "QA"})
    shares["Multi-Task QA"] = per_method["Multi-Task QA"]["atrium share"].to_numpy()
    shares["case_id"] = [slice_cases[i].case_id for i in shares["slice"]]
    shares["true"] = [slice_cases[i].qa_label for i in shares["slice"]]
    truth_of = [qa_test.cases[qa_test.index[i][0]].qa_label for i in idx]
    show = [int(k) for k in np.linspace(0, n_cam - 1, min(3, n_cam)).round()]
    fig = make_subplots(rows=len(show), cols=3, horizontal_spacing=0.02, vertical_spacing=0.06,
                        column_titles=["slice + atrium", "QA: HiResCAM", "Multi-Task QA: HiResCAM"])
    for r, k in enumerate(show, start=1):
        fig.add_trace(gray(images[k, 0].numpy()), r, 1)
        fig.add_trace(mask_outline(masks[k], plots.COLORS[1], "atrium", r == 1), r, 1)
        for c, method in enumerate(("qa_resnet34", "multitask_qa"), start=2):
            fig.add_trace(go.Heatmap(z=maps[method][k], colorscale="Jet", zmin=0, zmax=1, showscale=False,
                                     hoverinfo="skip"), r, c)
            fig.add_trace(mask_outline(masks[k], "white", "atrium", False), r, c)
        fig.update_yaxes(title_text=f"true {truth_of[k]} | QA {preds['qa_resnet34'][k]} "
                                    f"| MT {preds['multitask_qa'][k]}",
                         row=r, col=1)
    fig.update_xaxes(visible=False).update_yaxes(showticklabels=False, autorange="reversed", scaleanchor="x")
    fig.update_layout(title=f"Fig. 2 equivalent: HiResCAM at layer3 (labels: true | predicted), {S.dataset}",
                      height=300 * len(show))
    fig.show()
else:
    print("Fig. 2 needs qa_resnet34 and multitask_qa among the models.")

# %% [markdown]
# ### Fig. 3: the encoders' embeddings (UMAP)
#
# UMAP (McInnes et al., 2018, umap-learn) of the test slices' encoder embeddings from the first
# run of each method, coloured by the scan's QA label. The silhouette score (in the original
# embedding space, cosine distance) measures what the paper's figure shows by eye: how well the
# two labels separate into clusters (1 = tight and apart, 0 = mixed). The claims ledger compares
# the contrastive encoder's silhouette with the others' over the test scans, with an interval.

# %%
import umap
from sklearn.metrics import silhouette_score

fig = make_subplots(rows=1, cols=len(test_slices), subplot_titles=[PAPER_NAMES[m] for m in test_slices],
                    horizontal_spacing=0.04)
silhouettes = {}
for col, (method, (frame, embedding)) in enumerate(test_slices.items(), start=1):
    y = frame["qa_true"].to_numpy()
    silhouettes[method] = float(silhouette_score(embedding, y, metric="cosine")) if len(set(y)) > 1 else float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # umap notes that a fixed random_state disables parallelism
        xy = umap.UMAP(n_neighbors=min(10, len(y) - 1), min_dist=0.1, random_state=S.seed).fit_transform(embedding)
    for label, color in ((0, plots.COLORS[3]), (1, plots.COLORS[0])):
        sel = y == label
        fig.add_trace(go.Scatter(x=xy[sel, 0], y=xy[sel, 1], mode="markers", marker=dict(color=color, size=6),
                                 name="diagnostic (1)" if label else "non-diagnostic (0)", legendgroup=str(label),
                                 showlegend=col == 1), 1, col)
    fig.layout.annotations[col - 1].text += f" (silhouette {silhouettes[method]:.2f})"
fig.update_xaxes(visible=False).update_yaxes(visible=False)
fig.update_layout(title=f"Fig. 3 equivalent: UMAP of the test slices' embeddings, run 1 ({S.dataset})", height=400)
fig.show()

# %% [markdown]
# ### Limited labels: performance vs the number of labelled scans
#
# The paper's motivation is scarce labels. Each method is trained again on subsets of the training
# scans (drawn by subject, both labels kept; SupCon pre-training uses only the subset, as it needs
# labels), first run only, and tested on the same test scans; the full training set is the Table 2
# run 1.

# %%
curve_rows = [{"labelled scans": len(split["train"]), "method": m, **results[(results.method == m) & (results.run == 1)]
               [["f1", "specificity"]].iloc[0].to_dict()} for m in METHODS]
curve_scans = [test_scans[test_scans.run == 1].drop(columns="run").assign(**{"labelled scans": len(split["train"])})]
for n in sorted(n for n in S.label_counts if n < len(split["train"])):
    subset = experiment.label_subset(split["train"], n, seed=S.seed)
    sub_train = slices_of(subset, augment=True)
    key = {**qa_key, "train": [c.case_id for c in subset]}
    for method in METHODS:
        result = experiment.train_method(S, method, sub_train, qa_val, data_key=key, run_index=0,
                                         weights=init_weights)
        scans = experiment.scan_predictions(experiment.predict_slices(result.model, qa_test, device=S.device)[0],
                                            tie=S.tie_rule)
        experiment.store_test_scans(result, scans)
        curve_scans.append(scans.assign(method=method, **{"labelled scans": len(subset)}))
        m = experiment.scan_metrics(scans)
        curve_rows.append({"labelled scans": len(subset), "method": method, "f1": m["f1"],
                           "specificity": m["specificity"]})
curve = pd.DataFrame(curve_rows).sort_values(["method", "labelled scans"])
curve_scans = pd.concat(curve_scans, ignore_index=True)
fig = make_subplots(rows=1, cols=2, subplot_titles=("F1", "specificity"))
for k, method in enumerate(METHODS):
    part = curve[curve.method == method]
    for c, metric in enumerate(("f1", "specificity"), start=1):
        fig.add_trace(go.Scatter(x=part["labelled scans"], y=part[metric], mode="lines+markers",
                                 name=PAPER_NAMES[method], line=dict(color=plots.COLORS[k]), legendgroup=method,
                                 showlegend=c == 1), 1, c)
fig.update_xaxes(title_text="labelled training scans")
fig.update_yaxes(range=[-0.02, 1.02])
fig.update_layout(title=f"Test F1 and specificity vs labelled scans, run 1 ({S.data_label})", height=400)
fig.show()

# %% [markdown]
# ## Claims ledger
#
# Each verdict is a function of `paperkit.chapters.lge_quality.claims`. Methods are compared on their
# per-scan test predictions (stored in each run record as `test_scans.npz`) with a paired bootstrap
# over the test scans, runs pooled: a claim is supported only when every 95% interval it needs lies
# beyond a margin of at least one test scan's worth, and not testable when an interval straddles it.

# %%
ledger = Ledger("lge_quality", S.data_label)
smoke = S.profile == "smoke"
ledger.judge(chapter.CLAIMS[0], claims.contrastive_beats_multitask(test_scans, smoke=smoke))
ledger.judge(chapter.CLAIMS[1], claims.multitask_attends_atrium(shares, smoke=smoke))
ledger.judge(chapter.CLAIMS[2], claims.contrastive_with_few_labels(curve_scans, len(split["train"]), smoke=smoke))
ledger.judge(chapter.CLAIMS[3], claims.contrastive_tighter_clusters(test_slices, smoke=smoke))
ledger.save(S.out_dir, profile=S.profile, dataset=S.dataset, seconds=round(clock.seconds, 1))
ledger.show()

# %% [markdown]
# ## Differences from the paper and from its official code
#
# - **Labels.** The paper's 196 expert-scored scans are private; no public LGE quality scores exist.
#   Here the scores are the levels of degradations paperkit applied (synthetic volumes, or real LA
#   2018 volumes for `la2018-degraded`, which assumes the source scans are themselves good). A
#   network can learn these defects; whether it learns what a radiologist scores is not tested.
# - **No official code.** The widths of the heads, the QA head's input (the three attribute
#   outputs, as the text says), the UNet's loss (BCE + Dice) and widths, the SupCon temperature
#   (0.07), projection head and views are choices, documented in `paperkit.models.lge_quality`
#   and `paperkit.chapters.lge_quality.experiment`.
# - **Stage-1 data.** The paper trains the UNet on 900 segmented scans apart from the 196 scored
#   ones. Here it has its own cohort and split too: `seg_data_dir` when given, else the data's scans
#   with masks split by their `train.list`/`test.list` (LA 2018 ships them; the synthetic generator
#   writes them), less the QA test scans (held out, counted under the stage-1 table). Whether the
#   paper's 900 scans overlap its 196 is not stated.
# - **Tied votes.** The paper's per-scan mode does not say how ties are broken; `tie_rule` sets it and
#   the page counts the ties.
# - **Initialisation.** ImageNet only when cached and at full width (see Method); otherwise random,
#   identical across the methods of a run.
# - **CPU profiles.** The classroom and smoke profiles narrow the ResNet-34 (`width`, all 34 layers kept),
#   shrink the slices and train fewer epochs and runs than the paper; this run's settings are listed below.
#   SupCon pre-training runs at a much smaller batch than the paper's in the classroom profile, so that
#   its few epochs are many optimiser steps; a small batch gives each anchor fewer negatives, which
#   weakens SupCon in its own right. The verdicts of a small run describe that run, not the paper's
#   method at full training.
# - **Validation.** "MSE error across all slices" is read as the mean squared error between the
#   QA probability and the label, which drives early stopping and picks the kept epoch.

# %%
n_test_scans = len(split["test"])
all_diagnostic = results[(results.recall == 1) & (results.specificity == 0)]
display(Markdown(
    f"**This run against the paper's settings.** Width {S.width:g} (paper 1.0), {S.image_size} px, at most "
    f"{S.max_slices or 'all'} slices per scan, {S.epochs} epoch(s) with patience {S.patience}, {S.runs} run(s) per "
    f"method; SupCon {S.supcon_epochs} epoch(s) at batch {S.supcon_batch_size}. "
    f"{n_test_scans} test scans: one scan is {100 / n_test_scans:.0f} percentage points of accuracy, so read the "
    f"standard deviations and the intervals of the ledger. In {len(all_diagnostic)} of this run's "
    f"{len(results)} QA trainings the network called every test scan diagnostic (recall 1, specificity 0), "
    "what a network that learnt little does here."))

# %% [markdown]
# ## Exercises
#
# Each exercise is followed by its solution, hidden behind a toggle on the page: it runs in this
# notebook on this run's data and models, so its numbers are this run's. The teacher's page lists how
# long each solution took when the book was built.

# %% [markdown]
# :::{exercise}
# :label: lge_quality-ex-1
#
# Is the ordering of Table 2 stable? Look at each run's F1 (raise `runs` for more of them), then resample
# the test scans with replacement: in what share of the resamples does each method come out best?
# :::

# %% [markdown]
# :::{solution-start} lge_quality-ex-1
# :class: dropdown
# :::

# %% tags=["solution"]
per_run_f1 = results.pivot(index="run", columns="method", values="f1")[METHODS].rename(columns=PAPER_NAMES)
plots.show_table(per_run_f1.round(3).reset_index(), f"Test F1 per run ({len(split['test'])} test scans, {S.dataset})")
first_run = test_scans[test_scans.run == 1].set_index("case_id")
scan_ids = first_run.index.unique().to_numpy()
rng = np.random.default_rng(S.seed)
n_resamples = 200
best = pd.Series(0.0, index=METHODS)
for _ in range(n_resamples):
    pick = rng.choice(scan_ids, len(scan_ids), replace=True)
    f1 = pd.Series({m: experiment.scan_metrics(first_run[first_run.method == m].loc[pick])["f1"] for m in METHODS})
    best[f1[f1 == f1.max()].index] += 1 / len(f1[f1 == f1.max()])  # a tie shares the win
plots.show_table(pd.DataFrame({"method": [PAPER_NAMES[m] for m in METHODS],
                               "best F1 in the resamples (%)": (100 * best / n_resamples).round(1).to_numpy()}),
                 f"Run 1, test scans resampled {n_resamples} times ({S.data_label})",
                 note="A method that is best in nearly every resample is ahead on these scans; shares spread over "
                      "the methods mean the test set cannot order them.")

# %% [markdown]
# :::{solution-end}
# :::

# %% [markdown]
# :::{exercise}
# :label: lge_quality-ex-2
#
# Does contrastive pre-training help more with fewer labels? Read the limited-labels experiment as a
# table: F1 of each method per number of labelled scans, and the gap between QA & Contrastive and the
# plain QA network. (Lower `label_counts`, e.g. `[6, 12]`, to add points.)
# :::

# %% [markdown]
# :::{solution-start} lge_quality-ex-2
# :class: dropdown
# :::

# %% tags=["solution"]
by_labels = curve.pivot(index="labelled scans", columns="method", values="f1")[METHODS]
if {"supcon_qa", "qa_resnet34"} <= set(by_labels.columns):
    by_labels["QA & Contrastive minus QA"] = by_labels["supcon_qa"] - by_labels["qa_resnet34"]
plots.show_table(by_labels.rename(columns=PAPER_NAMES).round(3).reset_index(),
                 f"Test F1 against the number of labelled training scans, run 1 ({S.data_label})",
                 note=f"Label counts of this profile: {S.label_counts or 'none (the full training set only)'}.")

# %% [markdown]
# :::{solution-end}
# :::

# %% [markdown]
# :::{exercise}
# :label: lge_quality-ex-3
#
# Change the stage-1 threshold `t` (`threshold` in the profile settings): how do the recall and the
# precision of the slice selection trade off on the test scans?
# :::

# %% [markdown]
# :::{solution-start} lge_quality-ex-3
# :class: dropdown
# :::

# %% tags=["solution"]
if stage1 is not None:
    rows = []
    for t in sorted({0.1, 0.3, S.threshold, 0.7, 0.9}):
        table_t, _ = experiment.stage1_report(unet.model, split["test"], image_size=S.image_size, threshold=t,
                                              device=S.device)
        rows.append({"t": t, **table_t[["selection recall", "selection precision", "selection accuracy"]].mean()})
    plots.show_table(pd.DataFrame(rows).round(3), f"Stage-1 slice selection on the {len(split['test'])} test scans "
                                                  f"against the threshold t ({S.data_label})",
                     note=f"This run's t = {S.threshold}. A scan where no slice passes keeps its most probable one.")
else:
    print("unet_la is not among this run's models: the slices come from the ground-truth masks.")

# %% [markdown]
# :::{solution-end}
# :::

# %% [markdown]
# ### Going further
#
# - Run `dataset="la2018-degraded"` with `PAPERKIT_DATA` set: the same defects on real anatomy.
# - Retrain stage 2 with the stage-1 threshold you chose above: does Table 2 move?
# - Set `tie_rule="mean-probability"`: how many tied scans change their call, and does the ledger move?

# %%
print(finish(S, clock))
