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
# # Video networks vs 3D CNNs for brain MRI
#
# **Paper.** Zhang et al., *Video4MRI: an empirical study on brain magnetic resonance image analytics with
# CNN-based video classification frameworks* (2023) {cite}`zhang2023video4mri`. No official code; the nearest
# public code is Baidu's PP-Care application of PaddleVideo.
#
# **In one paragraph.** A brain MRI volume is a stack of slices, and a video is a stack of frames. The paper
# treats slices as frames and trains video classifiers, TSN, TSM (TSN plus a temporal shift of feature
# channels between neighbouring frames) and SlowFast, from scratch on four small cohorts, ADNI, PPMI, OASIS-1
# and OASIS-2, and compares them with 3D ResNets under one recipe. Its conclusions: the video models are more
# accurate (Table 2), TSM is the best trade-off of accuracy and cost, and video-style augmentation (rotation,
# CutMix) helps while MixUp hurts (Table 3).
#
# **What this chapter reproduces.**
#
# | part of the paper | status in this version |
# |---|---|
# | The seven models (TSN/TSM on ResNet-18/50, SlowFast-R50, 3D ResNet-18/50) with Table 2's parameter counts | **built**, counts checked against Table 2 |
# | Table 1 from the loaded data; ADNI/PPMI (LONI IDA), OASIS-1/-2 loaders; subject-level 7:3 split | **built** |
# | Table 2: bootstrap accuracy and CI, training time per epoch, parameters, inference time | **built**; the classroom profile trains four models, small frames, few epochs |
# | Fig. 1 accuracy vs parameters; Fig. 2 the K ablation; Table 3 the augmentation ablation | **built**; classroom on TSM-Res18 instead of TSM/TSN-Res50 |
# | The paper's full Tables 2 and 3 (four datasets, two for Table 3) from the run records of many executions | **built**: each cell says which execution made it and on which data |
# | The paper's one-number "95% CI": what it can be under its protocol, beside ours | **built**, computed from the protocol |
# | The paper's inputs: raw images, no intensity scaling, plain resize | **built** as settings (`normalize`, `keep_aspect`, `loader_options`); the paper profile uses the paper's |
# | On real 3D scans: all seven models on AdrenalMNIST3D (MedMNIST) | **built**, runs when the data is present |
#
# **Time per profile**: shown under the parameters, from the book's own record of the last execution of
# each profile on the machine that ran it (nothing typed).

# %% [markdown]
# ## Parameters
#
# Every chapter takes the same parameters; papermill overrides them with `-p name value`. This
# chapter's own: `segments` (K, the frames sampled per volume), `frame_size` (pixels per side), `view`
# (`"sagittal"`, `"axial"` or `"coronal"`; `None` = the paper's plane for the dataset), the frames'
# preprocessing (`normalize`: `"none"` feeds the stored intensities as the paper does, `"minmax"` or
# `"zscore"` scale each volume; `keep_aspect`: `True` pads the short side, `False` resizes each slice to the
# square frame), `loader_options` (options of the dataset's loader, e.g. `{"image": "raw"}` for OASIS-1's
# raw scans or `{"converted": "exclude"}` for OASIS-2), and for the MedMNIST data `medmnist_flag` (e.g.
# `"adrenalmnist3d"`) and `medmnist_size` (28 or 64). `None` keeps the profile's value.

# %% tags=["parameters"]
dataset = "synthetic"   # the chapter choices; "synthetic" always works offline
data_dir = None         # real dataset root; default $PAPERKIT_DATA/<dataset>
profile = "classroom"   # "smoke" (seconds, CI) | "classroom" (minutes, laptop CPU) | "paper" (paper settings, GPU)
models = None           # subset of the chapter models, None means the profile list
epochs = None           # override the profile
seed = 0
device = "auto"         # cuda when available, else cpu
out_dir = "runs"        # run records
max_steps = None        # stop every training stage after this many optimizer steps (a run that only checks)
segments = None         # K frames per volume, None means the profile value
frame_size = None       # frame side in pixels, None means the profile value
view = None             # slicing plane, None means the dataset default
medmnist_flag = None    # MedMNIST 3D set such as adrenalmnist3d, None means the profile value
medmnist_size = None    # 28 or 64, None means the profile value
normalize = None        # "none" (raw, the paper), "minmax" or "zscore"; None means the profile value
keep_aspect = None      # True pads to keep the aspect ratio, False resizes (the paper); None means the profile value
loader_options = None   # dict of loader options such as {"image": "raw"}; None means the profile value
batch_size = None       # clips per training batch, None means the profile value (the paper: 4)
k_values = None         # frame counts of the K study (Fig. 2), e.g. [8, 16]; None means the profile value
ablation_models = None  # models of the K study, None means the profile value
augmentations = None    # rows of the augmentation study (Table 3), None means the profile value

# %%
from functools import partial

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from IPython.display import Markdown, display
from myst_nb import glue

from paperkit import plots, reference
from paperkit.chapters.contract import finish, start
from paperkit.chapters.video4mri import claims, experiment, figures, tables, uncertainty
from paperkit.chapters.video4mri.experiment import PAPER_AUGMENTATION_ROWS, train_video_classifier
from paperkit.chapters.video4mri.figures import interval
from paperkit.data.brain_mri import cohort_table, exclusion_counts, table1_row
from paperkit.ledger import Ledger
from paperkit.models import count_parameters
from paperkit.models.video import PAPER_NAMES as PAPER_NAME
from paperkit.models.video import create_video_model
from paperkit.paths import data_root

chapter, S, clock = start("video4mri", dataset=dataset, data_dir=data_dir, profile=profile, models=models,
                          epochs=epochs, seed=seed, device=device, out_dir=out_dir, max_steps=max_steps, segments=segments,
                          frame_size=frame_size, view=view, medmnist_flag=medmnist_flag, medmnist_size=medmnist_size,
                          normalize=normalize, keep_aspect=keep_aspect, loader_options=loader_options,
                          batch_size=batch_size, k_values=k_values, ablation_models=ablation_models,
                          augmentations=augmentations)

# %% [markdown]
# ## Data
#
# With `dataset="synthetic"` paperkit builds a cohort on real anatomy: the MNI152 template and tissue
# maps that nilearn ships inside its package, varied per subject (pose, head size, smooth deformation,
# bias field, noise) and, for the Alzheimer-like class, atrophied (larger ventricles, thinner cortex with
# wider sulci, a smaller hippocampal region). Several sessions per subject; written as NIfTI with a table
# in the OASIS-2 layout and read back by the OASIS-2 loader. The split is **by subject**, 7:3, checked.

# %%
data = experiment.load_data(S)
class_names = data["class_names"]
if data["cohort"] is not None:
    cohort = data["cohort"]
    ours = pd.DataFrame([table1_row(cohort, f"this run: {S.dataset}")])
    plots.show_table(pd.concat([ours, figures.paper_table1()], ignore_index=True),
                     f"Table 1: subjects and images (this run: {S.data_label})",
                     note="Paper rows: Table 1 of the paper (real cohorts). "
                          "The synthetic cohort is not a reproduction of any of them.")
    plots.show_table(cohort_table(cohort).round(1).reset_index(), f"Cohort by class ({S.dataset})")
    excluded = exclusion_counts(cohort)
    if excluded:
        print("Left out by the loader:", ", ".join(f"{n} x {reason}" for reason, n in excluded.items()))
    print(f"Loader ({cohort.dataset}) options used:",
          ", ".join(f"{k}={v!r}" for k, v in data["loader_options"].items()),
          "| frames:", ", ".join(f"{k}={v!r}" for k, v in data["preprocessing"].items()))
    split_rows = [{"set": name, "subjects": len(set(part.subjects)), "scans": len(part),
                   **{f"scans {c}": sum(r.label == i for r in part) for i, c in enumerate(class_names)}}
                  for name, part in data["parts"].items()]
else:
    split_rows = [{"set": name, "volumes": len(y), **{f"class {c}": int((y == int(c)).sum()) for c in class_names}}
                  for name, y in data["parts"].items()]
plots.show_table(pd.DataFrame(split_rows), f"The 7:3 split by subject ({S.dataset}; no subject on both sides, checked)")

# %%
train_frames, test_frames = data["frames"](S.segments)
labels = np.array(test_frames.labels)
picks = [int(np.flatnonzero(labels == c)[0]) for c in np.unique(labels)][:2]
clips = np.stack([test_frames[i][0][0].numpy() for i in picks])  # (classes, K, H, W)
grid = clips[:, np.linspace(0, S.segments - 1, min(S.segments, 6)).round().astype(int)]
fig = px.imshow(grid.reshape(-1, *grid.shape[2:]), facet_col=0, facet_col_wrap=grid.shape[1],
                color_continuous_scale="gray", binary_string=True)
for k, ann in enumerate(fig.layout.annotations):
    ann.text = f"{class_names[labels[picks[k // grid.shape[1]]]]}, frame {k % grid.shape[1] + 1}"
fig.update_xaxes(visible=False).update_yaxes(visible=False)
fig.update_layout(title=f"Test frames (middle of each of K={S.segments} segments, {data['view']}) "
                        f"of one volume per class ({S.dataset})",
                  height=200 + 170 * len(picks))
fig.show()

# %% [markdown]
# ## Method
#
# **TSN** runs a 2D ResNet on each of the K frames and averages the per-frame class scores. **TSM** is TSN
# with a temporal shift on the residual branch of every block: 1/8 of the channels move one frame back,
# 1/8 one frame forward (zero-padded), which mixes neighbouring slices at no extra parameter. **SlowFast**
# reads every 8th frame in a wide slow path and all frames in a thin fast path, with lateral connections
# fusing fast into slow. **3D ResNets** (torchvision's R3D-18, MONAI's 3D ResNet-50) convolve in all three
# axes. All take one-channel volumes and are trained from scratch. The trainable parameters with a
# two-class head are counted here beside the paper's.

# %%
paper_params = reference.load("video4mri", source="Table 2", metric="params")
params_m = {name: count_parameters(create_video_model(name, num_classes=len(class_names)), trainable_only=True) / 1e6
            for name in chapter.MODELS}
measured = pd.DataFrame([{"setting": PAPER_NAME[n], "metric": "params", "value": round(v, 2)}
                         for n, v in params_m.items()])
table = plots.paper_vs_run(paper_params, measured,
                           run_data=f"counted here, {len(class_names)} classes, 1 input channel", digits=2)
plots.show_table(table, "Trainable parameters (M): Table 2 vs this implementation")
paper_count = paper_params.set_index("setting")["value"]
glue("params_gap", f"{max(abs(params_m[n] / paper_count[PAPER_NAME[n]] - 1) for n in chapter.MODELS):.1%}",
     display=False)
display(Markdown(figures.slow_path_note(S.segments) + f" (The paper: {figures.slow_path_note(32)})"))

# %% [markdown]
# ## Experiments
#
# One recipe for every model (`paperkit.chapters.video4mri.experiment`): cross-entropy, Adam, linear warm-up then one
# cosine cycle, dropout 0.4 before the final FC of every model (the 3D ResNets' included), weight decay on the
# final FC of TSN/TSM, per-volume crop/brightness/rotation
# (the classroom profile leaves the crop out, `crop_scale=None`; see the differences below) and CutMix (p 0.6)
# or MixUp (p 0.4) during the first 80% of the epochs. Training samples a random frame in each of the K
# segments; testing takes the middle one. Each run is a run record, reused when it exists.

# %%
run = partial(experiment.train_model, S, data)  # run(name, segments, augmentation, tag) -> TrainedModel
trained = {name: run(name, S.segments, S.augmentation) for name in S.models}
results = experiment.metrics_table([{"model": name, **t.metrics} for name, t in trained.items()])
predictions = {name: experiment.load_predictions(t) for name, t in trained.items()}  # per test volume, for the ledger
glue("run_lr", f"{S.lr:g}", display=False)
glue("run_preprocessing", ", ".join(f"{k}={v!r}" for k, v in experiment.frame_preprocessing(S).items()),
     display=False)
glue("run_warmup", str(S.warmup_epochs), display=False)
glue("run_epochs", str(S.epochs), display=False)
glue("run_model_lr", ", ".join(f"{m} {r:g}" for m, r in S.model_lr.items()) or "none, one rate for every model",
     display=False)
print(f"Table 2 runs: {len(results)} models, {int(results.n_train.iloc[0])} training and "
      f"{int(results.n_test.iloc[0])} test volumes, K={S.segments}, {S.frame_size} px, {S.epochs} epochs")

# %%
k_trained = {(name, k): run(name, k, S.augmentation, tag=f"K={k}") for name in S.ablation_models for k in S.k_values}
k_results = experiment.metrics_table([{"model": name, "K": k, **t.metrics} for (name, k), t in k_trained.items()])
k_predictions = {name: {k: experiment.load_predictions(t) for (m, k), t in k_trained.items() if m == name}
                 for name in S.ablation_models}
aug_trained = ({aug: run(S.augmentation_model, S.segments, aug, tag=aug) for aug in S.augmentations}
               if S.augmentation_model else {})
aug_results = experiment.metrics_table([{"augmentation": aug, **t.metrics} for aug, t in aug_trained.items()])
aug_predictions = {aug: experiment.load_predictions(t) for aug, t in aug_trained.items()}
print(f"K ablation: {len(k_results)} runs; augmentation ablation: {len(aug_results)} runs")

# %% [markdown]
# ## Results
#
# ### Table 2: every model, this run beside the paper

# %%
display(Markdown(f"Accuracy is the paper's bootstrap: {S.boot_fraction:.0%} of the test set drawn with replacement, "
                 f"{S.n_boot} times (the paper: 40%, 100 times); the mean and the 95% percentile interval. Times are "
                 "measured on this machine (the paper's on one V100); seconds per epoch include decoding the volumes "
                 "for whichever model trains first, so the cost claims are judged on models timed side by side below."))
paper2 = reference.load("video4mri", source="Table 2")
paper_acc = paper2[paper2.metric == "accuracy"].pivot(index="setting", columns="dataset", values="value")
paper_ci = paper2[paper2.metric == "accuracy CI"].pivot(index="setting", columns="dataset", values="value")
paper_cost = paper2[paper2.metric.isin(["training time per epoch", "inference time"])].pivot(
    index="setting", columns="metric", values="value")
rows = []
for r in results.itertuples():
    p = PAPER_NAME[r.model]
    row = {"model": r.model, "this run: accuracy [95% CI]": interval(r), "this run: AUROC": round(r.auroc, 3),
           "this run: s/epoch": round(r.seconds_per_epoch, 1), "this run: inference ms": round(r.inference_ms, 1),
           "params (M)": round(r.params_m, 2)}
    key = chapter.PAPER_DATASET.get(S.dataset)
    for ds in ([key] if key else ["PPMI", "ADNI", "OASIS-1", "OASIS-2"]):
        row[f"paper: {ds} acc (CI)"] = f"{paper_acc.loc[p, ds]:.3f} ({paper_ci.loc[p, ds]:.3f})"
    row["paper: s/epoch"] = paper_cost.loc[p, "training time per epoch"]
    row["paper: inference ms"] = paper_cost.loc[p, "inference time"]
    rows.append(row)
plots.show_table(pd.DataFrame(rows), f"Table 2 (this run: {S.data_label}, {S.device.type})",
                 note="Paper columns: real cohorts, 100 epochs, K=32, 224 px, a V100. This run's columns: the data "
                      "and settings above. Compare orderings, not values.")
if note := claims.unlearnt_note(results):  # models that have not learnt in this budget
    print(note)

# %%
figures.fig1(results, chapter.MODELS, S.dataset).show()

# %% [markdown]
# ### The paper's "95% CI", read under its protocol
#
# Tables 2 and 3 print one number in parentheses after each accuracy, headed "95% CI". One number is not an
# interval: it could be the spread (SD) of the resampled accuracies, the interval's half-width or its width.
# The paper's protocol fixes the spread: a draw of 40% of a test set of $n$ items with replacement has an
# accuracy whose SD is $\sqrt{p(1-p)/m}$, $m$ the draw's size, and the test set holds about 30% of Table 1's
# images (the 7:3 split). So each printed number can be divided by that SD, and the protocol can be run
# many times to see what an SD, a half-width or a width comes out as with only 100 draws
# (`paperkit.chapters.video4mri.uncertainty`). Ours come from the same resampling (40%, 100 draws, the run's
# seed), shown beside the paper's.

# %%
ci_reading = uncertainty.read_paper_ci(reps=200, seed=S.seed)
ci = uncertainty.summary(ci_reading)
display(Markdown(
    f"Across the {ci['cells']} accuracy cells of Tables 2 and 3, the printed number is "
    f"**{ci['ratio_min']:.2f}–{ci['ratio_max']:.2f}×** the bootstrap SD the protocol implies. Run with 100 draws, the "
    f"protocol gives an SD of {ci['sd_low']:.2f}–{ci['sd_high']:.2f}× that value, a 95% half-width of "
    f"{ci['half_width_low']:.2f}–{ci['half_width_high']:.2f}× and a width of {ci['width_low']:.2f}–"
    f"{ci['width_high']:.2f}× (2.5th–97.5th percentiles over repeated protocols). So the number is neither an SD "
    f"({ci['sd_cells']} cells fit) nor a width ({ci['width_cells']} fit); {ci['half_width_cells']} cells fit a "
    f"half-width only at the low end of its range and {ci['below_half_width_cells']} lie below any half-width the "
    "protocol gives. Read it as a number between one SD and a 95% half-width, and compare intervals, not it."))
plots.show_table(ci_reading.round(3), "Every 'Acc. (95%CI)' cell of the paper read against its protocol",
                 note="test items: about 30% of Table 1's images (an approximation: the split is by subject); ranges "
                      "as multiples of the protocol SD")
spread = pd.DataFrame([{"model": name, "this run: accuracy [95% CI]": interval(r),
                        **{f"this run: {k}": round(v, 3) for k, v in uncertainty.our_spread(
                            predictions[name].y_true, predictions[name].probabilities, fraction=S.boot_fraction,
                            n_boot=S.n_boot, seed=S.seed).items() if k in uncertainty.READINGS},
                        **{f"paper: {ds} acc (CI)": f"{paper_acc.loc[PAPER_NAME[name], ds]:.3f} "
                                                    f"({paper_ci.loc[PAPER_NAME[name], ds]:.3f})"
                           for ds in ([chapter.PAPER_DATASET[S.dataset]] if S.dataset in chapter.PAPER_DATASET
                                      else ["PPMI", "ADNI", "OASIS-1", "OASIS-2"])}}
                       for name, r in zip(results.model, results.itertuples())])
plots.show_table(spread, f"Our spread from the paper's resampling beside the paper's number (this run: {S.data_label})",
                 note="Ours: SD of the resampled accuracies, half-width and width of their 95% percentile interval. "
                      "Paper: accuracy and its printed number, on real cohorts.")

# %% [markdown]
# ### Cost, timed side by side
#
# Training time per epoch is no measure of a model's cost here: the first model to train pays for reading
# and decoding the volumes. So the models are timed side by side (`paperkit.timing.time_side_by_side`, the
# helper `bench/bench_video_models.py` uses too): fresh copies of the models take turns on one batch of this
# run's training clips, after a warm-up, for several rounds; each model's median step is its time, and a
# ratio of two medians comes with the interquartile range of the per-round ratios. TSN and TSM are timed on
# training steps (forward, loss, backward, Adam step), TSM and the 3D ResNets on inference.

# %%
batch = experiment.clip_batch(train_frames, S.batch_size)
time_on = partial(experiment.time_models, clips=batch[0], labels=batch[1], num_classes=len(class_names),
                  device=S.device, seed=S.seed)
tsm_with_twin = [t for t in S.models if t.startswith("tsm") and t.replace("tsm", "tsn") in S.models]
twins = [n for t in tsm_with_twin for n in (t.replace("tsm", "tsn"), t)]
training_cost = time_on(twins, step="training")
inference_cost = time_on([n for n in S.models if n.startswith(("tsm", "r3d"))], step="inference")
cost_rows = [{"step": step, "model": name, "median ms per step": round(1000 * timed.median(name), 1)}
             for step, timed in (("training", training_cost), ("inference", inference_cost)) if timed is not None
             for name in timed.names]
if cost_rows:
    plots.show_table(pd.DataFrame(cost_rows), f"Models timed side by side ({S.device.type}, batch of "
                                              f"{len(batch[1])} clips of this run)")
    for name in tsm_with_twin:
        print(training_cost.ratio(name, name.replace("tsm", "tsn")).describe(), "(training step)")
    if inference_cost is not None and {"tsm_r18", "r3d_18"} <= set(inference_cost.names):
        print(inference_cost.ratio("tsm_r18", "r3d_18").describe(), "(inference)")
else:
    print("No TSN/TSM twins or TSM/3D pairs in this run's models to time.")

# %% [markdown]
# ### Fig. 2: how many frames? (the K ablation)
#
# The paper plots TSM-Res50 and TSN-Res50 on PPMI and ADNI for K = 8, 16, 32, 64 (values are shown only in
# its figure, not printed, so there is no number to copy here).

# %%
if len(k_results):
    fig = go.Figure()
    for k, (name, part) in enumerate(k_results.groupby("model", sort=False)):
        fig.add_trace(go.Scatter(x=part.K, y=part.boot_mean, mode="lines+markers", name=name,
                                 line=dict(color=plots.COLORS[k]),
                                 error_y=dict(type="data", symmetric=False, array=part.boot_high - part.boot_mean,
                                              arrayminus=part.boot_mean - part.boot_low)))
    fig.update_layout(title=f"Fig. 2: bootstrap accuracy vs K ({S.dataset}, {S.epochs} epochs)",
                      xaxis_title="K (frames)", yaxis_title="bootstrap accuracy", xaxis_type="log", height=380)
    fig.show()
    plots.show_table(k_results[["model", "K", "boot_mean", "boot_low", "boot_high", "seconds_per_epoch",
                                "inference_ms"]].round(3),
                     f"K ablation ({S.data_label})")
else:
    print("The K ablation is not part of this profile (k_values is empty).")

# %% [markdown]
# ### Table 3: which augmentation helps?

# %%
if len(aug_results):
    paper3 = reference.load("video4mri", source="Table 3", metric="accuracy").pivot(index="setting", columns="dataset",
                                                                                     values="value")
    rows = [{"augmentation": PAPER_AUGMENTATION_ROWS[r.augmentation],
             f"this run ({S.augmentation_model})": interval(r),
             "paper PPMI (TSM-Res50)": paper3.loc[PAPER_AUGMENTATION_ROWS[r.augmentation], "PPMI"],
             "paper ADNI (TSM-Res50)": paper3.loc[PAPER_AUGMENTATION_ROWS[r.augmentation], "ADNI"]}
            for r in aug_results.itertuples()]
    tsm_alone = ("brightness only (this profile has no crop)" if S.crop_scale is None
                 else "random resized crop and brightness only")
    plots.show_table(pd.DataFrame(rows), f"Table 3: augmentation ablation (this run: {S.data_label})",
                     note=f"'TSM' alone = {tsm_alone}; MixUp/CutMix = one of them per batch (p 0.4 / 0.6).")
else:
    print("The augmentation ablation is not part of this profile.")

# %% [markdown]
# ## On real 3D scans: MedMNIST 3D
#
# ADNI, PPMI and OASIS cannot be redistributed, so the book cannot show the paper's question answered on
# them. MedMNIST's 3D sets are real CT/MRI volumes under CC BY 4.0 with official splits {cite}`yang2023medmnist`.
# This section trains the chapter's models on one of them, AdrenalMNIST3D by default (normal adrenal gland vs
# adrenal mass; the table below counts its volumes), reading one volume axis as the frame axis. To run it, put
# `adrenalmnist3d.npz` (28³) or `adrenalmnist3d_64.npz` (64³), downloaded from https://medmnist.com, in
# `$PAPERKIT_DATA/medmnist/`.

# %%
medmnist_folder = (data_root() / "medmnist") if data_root() is not None else None
medmnist = None
if S.dataset == "medmnist3d":
    print("The experiments above already ran on MedMNIST 3D; this section is not repeated.")
elif medmnist_folder is None or not medmnist_folder.is_dir():
    print("Skipped: no MedMNIST folder (set PAPERKIT_DATA to a folder with medmnist/ inside; see above).")
else:
    try:
        medmnist = experiment.load_medmnist(medmnist_folder, S.medmnist_flag, S.medmnist_size, axis=S.frame_axis,
                                         limit=S.medmnist_limit, test_limit=S.medmnist_test_limit, seed=S.seed,
                                         batch_size=S.batch_size)
    except Exception as err:  # the file of this flag/size is absent: say which, do not fake
        print(f"Skipped: {err}")
if medmnist is not None:
    mm_trained = {}
    train_set, test_set = medmnist["frames"](S.medmnist_segments)
    for name in S.medmnist_models:
        mm_trained[name] = train_video_classifier(
            name, train_set, test_set, data_key={**medmnist["data_key"], "segments": S.medmnist_segments},
            num_classes=len(medmnist["class_names"]), epochs=S.medmnist_epochs, batch_size=max(S.batch_size, 8),
            lr=experiment.learning_rate(S, name), warmup_epochs=min(S.warmup_epochs, S.medmnist_epochs - 1),
            augmentation=S.augmentation, n_boot=S.n_boot, boot_fraction=S.boot_fraction,
            recalibrate_bn=S.recalibrate_bn, crop_scale=S.crop_scale, seed=S.seed, device=S.device,
            out_dir=S.out_dir, tag="MedMNIST")
    mm = pd.DataFrame([{"model": name, **t.metrics} for name, t in mm_trained.items()])
    mm_predictions = {name: experiment.load_predictions(t) for name, t in mm_trained.items()}
    mm_batch = experiment.clip_batch(train_set, max(S.batch_size, 8))
    mm_inference = experiment.time_models([n for n in S.medmnist_models if n.startswith(("tsm", "r3d"))],
                                          *mm_batch, step="inference", num_classes=len(medmnist["class_names"]),
                                          device=S.device, seed=S.seed)
    mm_label = (f"{S.medmnist_flag} {S.medmnist_size}³ (real CT), official test split "
                f"({len(medmnist['parts']['test'])} of {sum(medmnist['counts']['test'])} volumes), "
                f"trained on {medmnist['used_train']} of {sum(medmnist['counts']['train'])} training volumes, "
                f"K={S.medmnist_segments}, {S.medmnist_epochs} epochs")
    table = pd.DataFrame([{"model": r.model, "accuracy [95% CI]": interval(r), "AUROC": round(r.auroc, 3),
                           "plain accuracy": round(r.accuracy, 3), "params (M)": round(r.params_m, 2),
                           "inference ms": round(r.inference_ms, 1), "s/epoch": round(r.seconds_per_epoch, 1)}
                          for r in mm.itertuples()])
    majority = float(np.bincount(np.asarray(medmnist["parts"]["test"])).max() / len(medmnist["parts"]["test"]))
    plots.show_table(table, f"Seven models on real 3D scans: {mm_label}",
                     note=f"The most frequent class is {majority:.1%} of these test volumes: an accuracy near that "
                          "level says a model has not yet separated the classes, "
                          "and AUROC shows how well it ranks them.")
    if note := claims.unlearnt_note(mm):
        print(note)
    baselines = reference.load("video4mri", source="MedMNIST v2 website (pre-publication), 3D benchmark table")
    baselines = baselines[baselines.dataset.str.lower().str.startswith(S.medmnist_flag.lower().removesuffix("3d"))]
    if len(baselines):
        plots.show_table(baselines.pivot(index="setting", columns="metric", values="value")
                         .rename_axis(columns=None).reset_index(),
                         f"Reference baselines for {S.medmnist_flag}: MedMNIST v2 authors' benchmark "
                         "(28³, full training set, official test split)",
                         note="Copied from the MedMNIST v2 project page's pre-publication 3D table "
                              "(medmnist.github.io, v2.html); the values in the published paper may differ slightly. "
                              "ACC is plain test accuracy.")
    else:
        print(f"No reference baselines for {S.medmnist_flag} in paperkit/reference/video4mri.csv.")

# %% [markdown]
# ## The paper's tables from every run record
#
# A researcher runs this chapter once per dataset (`-p dataset adni`, then `ppmi`, `oasis1`, `oasis2`) with the
# same `out_dir`. Each execution leaves its run records there, and this section lays all of them out as the
# paper's Table 2, Table 3 and Fig. 2 (`paperkit.chapters.video4mri.tables`): the paper's "acc (CI)" beside
# ours, each of ours saying whether this execution made it (`this run`) or an earlier one (`record`), and on
# which data. Datasets the paper does not have (the synthetic cohort, MedMNIST) get their own columns.

# %%
current = {t.run.key for t in [*trained.values(), *k_trained.values(), *aug_trained.values(),
                               *(mm_trained.values() if medmnist is not None else [])]}
records = tables.run_records(S.out_dir)
print(f"{len(records)} classification run records under {S.out_dir}, {len(current)} of them from this execution")
plots.show_table(tables.table2(records, current=current, augmentation=S.augmentation),
                 "Table 2 from every record: the paper's accuracy (CI) beside ours",
                 note="Ours: bootstrap mean [95% interval]; 'this run' = made or reused by this execution, 'record' = "
                      "an earlier execution's; where several records fit a cell, the one nearest the paper's "
                      "K, frame size and epochs.")
plots.show_table(tables.table3(records, S.augmentation_model or "tsm_r50", current=current),
                 f"Table 3 from every record ({S.augmentation_model or 'tsm_r50'}; the paper's: TSM-Res50)")
plots.show_table(tables.k_table(records, S.ablation_models or ["tsm_r50", "tsn_r50"], S.k_values, current=current,
                                augmentation=S.augmentation),
                 "Fig. 2 (K ablation) from every record")

# %% [markdown]
# ## Claims ledger

# %%
ledger = Ledger("video4mri", S.data_label)
ledger.judge(chapter.CLAIMS[0], claims.video_beats_3d(predictions, S.dataset))
ledger.judge(chapter.CLAIMS[1], claims.tsm_best_tradeoff(predictions, params_m, inference_cost))
ledger.judge(chapter.CLAIMS[2], claims.augmentation_helps(aug_predictions, S.augmentation_model))
ledger.judge(chapter.CLAIMS[3], claims.shift_costs_nothing(training_cost))
ledger.judge(chapter.CLAIMS[4], claims.tsm_faster_than_3d(inference_cost))
ledger.judge(chapter.CLAIMS[5], claims.video_models_smaller(params_m), data="model definitions (no data needed)")
ledger.judge(chapter.CLAIMS[6], claims.k_choice(k_predictions, chosen=S.segments))
if medmnist is not None:  # the same accuracy and speed claims on real 3D scans
    mm_data = f"{S.medmnist_flag} (real CT)"
    ledger.judge(chapter.CLAIMS[0], claims.video_beats_3d(mm_predictions, mm_data), data=mm_label)
    mm_params = mm.set_index("model")["params_m"].to_dict()
    ledger.judge(chapter.CLAIMS[1], claims.tsm_best_tradeoff(mm_predictions, mm_params, mm_inference), data=mm_label)
    ledger.judge(chapter.CLAIMS[4], claims.tsm_faster_than_3d(mm_inference), data=mm_label)
ledger.save(S.out_dir, profile=S.profile, dataset=S.dataset, seconds=round(clock.seconds, 1))
ledger.show()

# %% [markdown]
# ## Differences from the paper and from its official code
#
# - **No official code.** The nearest public code (PP-Care, PaddleVideo) uses 8 training / 16 test segments,
#   no intensity normalisation and shifts 1/num_segments of the channels; paperkit follows the paper (K=32 in
#   the paper profile, 1/8 shift as in canonical TSM; `shift_div` is a parameter).
# - **Optimiser.** Not named in the paper; Adam is used (the learning rate of 5e-5 points to an Adam variant).
#   The smoke and classroom profiles use a larger learning rate, less warm-up and a few epochs so a CPU learns
#   in minutes (this run: lr {glue:text}`run_lr`, {glue:text}`run_warmup` warm-up epochs, {glue:text}`run_epochs`
#   epochs). The classroom profile gives the 3D ResNets their own, smaller rate (`model_lr`; this run:
#   {glue:text}`run_model_lr`), a choice for this short CPU budget, in which a 3D ResNet at the common rate can
#   collapse to one constant output. The line under Table 2 names any model that has not learnt in this run.
#   The paper trains every model with one learning rate; exercise 6 does that here.
# - **BatchNorm statistics.** After so few steps the running averages lag the weights, and in eval mode a
#   model that ranks the test volumes well can still put all of them in one class. The smoke and classroom
#   profiles therefore recompute the statistics on the training clips before testing (`recalibrate_bn`,
#   `paperkit.batchnorm`); the paper profile does not, as in the paper. Exercise 4 shows the effect.
# - **Random resized crop.** The paper does not give its range; paperkit uses an area range of the frame set by
#   `crop_scale` (`paperkit.augment.CROP_SCALE` by default). The classroom profile switches the crop off
#   (`crop_scale=None`): its frames are small (`frame_size`), so one pixel spans several millimetres, about as
#   much as the synthetic atrophy moves the ventricle walls, and the zoom a crop applies hides that signal in a
#   short run. Exercise 5 puts the crop back and shows what it does in this run.
# - **Intensities and frame shape.** The paper feeds raw images; the paper profile does too (`normalize="none"`,
#   each slice resized to the square frame, `keep_aspect=False`). This run: {glue:text}`run_preprocessing`.
#   The smoke and classroom profiles min-max scale each volume (background 0, so a rotation fills with 0) and
#   pad the short side to keep the anatomy's proportions, so a few CPU epochs see the same contrast in every scan.
# - **Which OASIS-1 image.** The OASIS-1 loader reads the atlas-registered, skull-stripped image by default; the
#   paper profile reads the raw scan (`loader_options={"image": "raw"}`), as the paper says it used raw images.
#   This run's loader options are printed under Table 1.
# - **SlowFast's slow pathway** reads frames spread over the clip, first to last, as the reference code does.
# - **Parameter counts** match Table 2 within {glue:text}`params_gap` with one input channel (counted in the
#   Method section); the paper does not say how many.
# - **CI.** The paper's "95% CI" column gives one number per cell; here the interval's two ends are shown, and
#   the section on the paper's CI reads its number under its own protocol.
# - **OASIS-2 counts.** No labelling of the converted subjects gives the paper's Table 1 row for OASIS-2 from the
#   public table; `paperkit.data.datasets.oasis` lists what each `converted` option gives (a loader option).
# - **Synthetic cohort.** Schematic atrophy on the MNI152 template: it tests whether the models can pick up a
#   volumetric signal, not the clinical question.

# %% [markdown]
# ## Exercises
#
# Each exercise is followed by its solution, hidden behind a toggle on the page: it runs in this
# notebook on this run's data and models, so its numbers are this run's. The teacher's page lists how
# long each solution took when the book was built.

# %% [markdown]
# :::{exercise}
# :label: video4mri-ex-1
#
# Shuffle the slice order inside each test volume (the frames a model sees, see
# `paperkit.data.mri_frames.tsn_indices`) and predict again with the trained models: which model loses
# most, TSN (order-free) or TSM?
# :::

# %% [markdown]
# :::{solution-start} video4mri-ex-1
# :class: dropdown
# :::

# %% tags=["solution"]
import torch

clips, clip_labels = experiment.clip_batch(test_frames, len(test_frames))  # (volumes, channel, K, H, W)
assert clips.shape[2] == S.segments, f"expected the K={S.segments} frames on axis 2, got {tuple(clips.shape)}"
order = torch.randperm(S.segments, generator=torch.Generator().manual_seed(S.seed))
rows = []
for name, t in trained.items():
    net = t.model.to(S.device).eval()
    with torch.no_grad():
        p_in_order = torch.cat([net(c.to(S.device)).softmax(1).cpu() for c in clips.split(S.batch_size)])
        p_shuffled = torch.cat([net(c[:, :, order].to(S.device)).softmax(1).cpu()
                                for c in clips.split(S.batch_size)])
    rows.append({"model": name, "accuracy, slices in order": (p_in_order.argmax(1) == clip_labels).float().mean().item(),
                 "accuracy, slices shuffled": (p_shuffled.argmax(1) == clip_labels).float().mean().item(),
                 "predictions changed (%)": 100 * (p_in_order.argmax(1) != p_shuffled.argmax(1)).float().mean().item(),
                 "mean |change| of the probabilities": (p_in_order - p_shuffled).abs().mean().item()})
plots.show_table(pd.DataFrame(rows).round(3), f"The same {len(clip_labels)} test volumes, slices in order and shuffled "
                                              f"(one fixed permutation of the K={S.segments} frames, {S.dataset})",
                 note="TSN averages its frames' scores, so the order cannot matter to it; TSM shifts channels between "
                      "neighbouring frames and the 3D ResNet convolves across them.")

# %% [markdown]
# :::{solution-end}
# :::

# %% [markdown]
# :::{exercise}
# :label: video4mri-ex-2
#
# Train with `recalibrate_bn=False` (no recomputation of the BatchNorm statistics before evaluation) and
# compare accuracy and AUROC with Table 2: which one moves, and why? The solution retrains one model for
# this run's epochs.
# :::

# %% [markdown]
# :::{solution-start} video4mri-ex-2
# :class: dropdown
# :::

# %% tags=["solution"]
name = next((m for m in S.models if m.startswith("tsm")), S.models[0])
common = dict(data_key={**data["data_key"], "segments": S.segments}, num_classes=len(class_names), epochs=S.epochs,
              batch_size=S.batch_size, warmup_epochs=S.warmup_epochs, augmentation=S.augmentation, n_boot=S.n_boot,
              boot_fraction=S.boot_fraction, crop_scale=S.crop_scale, seed=S.seed, device=S.device,
              out_dir=S.out_dir)
no_recalibration = train_video_classifier(name, train_frames, test_frames, lr=experiment.learning_rate(S, name),
                                          recalibrate_bn=not S.recalibrate_bn, tag="exercise", **common)
compare = pd.DataFrame([{"recalibrate_bn": S.recalibrate_bn, **{k: trained[name].metrics[k] for k in ("accuracy", "auroc")}},
                        {"recalibrate_bn": not S.recalibrate_bn,
                         **{k: no_recalibration.metrics[k] for k in ("accuracy", "auroc")}}])
plots.show_table(compare.round(3), f"{name}, the same training with and without BatchNorm recalibration ({S.data_label})",
                 note="Accuracy needs each probability on the right side of the decision; AUROC only needs their "
                      "order. Stale BatchNorm statistics shift every probability of the test set together: a shift "
                      "can cross the decision without changing the order, so see which of the two moved here.")

# %% [markdown]
# :::{solution-end}
# :::

# %% [markdown]
# :::{exercise}
# :label: video4mri-ex-3
#
# Train the 3D ResNets at the same learning rate as the video models, as in the paper (`model_lr={}` in the
# `start(...)` call). Does R3D-18 still learn? Is one recipe for every model fair to the 3D networks, and is a
# rate chosen per model fair to the video ones? The solution retrains R3D-18 at the common rate.
# :::

# %% [markdown]
# :::{solution-start} video4mri-ex-3
# :class: dropdown
# :::

# %% tags=["solution"]
rates = {"this run's rate": experiment.learning_rate(S, "r3d_18"), "the common rate": S.lr}
rows = []
for label, rate in rates.items():
    r3d = (trained["r3d_18"] if "r3d_18" in trained and rate == experiment.learning_rate(S, "r3d_18") else
           train_video_classifier("r3d_18", train_frames, test_frames, lr=rate, recalibrate_bn=S.recalibrate_bn,
                                  tag="exercise", **common))
    rows.append({"model": "r3d_18", "learning rate": label, "lr": rate, "accuracy": r3d.metrics["accuracy"],
                 "auroc": r3d.metrics["auroc"]})
same_rate = pd.DataFrame(rows)
plots.show_table(same_rate.round(4), f"R3D-18 at its own and at the common learning rate ({S.data_label})")
if rates["this run's rate"] == rates["the common rate"]:
    print(f"The {S.profile} profile already trains R3D-18 at the common rate ({S.lr:g}): both rows are one run.")
print(claims.unlearnt_note(same_rate) or "R3D-18 learnt at both rates in this run's budget.")

# %% [markdown]
# :::{solution-end}
# :::

# %% [markdown]
# ### Going further
#
# These need a run of their own, so no solution is computed here:
#
# - Set `view="axial"` and compare with the sagittal default: do the video models care which plane is "time"?
# - Run `bench/bench_video_models.py` (it times the models with the same helper as the ledger, at larger
#   frames) and compare its ratios with the ones measured above: does the shift cost nothing on your machine?
# - Add `crop_scale=[0.5, 1.0]` to the `start(...)` call to train with the paper-profile crop: what happens to
#   accuracy and to the spread of the predicted probabilities?

# %%
print(finish(S, clock))
