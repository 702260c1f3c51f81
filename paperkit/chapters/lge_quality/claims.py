"""The lge_quality claims ledger's verdicts: pure functions of per-scan result tables, unit-tested.

Every comparison between two QA methods is judged on their per-scan test predictions with a paired,
class-stratified bootstrap over the test scans (:func:`paperkit.metrics.paired.paired_bootstrap`):
a claim holds only when the 95% interval of each difference it needs clears the margin, which is
never finer than what one test scan can change (:func:`paperkit.ledger.compare`). Several runs of a
method on the same scans are pooled, not counted as more scans: a draw takes every run's prediction
of each drawn scan. With a dozen test scans one scan moves F1 or specificity by a fifth or more, so
"not testable here" is the honest verdict of a small run.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from paperkit.ledger import Verdict, compare
from paperkit.metrics.paired import Difference, paired_bootstrap

# The three QA strategies in the order claim 1 ranks them, best first.
RANKED = ("supcon_qa", "multitask_qa", "qa_resnet34")
SMOKE = "the smoke profile trains for one epoch: its models support no claim; run the classroom profile"
SCAN_COLUMNS = ("method", "case_id", "true", "predicted")


def pooled_predictions(scans: pd.DataFrame, method: str, by: str = "run") -> tuple[pd.Series, pd.DataFrame]:
    """``(true label per scan, predicted label per scan x run)`` of ``method``, scans sorted by id.

    ``scans`` has one row per (method, ``by``, scan) with columns ``method``, ``by``, ``case_id``,
    ``true`` and ``predicted``; the columns of the second frame are the values of ``by``.
    """
    missing = [c for c in (*SCAN_COLUMNS, by) if c not in scans]
    if missing:
        raise ValueError(f"the scan table lacks columns {missing}; expected {[*SCAN_COLUMNS, by]}")
    rows = scans[scans["method"] == method]
    truth = rows.groupby("case_id")["true"].first().sort_index()
    return truth, rows.pivot(index="case_id", columns=by, values="predicted").loc[truth.index]


def compare_methods(scans: pd.DataFrame, better: str, worse: str, metric: str, *, by: str = "run",
                    n_boot: int = 2000, seed: int = 0) -> Difference:
    """Paired bootstrap over the test scans of ``metric(better) - metric(worse)``, runs pooled.

    Both methods must have predicted the same scans in the same runs (``by`` values).
    """
    y_a, a = pooled_predictions(scans, better, by)
    y_b, b = pooled_predictions(scans, worse, by)
    if list(y_a.index) != list(y_b.index) or not np.array_equal(y_a, y_b) or list(a.columns) != list(b.columns):
        raise ValueError(f"{better} and {worse} were not tested on the same scans and runs ({by}); "
                         "a paired comparison needs both on the same items")
    if a.isna().any().any() or b.isna().any().any():
        raise ValueError(f"a run of {better} or {worse} lacks a prediction for some test scan")
    return paired_bootstrap(y_a.to_numpy(int), a.to_numpy(int), b.to_numpy(int), metric=metric, a=better, b=worse,
                            n_boot=n_boot, seed=seed)


def all_of(differences: Sequence[Difference], criterion: str) -> Verdict:
    """One verdict from several "a beats b" differences: supported when every one is, not supported when
    any one's interval clears its margin the wrong way, not testable otherwise.

    The row's effect and interval are those of the difference that decides: the first refuted one, else
    the first undecided one, else the one whose interval is closest to its margin.
    """
    verdicts = [compare(d) for d in differences]
    holds = [v.holds for v in verdicts]
    if False in holds:
        decide, result = holds.index(False), False
    elif None in holds:
        decide, result = holds.index(None), None
    else:
        decide = int(np.argmin([d.low - d.margin() for d in differences]))
        result = True
    d = differences[decide]
    evidence = "; ".join(f"{d.describe()} (margin ±{d.margin():.3f})" for d in differences)
    return Verdict(result, evidence, criterion, d.effect, d.low, d.high, d.n)


def _both_classes(truth: pd.Series) -> bool:
    return truth.nunique() == 2


def contrastive_beats_multitask(scans: pd.DataFrame, *, smoke: bool, n_boot: int = 2000) -> Verdict:
    """Claim 1 (contrastive > multi-task > QA in F1 and specificity) on the Table 2 runs' test scans.

    ``scans``: one row per (method, run, test scan) with ``method``, ``run``, ``case_id``, ``true``,
    ``predicted`` (each run's :func:`~paperkit.chapters.lge_quality.experiment.scan_predictions`). Four
    paired comparisons over the scans, every run pooled: contrastive vs multi-task and multi-task vs
    QA, in F1 and in specificity; all four must clear their margins (:func:`all_of`). Not testable in
    smoke, without all three methods, or without both labels among the test scans.
    """
    if smoke:
        return Verdict(None, SMOKE)
    present = set(scans["method"]) if "method" in scans else set()
    if not set(RANKED) <= present:
        return Verdict(None, f"needs all three QA methods (this run: {sorted(present) or 'none'})")
    truth, runs = pooled_predictions(scans, RANKED[0])
    if not _both_classes(truth):
        return Verdict(None, f"the {len(truth)} test scans hold one label only; F1 and specificity need both")
    diffs = [compare_methods(scans, better, worse, metric, n_boot=n_boot)
             for metric in ("f1", "specificity") for better, worse in zip(RANKED, RANKED[1:])]
    return all_of(diffs, f"paired bootstrap over the {len(truth)} test scans, {runs.shape[1]} run(s) pooled: "
                         "contrastive − multi-task and multi-task − QA, in F1 and in specificity; each 95% "
                         "interval must lie above its margin (one scan's worth at least)")


def multitask_attends_atrium(shares: pd.DataFrame | None, *, smoke: bool, n_boot: int = 2000) -> Verdict:
    """Claim 2 (the multi-task model looks at the atrium, more than QA and more than chance).

    ``shares``: one row per explained test slice with atrium, columns ``case_id``, ``true`` (the scan's
    QA label), ``QA`` and ``Multi-Task QA`` (the HiResCAM mass inside the grown atrium,
    :func:`~paperkit.chapters.lge_quality.figures.atrium_shares`) and ``area share`` (chance), or None when
    this run lacks one of the two models. Slices are averaged per scan; two paired bootstraps over the
    scans (Multi-Task − QA, Multi-Task − area share) must both clear a margin of one scan's worth of a
    share (``1/scans``).
    """
    if smoke:
        return Verdict(None, SMOKE)
    if shares is None or shares.empty:
        return Verdict(None, "needs qa_resnet34 and multitask_qa, and explained test slices with atrium")
    per_scan = shares.groupby("case_id").agg({"true": "first", "QA": "mean", "Multi-Task QA": "mean",
                                              "area share": "mean"})
    n = len(per_scan)
    if n < 2:
        return Verdict(None, f"{n} test scan(s) explained; a bootstrap over scans needs more")

    def mean_share(_, share):
        return float(np.mean(share))

    y, mt = per_scan["true"].to_numpy(int), per_scan["Multi-Task QA"].to_numpy()
    diffs = [paired_bootstrap(y, mt, per_scan[other].to_numpy(), metric=mean_share, a="Multi-Task QA", b=other,
                              n_boot=n_boot, resolution=1.0 / n) for other in ("QA", "area share")]
    return all_of(diffs, f"paired bootstrap over {n} test scans of the mean HiResCAM (layer3) mass inside the "
                         "atrium (+2 px): Multi-Task QA above QA and above the atrium's area share, each 95% "
                         "interval above a margin of one scan's worth (1/scans)")


def contrastive_with_few_labels(curve_scans: pd.DataFrame, n_train: int, *, smoke: bool,
                                n_boot: int = 2000) -> Verdict:
    """Claim 3 (contrastive beats multi-task with few labels) on the label-subset runs' test scans.

    ``curve_scans``: one row per (labelled scans, method, test scan) with ``labelled scans``,
    ``method``, ``case_id``, ``true``, ``predicted``; ``n_train`` is the full training set's size. The
    subsets smaller than it (run 1 each) are pooled like runs of one condition: contrastive − multi-task
    in F1 and in specificity must both clear their margins. Not testable in smoke, without both
    methods, without a subset smaller than the full set, or without both labels among the test scans.
    """
    if smoke:
        return Verdict(None, SMOKE)
    few = curve_scans[curve_scans["labelled scans"] < n_train] if "labelled scans" in curve_scans else curve_scans[:0]
    if few.empty:
        return Verdict(None, f"no label subset smaller than the {n_train} training scans in this run")
    if not {"supcon_qa", "multitask_qa"} <= set(few["method"]):
        return Verdict(None, "needs supcon_qa and multitask_qa trained on the label subsets")
    sizes = sorted(set(few["labelled scans"]))
    truth, _ = pooled_predictions(few, "supcon_qa", by="labelled scans")
    if not _both_classes(truth):
        return Verdict(None, f"the {len(truth)} test scans hold one label only; F1 and specificity need both")
    diffs = [compare_methods(few, "supcon_qa", "multitask_qa", metric, by="labelled scans", n_boot=n_boot)
             for metric in ("f1", "specificity")]
    return all_of(diffs, f"paired bootstrap over the {len(truth)} test scans, the subsets of "
                         f"{', '.join(map(str, sizes))} labelled scans (run 1 each) pooled: contrastive − "
                         "multi-task in F1 and in specificity, each 95% interval above its margin "
                         "(one scan's worth at least)")


def _cosine_distances(embedding: np.ndarray) -> np.ndarray:
    from sklearn.metrics import pairwise_distances

    return pairwise_distances(np.asarray(embedding, dtype=float), metric="cosine")


def silhouette_difference(embeddings: Mapping[str, tuple[pd.DataFrame, np.ndarray]], better: str, worse: str, *,
                          n_boot: int = 2000, seed: int = 0) -> Difference:
    """Paired bootstrap over the test scans of ``silhouette(better) - silhouette(worse)`` of the QA labels.

    ``embeddings[method]`` is ``(frame, embedding)`` of :func:`~paperkit.chapters.lge_quality.experiment.
    predict_slices` on the test slices (``frame`` with ``case_id`` and ``qa_true``, one row per slice of
    ``embedding``). The silhouette (scikit-learn, cosine distance in the encoder's space) of the slices
    grouped by their scan's QA label; each draw resamples the scans within each label and recomputes both
    methods' silhouettes on the drawn scans' slices (a scan drawn twice brings its slices twice). The
    resolution (a margin is never finer) is one scan's worth of the silhouette's range [-1, 1]: ``2 / scans``.
    """
    from sklearn.metrics import silhouette_score

    frames = {m: embeddings[m][0].reset_index(drop=True) for m in (better, worse)}
    keys = {m: list(zip(f["case_id"], f["slice"] if "slice" in f else range(len(f)))) for m, f in frames.items()}
    if keys[better] != keys[worse]:
        raise ValueError(f"{better} and {worse} embedded different test slices; a paired comparison needs the same")
    frame = frames[better]
    scans = frame.groupby("case_id", sort=True)["qa_true"].first()
    rows_of = [np.flatnonzero(frame["case_id"].to_numpy() == case) for case in scans.index]
    distances = [_cosine_distances(embeddings[m][1]) for m in (better, worse)]
    labels = frame["qa_true"].to_numpy(int)

    def silhouette(_, items):
        # items: (drawn scans, 2) = (scan index, which method: 0 better, 1 worse)
        rows = np.concatenate([rows_of[i] for i in items[:, 0].astype(int)])
        d = distances[int(items[0, 1])][np.ix_(rows, rows)]
        return float(silhouette_score(d, labels[rows], metric="precomputed"))

    index = np.arange(len(scans))
    return paired_bootstrap(scans.to_numpy(int), np.column_stack([index, np.zeros_like(index)]),
                            np.column_stack([index, np.ones_like(index)]), metric=silhouette, a=better, b=worse,
                            n_boot=n_boot, seed=seed, resolution=2.0 / len(scans))


def contrastive_tighter_clusters(embeddings: Mapping[str, tuple[pd.DataFrame, np.ndarray]] | None, *, smoke: bool,
                                 n_boot: int = 2000) -> Verdict:
    """Fig. 3 (the contrastive encoder forms tighter label clusters than the other methods' encoders).

    ``embeddings``: method -> ``(frame, embedding)`` of the test slices, run 1 (what the figure shows, as
    the paper shows its 1st run). The separation is the silhouette of the QA labels (cosine distance,
    original embedding space); contrastive − QA and contrastive − multi-task must both clear a margin of
    one scan's worth (:func:`silhouette_difference`, :func:`all_of`). Not testable in smoke, without the
    three methods, or with fewer than two test scans of either label.
    """
    if smoke:
        return Verdict(None, SMOKE)
    present = set(embeddings or {})
    if not set(RANKED) <= present:
        return Verdict(None, f"needs the embeddings of all three QA methods (this run: {sorted(present) or 'none'})")
    frame = embeddings[RANKED[0]][0]
    per_label = frame.groupby("case_id")["qa_true"].first().value_counts()
    if len(per_label) < 2 or per_label.min() < 2:
        return Verdict(None, f"the test scans hold {dict(per_label)} per QA label; a silhouette over scans "
                             "needs at least two scans of each label")
    diffs = [silhouette_difference(embeddings, RANKED[0], other, n_boot=n_boot) for other in RANKED[1:]]
    return all_of(diffs, f"paired bootstrap over the {diffs[0].n} test scans (resampled within each label) of the "
                         "silhouette of the QA labels in each encoder's embedding space (cosine, run 1): "
                         "contrastive − QA and contrastive − multi-task, each 95% interval above a margin of one "
                         "scan's worth of the silhouette's range (2/scans)")
