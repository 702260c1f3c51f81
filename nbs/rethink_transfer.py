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
# # Rethink transfer learning: shallow, deep and truncated networks
#
# **Paper.** Peng, Liang, Li and Sun, *Rethink transfer learning in medical image classification*
# {cite}`peng2023rethink`. Official code: github PL97/TTL.
#
# **In one paragraph.** Raghu et al. {cite}`raghu2019transfusion` argued that ImageNet transfer
# learning (TL) barely helps medical image classification, because small "CBR" networks trained from
# scratch did as well as big pretrained ones. This paper re-examines that conclusion on CheXpert and a
# prospective COVID-19 chest X-ray set. It adds two things: AUPRC next to AUROC, because under class
# imbalance AUROC hides large differences in how positives are ranked; and *truncated* pretrained
# networks (ResNet-50 and DenseNet-121 cut after 25-49 convolutional layers or 1-3 dense blocks),
# arguing that medical images need low- and mid-level features only. Its conclusions: TL is at least
# as good as random initialisation (RI), more so with little data, and fine-tuning a truncated
# pretrained network is the best strategy, with a much smaller model.
#
# **What this chapter reproduces.**
#
# | part of the paper | status in this version |
# |---|---|
# | §2.1, Fig. 2: AUROC vs AUPRC on a constructed imbalanced example | **built**; the paper's values shown within the distribution of the construction |
# | CBR, ResNet-50, DenseNet-121 and truncated models with measured size and speed (§2.2) | **built**; every model in the registry, the classroom profile runs CBR-Tiny, Dens-T1 and DenseNet-121 |
# | TL vs RI in the data-rich and data-poor regimes (Figs. 3-4) | **built** on synthetic chest X-rays (the profile's `fractions` of the training set); CheXpert, a COVID-19-style CSV set or MedMNIST with `dataset=`; Fig. 3's per-pathology bars rebuilt |
# | §3.1's secondary claims (TL vs RI on deep and on shallow networks) and §4's rare-label point (decent AUROC, very low AUPRC) | **built** as ledger rows, judged on the stored per-image test predictions |
# | Training set-up | the paper's (U-Zeros, all CheXpert views, its split, three repeats) with every unstated value marked as this chapter's choice; the official code's with `official=True`; the differences table is generated from the settings |
# | Truncated vs full vs shallow networks (Figs. 5-6) | **built**: Dens-T1 vs DenseNet-121 vs CBR-Tiny in the classroom profile, all 14 models in the paper profile |
# | ImageNet pretraining | torchvision's ResNet-50 / DenseNet-121 checkpoints from the local torch hub folder (never downloaded); CBR weights made with `python -m paperkit.chapters.rethink_transfer.pretrain` on an ImageNet folder. The paper profile requires them (`tl_weights="imagenet"`); the small profiles otherwise pretrain a substitute here on a synthetic shape x texture task, and a comparison mixing sources is flagged and not judged |
# | Datasets (§2.3): CheXpert (U-Zeros, 13 labels), private COVID-19 set with a prospective date split, plus MedMNIST | **built**: `dataset="chexpert"`, `"csv"` (your CSV + images, split at `cutoff_date`), `"medmnist"` (e.g. PneumoniaMNIST, official split) |
# | Text facts of §§2-4 (split sizes, imbalance ratios, truncation percentages, subset sizes) | in `paperkit/reference/rethink_transfer.csv`; the imbalance ratios are shown beside this run's |
#
# **Time per profile**: shown under the parameters, from the book's own record of the last execution of
# each profile on the machine that ran it (nothing typed).

# %% [markdown]
# ## Parameters
#
# Every chapter takes the same parameters; papermill overrides them with `-p name value`.
# The ones after `out_dir` are this chapter's own (`None` = the profile's value): `n_draws` of the
# Fig. 2 construction, image size, training-set fractions, repeats, the cap on real data, the training
# set-up (`official`), the CheXpert views, where the TL weights come from (`tl_weights`, `source_dataset`,
# `source_dir`), the size of the substitute source task, and the column names of a `dataset="csv"` set and
# its prospective cutoff.
# For example, a private COVID-19 export:
# `papermill nbs/rethink_transfer.ipynb out.ipynb -p dataset csv -p data_dir /data/covid
# -p csv_label_columns covid -p csv_date_column study_date -p profile paper`.

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
n_draws = None          # draws of the Fig. 2 construction, None means the profile value
image_size = None       # image side in pixels, None means the profile value (CBR-Tiny needs 91 or more)
fractions = None        # training-set fractions such as [1.0, 0.1], None means the profile value
max_images = None       # cap per split of a real dataset (about; whole patients), None means the profile value
repeats = None          # independent runs per model and init, None means the profile value (paper: three)
official = None         # True: the official code's training set-up instead of the paper's (see the differences)
views = None            # CheXpert views: "all" (the paper's counts, the default) or "frontal"
tl_weights = None       # "imagenet" (required; paper profile), "auto" (ImageNet where on disk, else pretrained here)
                        # or "substitute" (every model pretrained here on the source task)
source_dataset = None   # source task pretrained here: "synthetic" (shape x texture) or "imagefolder" (source_dir)
source_dir = None       # an image folder in the ILSVRC layout, train/<class>/ and val/<class>/
source_images = None    # images of the substitute source task (when no ImageNet checkpoint),
                        # None means the profile value
# dataset="csv": a CSV in data_dir listing images (paths relative to data_dir); the defaults below are
# the column names looked for; csv_date_column="" turns the prospective split off.
csv_file = None             # default "labels.csv"
csv_path_column = None      # default "path"
csv_patient_column = None   # default "patient_id"
csv_label_columns = None    # default "label"; several as "covid,pneumonia" (0/1 or true/false)
csv_date_column = None      # default "date" (acquisition date, ISO or parseable)
cutoff_date = None          # default "2020-06-30", the paper's: train/val before it, test on or after
# dataset="medmnist": data_dir/<medmnist_subset>.npz, default "pneumoniamnist"
medmnist_subset = None
batch_size = None           # images per training batch, None means the profile value
n_patients = None           # patients of the synthetic set, None means the profile value

# %%
import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import torch
from IPython.display import HTML, Markdown, display
from plotly.subplots import make_subplots
from sklearn.metrics import precision_recall_curve, roc_curve

from paperkit import models as registry
from paperkit import plots, reference
from paperkit.chapters.contract import finish, start
from paperkit.chapters.rethink_transfer import claims, experiment, figures
from paperkit.chapters.rethink_transfer import setup as training
from paperkit.data.datasets.csv_images import imbalance_table
from paperkit.data.subsample import stratified_subsample
from paperkit.ledger import Ledger
from paperkit.models import count_parameters
from paperkit.timing import inference_ms_per_sample

chapter, S, clock = start("rethink_transfer", dataset=dataset, data_dir=data_dir, profile=profile, models=models,
                          epochs=epochs, seed=seed, device=device, out_dir=out_dir, max_steps=max_steps, n_draws=n_draws,
                          image_size=image_size, fractions=fractions, max_images=max_images, csv_file=csv_file,
                          csv_path_column=csv_path_column, csv_patient_column=csv_patient_column,
                          csv_label_columns=csv_label_columns, csv_date_column=csv_date_column,
                          cutoff_date=cutoff_date, medmnist_subset=medmnist_subset, source_images=source_images,
                          repeats=repeats, official=official, views=views, tl_weights=tl_weights,
                          source_dataset=source_dataset, source_dir=source_dir,
                          batch_size=batch_size, n_patients=n_patients)
experiment.check_weights(S)  # the paper profile stops here, naming each missing file, if ImageNet weights are absent
setup = experiment.setup_of(S)

# %% [markdown]
# ## Data
#
# With `dataset="synthetic"` paperkit writes a CheXpert-style folder (`train.csv` with the real
# column names, one JPEG per study, as CheXpert ships) and reads it back with the CheXpert loader, U-Zeros and all.
# Its findings carry the kind of signal the paper's hypothesis is about: some are low-level
# *texture* (lung opacity, nodules, effusion, oedema, pneumothorax), some are *shape* (an enlarged
# heart or mediastinum). The split is by patient, 72/8/20 % as in the paper, checked for overlap.
# The paper's split sizes add up to every view of CheXpert's `train.csv`, so every view is read
# (`views="all"`); `views="frontal"` keeps frontal images only (the synthetic generator draws frontal
# views only). Uncertain labels become 0 (U-Zeros, as the paper says), or 1 (U-Ones) with `official=True`.
#
# The other datasets: `"chexpert"` reads your CheXpert download the same way; `"csv"` reads a private
# "CSV + image folder" set like the paper's COVID-19 X-rays and splits it *prospectively* by date
# (train and validation before `cutoff_date`, test on or after it; a patient imaged on both sides is
# kept for development only), which is where the paper's drifting imbalance (1:16.3 in training,
# 1:2.94 in test) comes from; `"medmnist"` reads a MedMNIST `.npz` (e.g. PneumoniaMNIST) with its
# official split. Real sets are capped at about `max_images` images per split in the small profiles.

# %%
task = experiment.load_task(S, setup=setup)
labels, tables, datasets = task["labels"], task["tables"], task["datasets"]
print(f"Split: {task['split']}.")
sizes = figures.split_counts_vs_paper(tables, S.dataset, task["all_rows"])
if sizes is not None:
    plots.show_table(plots.paper_vs_run(*sizes, run_data=S.data_label, digits=0),
                     f"Images per split: the paper's CheXpert split beside this run's (views: {setup.views})",
                     note="The paper's 'all splits' row is the sum of its three splits; the CheXpert row is the "
                          "number of rows of the official train.csv, every view.")
counts = imbalance_table(tables, labels)
plots.show_table(counts.round(3),
                 f"Positives per pathology and split ({S.data_label})",
                 note="Labels with no positive (or no negative) case in some split are left out: "
                      "AUROC/AUPRC need both.")

# %% [markdown]
# The imbalance *between* splits matters as much as within them: the paper's COVID-19 test set is
# far richer in positives than its training set, and AUPRC, unlike AUROC, depends on that ratio.
# Where the paper prints a comparable ratio (§2.3 for the COVID-19 set, §4 for four rare CheXpert
# labels) it is shown beside this run's.

# %%
drift = counts.pivot(index="label", columns="split", values="ratio")[list(tables)].reset_index()
plots.show_table(drift, f"Imbalance (1 : negatives per positive) per split ({S.data_label})")
compared = figures.imbalance_vs_paper(tables, labels, S.dataset)
if compared is not None:
    plots.show_table(plots.paper_vs_run(*compared, run_data=S.data_label, digits=2),
                     "Negatives per positive: the paper's numbers beside this run's",
                     note="The paper's numbers come from its data (named per row), this run's from the data above. "
                          + figures.rarity_comparison(*compared))

# %%
sample = tables["test"].head(8)  # test images: never augmented
images = np.stack([datasets["test"][i][0][0].numpy() for i in range(len(sample))])
fig = px.imshow(images, facet_col=0, facet_col_wrap=4, color_continuous_scale="gray", binary_string=True)
for i, ann in enumerate(fig.layout.annotations):
    found = [lab for lab in labels if sample.iloc[i][lab] == 1]
    ann.text = ", ".join(found) if found else "no finding"
fig.update_xaxes(visible=False).update_yaxes(visible=False)
fig.update_layout(title=f"Sample test images ({S.dataset}) with their labels", height=480)
fig.show()

# %% [markdown]
# ## Method
#
# ### The models: shallow, deep and truncated
#
# The CBR family of Raghu et al. (conv-batchnorm-ReLU blocks, each followed by max pooling),
# ResNet-50 and DenseNet-121, and their truncations: Res-T1..T5 keep the first 25/37/43/46/49
# main-path convolutions of ResNet-50, Dens-T1..T3 the first 1/2/3 dense blocks of DenseNet-121;
# each ends in global average pooling and a new linear layer. Parameters and inference time are
# measured here, on this machine, for the models of this run.

# %%
example = torch.randn(8, setup.channels, S.image_size, S.image_size)
rows = []
for name in S.models:
    net = registry.create(name, num_classes=len(labels), in_channels=setup.channels)
    rows.append({"model": name, "kind": "truncated" if experiment.parent_of(name) != name else
                 ("shallow" if name.startswith("cbr") else "deep"),
                 "parameters (M)": round(count_parameters(net, trainable_only=True) / 1e6, 3),
                 f"inference ms/image ({S.device.type}, {S.image_size} px)": round(
                     inference_ms_per_sample(net, example, device=S.device), 2)})
compute = pd.DataFrame(rows)
plots.show_table(compute, f"Model size and measured inference time ({len(labels)} outputs)")

# %% [markdown]
# ### AUROC vs AUPRC under class imbalance (§2.1, Fig. 2)
#
# The paper's thought experiment: 1000 cases, 10 positive. Classifier **A** scores the 10 positives
# somewhere within its top 12; classifier **B** within its top 30. At a threshold that catches all
# positives, A has 2 false positives and B has 20. A is clearly the better classifier. The paper
# reports AUROC 0.999 / AUPRC 0.990 for A and 0.991 / 0.354 for B: AUROC barely separates them,
# AUPRC does.
#
# Where the positives fall inside the top 12 (or 30) is not specified, so each classifier is really a
# *distribution* of rankings. We draw it `n_draws` times (seeded) and compute, per draw, AUROC, the
# AUPRC as the paper's code defines it (trapezoid area under the precision-recall curve), and average
# precision (AP, the step-wise area most libraries report).

# %%
study = figures.imbalance_study(S.n_draws, seed=S.seed)
q = study.groupby("classifier")[["AUROC", "AUPRC", "AP"]]
summary = q.median().add_suffix(" median").join(q.quantile(0.025).add_suffix(" 2.5%")).join(
    q.quantile(0.975).add_suffix(" 97.5%"))
summary = summary[[f"{m} {s}" for m in ("AUROC", "AUPRC", "AP") for s in ("median", "2.5%", "97.5%")]]
display(HTML(plots.table_html(summary.round(3).reset_index(),
                              f"Fig. 2 construction: distribution over {S.n_draws} seeded draws (simulated scores)")))

# %% [markdown]
# One representative draw per classifier (the draw whose AUPRC is the median) shows why: both ROC
# curves hug the top-left corner, because with 990 negatives even 20 false positives are a false-positive
# rate of 2%; precision, which counts false positives against true positives, collapses for B.

# %%
fig = make_subplots(rows=1, cols=2, subplot_titles=("ROC curve", "Precision-recall curve"), horizontal_spacing=0.12)
for (name, k), color in zip((("A", 12), ("B", 30)), plots.COLORS):
    y, s = figures.representative_draw(study, name, seed=S.seed)
    fpr, tpr, _ = roc_curve(y, s)
    prec, rec, _ = precision_recall_curve(y, s)
    fig.add_trace(go.Scatter(x=fpr, y=tpr, name=f"{name} (top {k})", line=dict(color=color), legendgroup=name), 1, 1)
    fig.add_trace(go.Scatter(x=rec, y=prec, name=f"{name} (top {k})", line=dict(color=color), legendgroup=name,
                             showlegend=False), 1, 2)
fig.update_xaxes(title_text="false-positive rate", range=[0, 1], row=1, col=1)
fig.update_yaxes(title_text="true-positive rate", range=[0, 1.02], row=1, col=1)
fig.update_xaxes(title_text="recall", range=[0, 1], row=1, col=2)
fig.update_yaxes(title_text="precision", range=[0, 1.02], row=1, col=2)
fig.update_layout(title="Fig. 2 (left), rebuilt: median-AUPRC draw of each classifier (simulated scores)", height=420)
fig.show()

# %% [markdown]
# ## Experiments
#
# ### Pretrained weights
#
# The paper fine-tunes ImageNet weights for every TL model. torchvision publishes them for ResNet-50
# and DenseNet-121 and paperkit reads them from the local torch hub folder (nothing is downloaded);
# for the CBR models, which nobody publishes, `python -m paperkit.chapters.rethink_transfer.pretrain
# --arch cbr_small --imagefolder <ImageNet> --install` trains them on a folder in the ILSVRC layout with
# the same harness used below and puts the weights where this chapter finds them. The paper profile
# requires ImageNet weights for every model (`tl_weights="imagenet"`) and stops, naming each missing
# file and the command that makes it, when one is absent. The small profiles (`tl_weights="auto"`) use
# ImageNet weights where they are on disk and otherwise pretrain the architecture here on a
# substitute source task: a synthetic 8-class problem (a disc or a cross, filled with one of four
# textures, at random position, size and contrast on a shaded noisy background) that calls for the
# low-level (texture, orientation) and mid-level (blob vs cross outline) features the paper argues
# medical images need. Fresh images are drawn rather than a few repeated, because a network memorises
# a few hundred images within two epochs and then transfers little. The table reports how well that
# pretraining went: a substitute that barely beats chance transfers little, and the TL-vs-RI
# comparison below is then a test of this substitute, not of ImageNet.
# Truncated networks take the bottom layers of their full parent, as in the paper.

# %%
parents = sorted({experiment.parent_of(name) for name in S.models})
sources = {}
for arch in parents:
    sources[arch] = experiment.pretrained_weights(arch, tl_weights=S.tl_weights, source_dataset=S.source_dataset,
                                                source_dir=S.source_dir, image_size=S.image_size,
                                                n_images=S.source_images, epochs=S.source_epochs,
                                                batch_size=S.source_batch_size, lr=S.source_lr,
                                                difficulty=S.source_difficulty, seed=S.seed,
                                                channels=setup.channels, normalize=setup.normalize,
                                                device=S.device, out_dir=S.out_dir)
weight_kinds = {name: sources[experiment.parent_of(name)].kind for name in S.models}
mixed = claims.mixed_sources(weight_kinds)
plots.show_table(pd.DataFrame([{"architecture": a, "kind": w.kind, "TL weights come from": w.description,
                                "source val. accuracy": "—" if w.accuracy is None else f"{w.accuracy:.1%}",
                                "chance": "—" if w.chance is None else f"{w.chance:.1%}",
                                "pretraining time (s)": "—" if w.seconds is None else round(w.seconds)}
                               for a, w in sources.items()]),
                 "Source of the transfer-learning weights in this run",
                 note="Accuracy on fresh validation images of the source task, after recomputing BatchNorm statistics. "
                      + (f"Mixed sources: {mixed}." if mixed else "Every TL model starts from the same kind of source."))

# %% [markdown]
# ### Training: every model, from random initialisation (RI) and by transfer learning (TL)
#
# Each run is a run record under `out_dir/rethink_transfer/`; a finished one is reused. The
# data-poor regimes are patient-level subsamples of the training set that keep each label's ratio.

# %%
rows, predictions, y_test = [], [], None
for fraction in S.fractions:
    if fraction < 1.0:
        sub = stratified_subsample(tables["train"], fraction, seed=S.seed, label_columns=labels)
        train_set = task["make_dataset"](sub, train=True)
    else:
        train_set = datasets["train"]
    for name in S.models:
        for init in ("ri", "tl"):
            for repeat in range(S.repeats):
                run = experiment.finetune(name, init, train=train_set, val=datasets["val"], test=datasets["test"],
                                          labels=labels, data_key={**task["data_key"], "fraction": fraction},
                                          epochs=S.epochs, batch_size=S.batch_size, lr=S.lr, repeat=repeat,
                                          source=sources[experiment.parent_of(name)] if init == "tl" else None,
                                          setup=setup,
                                          device=S.device, out_dir=S.out_dir, seed=S.seed,
                                          recalibrate_bn=S.recalibrate_bn)
                m = run.metrics
                y_true, y_score = experiment.test_predictions(run)  # per test image, for the ledger's comparisons
                if y_test is not None and not np.array_equal(y_true, y_test):
                    raise RuntimeError(f"{name} {init} was tested on other images than the runs before it")
                y_test = y_true
                predictions.append({"fraction": fraction, "model": name, "init": init.upper(), "repeat": repeat,
                                    "y_score": y_score})
                rows.append({"model": name, "init": init.upper(), "fraction": fraction, "repeat": repeat,
                             "n_train": len(train_set), "AUROC": m["mean_AUROC"], "AUPRC": m["mean_AUPRC"],
                             "AP": m["mean_AP"], "per_label": m["per_label"], "epochs_run": m["epochs_run"]})
results, predictions = pd.DataFrame(rows), pd.DataFrame(predictions)
print(f"{len(results)} runs; training sets: " + ", ".join(f"{f:.0%} = {n} images" for f, n in
                                                          results.groupby("fraction")["n_train"].first().items()))

# %% [markdown]
# ## Results
#
# ### Fig. 2: the paper's single values within the distribution of the construction
#
# Each histogram is one metric over all draws; the dashed lines are the values printed in the paper.

# %%
paper = reference.load("rethink_transfer", source="§2.1, Fig. 2")
label = {"A": "classifier A (positives within the top 12)", "B": "classifier B (positives within the top 30)"}
fig = make_subplots(rows=1, cols=2, subplot_titles=("AUROC", "AUPRC (trapezoid, the paper's definition)"))
for col, metric in enumerate(("AUROC", "AUPRC"), start=1):
    for (name, color) in zip(("A", "B"), plots.COLORS):
        values = study.loc[study.classifier == name, metric]
        fig.add_trace(go.Histogram(x=values, name=f"{name}", marker_color=color, opacity=0.6, nbinsx=40,
                                   legendgroup=name, showlegend=col == 1), 1, col)
        ref = paper[(paper.setting == label[name]) & (paper.metric == metric)]["value"].item()
        fig.add_vline(x=ref, line_dash="dash", line_color=color, row=1, col=col,
                      annotation_text=f"paper {name}: {ref}",
                      annotation_position="top left" if name == "B" else "top right")
fig.update_layout(barmode="overlay", height=420, xaxis_title="AUROC", xaxis2_title="AUPRC", yaxis_title="draws",
                  title=f"Where the paper's values fall among {S.n_draws} simulated draws")
fig.show()

# %%
rows = []
for name in ("A", "B"):
    for metric in ("AUROC", "AUPRC"):
        values = study.loc[study.classifier == name, metric]
        ref = paper[(paper.setting == label[name]) & (paper.metric == metric)]["value"].item()
        rows.append({"setting": label[name], "metric": metric,
                     "value": f"{values.median():.3f} [{values.quantile(0.025):.3f}, {values.quantile(0.975):.3f}]",
                     "paper's value is at percentile": round(figures.percentile_of(values, ref), 1)})
measured = pd.DataFrame(rows)
table = plots.paper_vs_run(paper, measured, run_data=f"simulated scores, {S.n_draws} seeded draws (seed {S.seed})")
table = table.merge(measured[["setting", "metric", "paper's value is at percentile"]], on=["setting", "metric"])
plots.show_table(table, "Fig. 2 values: paper vs this run (median [2.5%, 97.5%] over draws)",
                 note="Both sides are constructed examples, not patient data. "
                      "AUPRC = trapezoid area under the PR curve.")

# %%
where = {(s, m): p for s, m, p in zip(table["setting"], table["metric"], table["paper's value is at percentile"])}
ap_gap = (study["AP"] - study["AUPRC"]).groupby(study["classifier"]).median()
display(Markdown(
    "Reading the table: a paper value near the 50th percentile is what a uniformly random placement of the "
    "positives gives; one near the 100th needs a near-best arrangement (positives almost all ranked first). "
    + " ".join(f"The paper's {name} {metric} sits at percentile {where[(label[name], metric)]:.0f}."
               for name in ("A", "B") for metric in ("AUROC", "AUPRC"))
    + " Median AP minus trapezoid AUPRC over the draws: "
    + ", ".join(f"{name} {gap:+.3f}" for name, gap in ap_gap.items())
    + ". The ledger below checks the paper's point on every draw."))

# %% [markdown]
# ### Figs. 3-4: transfer learning vs random initialisation
#
# Mean over the pathologies of each metric, per model, for each training-set size. The paper's
# figures are bar charts on CheXpert and its private COVID-19 set; their values are not printed in
# the text, so the comparison here is of the pattern, not of the numbers.

# %%
summary = results.groupby(["fraction", "model", "init"])[["AUROC", "AUPRC"]].agg(["mean", "std"]).reset_index()
summary.columns = [" ".join(c).strip() for c in summary.columns]
fig = make_subplots(rows=len(S.fractions), cols=2, shared_xaxes=True, vertical_spacing=0.12,
                    subplot_titles=[f"{m}, {f:.0%} of the training set"
                                    for f in S.fractions for m in ("AUROC", "AUPRC")])
for r, fraction in enumerate(S.fractions, start=1):
    for c, metric in enumerate(("AUROC", "AUPRC"), start=1):
        for init, color in (("RI", plots.COLORS[1]), ("TL", plots.COLORS[0])):
            part = summary[(summary.fraction == fraction) & (summary.init == init)]
            fig.add_trace(go.Bar(x=part["model"], y=part[f"{metric} mean"], name=init, marker_color=color,
                                 error_y=dict(type="data", array=part[f"{metric} std"].fillna(0)),
                                 legendgroup=init, showlegend=(r == 1 and c == 1)), r, c)
fig.update_layout(barmode="group", height=330 * len(S.fractions),
                  title=f"TL vs RI, mean over {len(labels)} pathologies ({S.data_label})")
fig.show()

# %%
spread = figures.repeats_table(results, ["fraction", "model", "init"])
spread["TL weights"] = [weight_kinds[m] if i == "TL" else "random" for m, i in zip(spread.model, spread.init)]
means = results.groupby(["fraction", "model", "init"])[["AUROC", "AUPRC"]].mean().unstack("init")
for metric in ("AUROC", "AUPRC"):
    gap = (means[(metric, "TL")] - means[(metric, "RI")]).round(3).rename(f"{metric} TL-RI (means)")
    spread = spread.merge(gap.reset_index(), on=["fraction", "model"])
plots.show_table(spread, f"TL and RI per model and training-set fraction, mean ± sd over repeats ({S.data_label})",
                 note=f"Mean over pathologies; sd and n over {S.repeats} repeat(s) per cell; {len(tables['test'])} "
                      "test images. " + (f"Flagged: {mixed}. " if mixed else "")
                      + "The claims ledger judges TL vs RI with a paired-bootstrap interval on these test images.")

# %% [markdown]
# ### Fig. 3: TL vs RI per pathology
#
# The paper's Fig. 3 shows, per pathology, TL beside RI for each model (CheXpert, all the training data;
# standard deviation over its three repeats at most the value printed under the figure). Bars are the
# mean over this run's repeats, error bars their standard deviation (hover for n).

# %%
figures.tl_vs_ri_per_pathology(results, fraction=max(S.fractions), data_label=S.data_label).show()

# %% [markdown]
# ### Figs. 5-6: truncated vs full vs shallow networks (transfer learning)
#
# Per-pathology AUPRC and AUROC of every model trained by transfer learning on the full training set.

# %%
tl_full = results[(results.init == "TL") & (results.fraction == max(S.fractions))]
per = (pd.DataFrame([{"model": r.model, "pathology": lab, **vals} for r in tl_full.itertuples()
                     for lab, vals in r.per_label.items()])
       .groupby(["model", "pathology"], as_index=False).mean(numeric_only=True))
fig = make_subplots(rows=1, cols=2, subplot_titles=("AUROC", "AUPRC"), shared_yaxes=True, horizontal_spacing=0.04)
for c, metric in enumerate(("AUROC", "AUPRC"), start=1):
    grid = per.pivot(index="pathology", columns="model", values=metric)[S.models]
    fig.add_trace(go.Heatmap(z=grid.values, x=grid.columns, y=grid.index, coloraxis="coloraxis",
                             text=np.round(grid.values, 2), texttemplate="%{text}"), 1, c)
fig.update_layout(coloraxis=dict(colorscale="Viridis", cmin=0, cmax=1), height=140 + 30 * len(labels),
                  margin=dict(l=190),
                  title=f"Per-pathology TL scores ({S.data_label})")
fig.show()

# %%
best = figures.repeats_table(tl_full, ["model"]).assign(
    order=tl_full.groupby("model", sort=False)["AUPRC"].mean().to_numpy())
best["TL weights"] = best["model"].map(weight_kinds)
savings = compute.merge(best, on="model").sort_values("order", ascending=False).drop(columns="order")
plots.show_table(savings, f"TL models ranked by mean AUPRC, with their size and speed ({S.data_label})",
                 note=f"Mean ± sd over {S.repeats} repeat(s), n = repeats. "
                      + (f"Flagged: {mixed}." if mixed else ""))

# %% [markdown]
# ### §4: rare labels, decent AUROC, very low AUPRC
#
# The paper notes that on its four rarest CheXpert labels the AUPRC of even the best models stays very
# low while their AUROC looks decent, and concludes that AUPRC must be reported. Here: per label of the
# test set, the negatives per positive and the best TL model's AUROC and AUPRC (mean over repeats); the
# ledger judges the point on the labels at least as rare as the paper's rarest-but-three.

# %%
rare = reference.load("rethink_transfer", source="§4, Fig. 6")
rare_ratio = rare.loc[rare.metric == "negatives per positive", "value"].min()
auroc_floor = rare.loc[rare.metric == "AUROC lower bound", "value"].item() / 100
auprc_ceiling = rare.loc[rare.metric == "AUPRC upper bound", "value"].item() / 100
best_model = tl_full.groupby("model")["AUPRC"].mean().idxmax()
best_scores = claims.stacked_scores(predictions, init="TL", fraction=max(S.fractions), model=best_model)
positives = y_test.sum(axis=0)
best_per = per[per.model == best_model].set_index("pathology").reindex(labels)
rare_table = pd.DataFrame({"label": labels, "positives": positives.astype(int),
                           "negatives per positive": np.round((len(y_test) - positives) / positives, 1),
                           "AUROC": best_per["AUROC"].to_numpy(), "AUPRC": best_per["AUPRC"].to_numpy()})
plots.show_table(rare_table.sort_values("negatives per positive", ascending=False).round(3),
                 f"Imbalance and scores per label: {best_model} (TL), test set ({S.data_label})",
                 note=f"Labels with at least {rare_ratio:g} negatives per positive count as rare (the least rare of "
                      "the paper's four). " + (figures.rarity_comparison(*compared) if compared is not None else ""))

# %% [markdown]
# ## Claims ledger

# %%
ledger = Ledger("rethink_transfer", S.data_label)
smoke = S.profile == "smoke"
ledger.judge(chapter.CLAIMS[0], claims.auprc_separates(study), data=f"simulated scores, {S.n_draws} seeded draws")
ledger.judge(chapter.CLAIMS[1], claims.transfer_claim(y_test, predictions, S.fractions, smoke=smoke,
                                                      kinds=weight_kinds))
tl_scores = {name: claims.stacked_scores(predictions, init="TL", fraction=max(S.fractions), model=name)
             for name in S.models}
ledger.judge(chapter.CLAIMS[2], claims.truncated_claim(y_test, tl_scores, dict(zip(compute.model, compute.kind)),
                                                       smoke=smoke, sources=weight_kinds))
depth = dict(zip(compute.model, compute.kind))
for index, group in ((3, "deep"), (4, "shallow")):
    ledger.judge(chapter.CLAIMS[index], claims.tl_vs_ri_by_depth(y_test, predictions, depth, group=group,
                                                                 fraction=max(S.fractions), smoke=smoke,
                                                                 kinds=weight_kinds))
ledger.judge(chapter.CLAIMS[5], claims.rare_label_gap(y_test, best_scores, labels, rare_ratio=rare_ratio,
                                                      auroc_above=auroc_floor, auprc_below=auprc_ceiling,
                                                      model=f"{best_model} (TL)", smoke=smoke))
ledger.save(S.out_dir, profile=S.profile, dataset=S.dataset, seconds=round(clock.seconds, 1))
ledger.show()

# %% [markdown]
# ## Differences from the paper and from its official code
#
# - **Fig. 2 construction.** The paper says the positives are scored "uniformly over the top 12 / 30"
#   without saying where exactly. We draw the placement at random and report distributions; the
#   paper's A values correspond to a near-best placement, its B values to a typical one.
# - **AUPRC definition.** The official code computes AUPRC as `auc(recall, precision)`, the trapezoid
#   area under scikit-learn's PR curve. Average precision (AP), the step-wise sum most libraries report,
#   differs from it on this example (the median gap is computed above the ledger). paperkit offers both
#   (`auprc_trapezoid`, `auprc_ap`); the chapter follows the paper's code.
# - **Training set-up.** The table below is generated from this run's settings: for each training choice,
#   what the paper says, what its official code does, what this run does and whether that follows the
#   paper, the official code, a choice of this chapter (where the paper is silent) or the profile's smaller
#   scale. `official=True` switches every row the official code decides to its value (RGB input with
#   ImageNet normalisation, random resized crop and flip, BCE with `pos_weight`, the LR scheduler on the
#   validation loss and the checkpoint of lowest validation loss, U-Ones); the paper's set-up keeps U-Zeros.
# - **BatchNorm statistics (small profiles only).** After a few dozen optimiser steps the running BatchNorm
#   averages lag far behind the weights, so eval-mode scores are dominated by stale statistics (for a TL model,
#   partly the source task's). The smoke and classroom profiles therefore recompute them on 64 training images
#   before every evaluation (`recalibrate_bn=True`, `torch.optim.swa_utils.update_bn`); the weights are
#   untouched. The official code does not do this and the paper profile does not either. Source pretraining
#   always does it before measuring its accuracy.
# - **Pretraining.** Where no ImageNet checkpoint is used, TL starts from a model pretrained here on a
#   synthetic source task (8 classes: disc or cross x four textures; fresh images, Adam at `source_lr`,
#   batch `source_batch_size`) or on an image folder (`source_dataset="imagefolder"`), with its validation
#   accuracy reported in the table above; the synthetic task tests the *mechanism* of transfer (do
#   low/mid-level features learnt elsewhere help?), not ImageNet's particular features. Tables name each TL
#   model's weight source, and a claim that compares models with different sources is not judged. As in the
#   paper, a truncated network takes the bottom of its full parent's pretrained weights.
# - **Scale.** The small profiles train a few models once each on a few hundred synthetic images or
#   fewer, at a small image size for a few epochs (this run's numbers are listed below); the paper trains
#   14 models three times on 160,858 CheXpert or about 30,800 COVID-19 images, with 5 % and 10 % subsets
#   (1,539 and 3,080 images) of the COVID-19 set, and states neither image size nor epochs. The ledger's intervals
#   say how much a test set of this run's size can tell; the verdicts here are about this run, not about
#   the paper's data.
# - **Datasets.** The data-poor regime is simulated on whichever dataset runs (the paper: COVID-19 only).
#   `dataset="csv"` follows §2.3's prospective split; a patient imaged both before and after the cutoff is
#   kept for development and their later images left out of test (the paper does not say; see
#   `prospective_split(crossing=...)`). `dataset="medmnist"` uses the official split; MedMNIST publishes no
#   patient ids, so each image counts as its own patient, and its 28-px images are upsampled to `image_size`.
# - **Dens-T3.** Dens-T1..T3 keep each dense block with its transition; the paper's "3 (88%)" for Dens-T3
#   matches 88 of 121 layers, not 88%.

# %%
plots.show_table(training.difference_rows(setup, extra=training.chapter_items(S, {
                     experiment.parent_of(m): k for m, k in weight_kinds.items()})),
                 f"Training set-up: the paper, its official code and this run ({S.profile} profile, "
                 f"official={S.official})",
                 note="Generated from this run's settings (paperkit.chapters.rethink_transfer.setup); 'choice' marks a "
                      "value the paper does not state.")

# %%
n_train = results.groupby("fraction")["n_train"].first()
display(Markdown(
    f"**This run** ({S.profile} profile, {S.data_label}): {len(S.models)} model(s) ({', '.join(S.models)}), "
    f"{S.repeats} run(s) each, trained on " + ", ".join(f"{n} images ({f:.0%})" for f, n in n_train.items())
    + f" at {S.image_size} px for at most {S.epochs} epoch(s), batch {S.batch_size}, learning rate {S.lr:g}; "
    f"tested on {len(tables['test'])} images with {len(labels)} label(s)."))

# %% [markdown]
# ## Exercises
#
# Each exercise is followed by its solution, hidden behind a toggle on the page: it runs in this
# notebook on this run's data and models, so its numbers are this run's. The teacher's page lists how
# long each solution took when the book was built.

# %% [markdown]
# :::{exercise}
# :label: rethink_transfer-ex-1
#
# Make the problem balanced: call `figures.imbalance_study(S.n_draws, n_neg=10, classifiers={"A": 12, "B": 20})`
# (10 positives, 10 negatives). Do AUROC and AUPRC now agree on which classifier is better, and by
# how much?
# :::

# %% [markdown]
# :::{solution-start} rethink_transfer-ex-1
# :class: dropdown
# :::

# %% tags=["solution"]
balanced = figures.imbalance_study(S.n_draws, n_neg=10, classifiers={"A": 12, "B": 20}, seed=S.seed)
gap_balanced = balanced.groupby("classifier")[["AUROC", "AUPRC", "AP"]].median()
gap_imbalanced = study.groupby("classifier")[["AUROC", "AUPRC", "AP"]].median()
answer = pd.DataFrame({"balanced: A minus B": gap_balanced.loc["A"] - gap_balanced.loc["B"],
                       "Fig. 2 imbalance: A minus B": gap_imbalanced.loc["A"] - gap_imbalanced.loc["B"]})
plots.show_table(answer.round(3).rename_axis("metric").reset_index(),
                 f"Median difference between the classifiers over {S.n_draws} draws (simulated scores)",
                 note="Balanced: 10 positives, 10 negatives, A within its top 12 and B within its top 20. "
                      "Imbalanced: the Fig. 2 construction above (990 negatives, top 12 vs top 30).")
display(Markdown(
    f"Balanced, AUROC separates A from B by {answer.loc['AUROC', 'balanced: A minus B']:.3f} and AUPRC by "
    f"{answer.loc['AUPRC', 'balanced: A minus B']:.3f}: both metrics now see the difference. Under the paper's "
    f"imbalance AUROC's gap shrinks to {answer.loc['AUROC', 'Fig. 2 imbalance: A minus B']:.3f}, "
    "because the false positives are divided by hundreds of negatives."))

# %% [markdown]
# :::{solution-end}
# :::

# %% [markdown]
# :::{exercise}
# :label: rethink_transfer-ex-2
#
# Keep B's top-30 ranking but raise the number of negatives from 990 to 99,990. What happens to
# B's AUROC, and to its AUPRC? Which metric tracks what a clinician would experience?
# :::

# %% [markdown]
# :::{solution-start} rethink_transfer-ex-2
# :class: dropdown
# :::

# %% tags=["solution"]
few_draws = min(S.n_draws, 50)  # each draw ranks a hundred thousand cases
rows = []
for n_neg in (990, 99_990):
    draws_b = figures.imbalance_study(few_draws, n_neg=n_neg, classifiers={"B": 30}, seed=S.seed)
    rows.append({"negatives": n_neg, "positives": 10, **draws_b[["AUROC", "AUPRC", "AP"]].median().round(4)})
more_negatives = pd.DataFrame(rows)
plots.show_table(more_negatives, f"Classifier B (positives within its top 30), median over {few_draws} draws "
                                 "(simulated scores)")
display(Markdown(
    f"AUROC moves from {more_negatives.AUROC.iloc[0]:.4f} to {more_negatives.AUROC.iloc[1]:.4f}: the same 20 false "
    "positives are a smaller share of a larger negative class. AUPRC goes from "
    f"{more_negatives.AUPRC.iloc[0]:.4f} to {more_negatives.AUPRC.iloc[1]:.4f}: precision counts those false positives "
    "against the 10 true positives, which is what a clinician reviewing the flagged cases experiences (most of the "
    "cases B flags are negative), whatever the size of the population behind them."))

# %% [markdown]
# :::{solution-end}
# :::

# %% [markdown]
# :::{exercise}
# :label: rethink_transfer-ex-3
#
# Compute AP and the trapezoid AUPRC on a single draw by hand from the precision-recall points and
# explain why they differ.
# :::

# %% [markdown]
# :::{solution-start} rethink_transfer-ex-3
# :class: dropdown
# :::

# %% tags=["solution"]
from sklearn.metrics import auc, average_precision_score

y_draw, s_draw = figures.representative_draw(study, "B", seed=S.seed)
precision, recall, _ = precision_recall_curve(y_draw, s_draw)  # recall falls along the arrays
steps = -np.diff(recall)
by_hand = pd.DataFrame([
    {"area": "AP: each recall step times the precision reached at its end", "by hand": np.sum(steps * precision[:-1]),
     "library": average_precision_score(y_draw, s_draw)},
    {"area": "trapezoid: each recall step times the mean precision of its two ends",
     "by hand": np.sum(steps * (precision[:-1] + precision[1:]) / 2), "library": auc(recall, precision)}])
plots.show_table(by_hand.round(4), "Classifier B, its median-AUPRC draw: two areas under one precision-recall curve "
                                   "(simulated scores)")
trapezoid_minus_ap = by_hand["by hand"].iloc[1] - by_hand["by hand"].iloc[0]
display(Markdown(
    "The two areas use the same points. AP holds precision constant over each recall step, at the value reached "
    "when the step's positive is found; the trapezoid averages that value with the precision at the step's start, "
    "which the negatives ranked just before the positive have pulled down (and, for the first step, with the "
    "curve's starting point, precision 1). On this draw the trapezoid is "
    f"{'larger' if trapezoid_minus_ap > 0 else 'smaller'} than AP by {abs(trapezoid_minus_ap):.4f}; the paper's "
    "code reports the trapezoid."))

# %% [markdown]
# :::{solution-end}
# :::

# %% [markdown]
# ### Going further
#
# These need a run of their own (a different pretraining or a real dataset), so no solution is computed here:
#
# - Weaken the substitute pretraining: run with `-p source_images 64`. The source accuracy in the
#   pretraining table drops towards chance. What happens to the TL-minus-RI table? What does that say
#   about reading a TL-vs-RI comparison without knowing how good the source model was?
# - Run the chapter on real chest X-rays: `-p dataset medmnist -p data_dir .../medmnist` (PneumoniaMNIST).
#   Pneumonia is the *majority* class there (see the data table); how do AUROC and AUPRC compare now, and why?
# - Switch to the official code's training set-up: `-p official True`. Which rows of the differences table
#   change, and which of them change the labels rather than the training? Does the TL-minus-RI table move?

# %%
print(finish(S, clock))
