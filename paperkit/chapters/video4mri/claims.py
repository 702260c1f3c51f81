"""The video4mri claims ledger's verdicts: pure functions of this run's stored results, unit-tested.

* Accuracy claims (1-3) are judged on the per-item test predictions every run stores
  (:class:`ItemPredictions`): a paired, class-stratified bootstrap of the accuracy difference on
  the same test volumes (:func:`paperkit.metrics.paired.paired_bootstrap`) decided by
  :func:`paperkit.ledger.compare`, with no margin finer than one test volume.
* Cost claims (4, 5 and claim 2's "cheaper") are judged on models timed side by side
  (:func:`paperkit.timing.time_side_by_side`), never on training wall time per epoch.

A model that has not learnt (test AUROC below :data:`LEARNT_AUROC`) decides no comparison, and a
test set of fewer than :data:`MIN_TEST_ITEMS` volumes decides none either.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
from sklearn.metrics import roc_auc_score

from paperkit.ledger import Verdict, compare
from paperkit.metrics.classification import auroc
from paperkit.metrics.paired import accuracy_of, paired_bootstrap

# A model whose test AUROC is below this has not learnt in the run's budget: the chapter names it, and
# no comparison is judged on it.
LEARNT_AUROC = 0.6
# Fewer test volumes than this decide nothing: a percentile bootstrap of so few items is no 95% interval
# (on 4 volumes, one model right on all and the other wrong on all gives the interval [1, 1]).
MIN_TEST_ITEMS = 10
# Claim 2: "TSM matches the best model" means its accuracy is at most this much below it (5 points, a
# stated choice); the margin used is never finer than one test volume.
MATCH_MARGIN = 0.05
# Claim 4: the TSM/TSN training-step ratio that counts as "no cost" (the paper's own 20 s / 19 s is 1.053).
SHIFT_COST_RATIO = 1.05
N_BOOT = 2000
PAIRED = (f"the 95% interval of a paired, class-stratified bootstrap ({N_BOOT} draws) of the test-accuracy difference "
          "on the same test volumes lies above +margin (below -margin: not supported), the margin never finer than "
          f"one test volume; fewer than {MIN_TEST_ITEMS} test volumes or a model with test AUROC below {LEARNT_AUROC}: "
          "not testable")
BEST = ("'best' = the highest accuracy on the test set within each family, as the paper's Table 2 ranks models "
        f"(it has no validation split), among models that have learnt (test AUROC at least {LEARNT_AUROC})")


@dataclass(frozen=True)
class ItemPredictions:
    """One run's test predictions: labels ``y_true`` (n,), class ``probabilities`` (n, classes) and, when
    the run stored them, the test items' ids in the same order."""

    y_true: np.ndarray
    probabilities: np.ndarray
    ids: np.ndarray | None = None

    @property
    def accuracy(self) -> float:
        return accuracy_of(self.y_true, self.probabilities)

    @property
    def auroc(self) -> float:
        """AUROC (class 1's probability for two classes, macro one-vs-rest for more); NaN for one class."""
        if len(np.unique(self.y_true)) < 2:
            return float("nan")
        if self.probabilities.shape[1] == 2:
            return float(auroc(self.y_true, self.probabilities[:, 1]))
        return float(roc_auc_score(self.y_true, self.probabilities, multi_class="ovr", average="macro",
                                   labels=list(range(self.probabilities.shape[1]))))

    @property
    def learnt(self) -> bool:
        return bool(self.auroc >= LEARNT_AUROC)  # False for NaN


def _video(names) -> list[str]:
    return [m for m in names if m.startswith(("tsm", "slowfast"))]


def _three_d(names) -> list[str]:
    return [m for m in names if m.startswith("r3d")]


def unlearnt_note(frame) -> str | None:
    """A note naming the models (rows with ``model`` and ``auroc``) whose test AUROC says they have not learnt."""
    unlearnt = frame[frame.auroc < LEARNT_AUROC]
    if not len(unlearnt):
        return None
    return (f"Not learnt in this run's budget (test AUROC below {LEARNT_AUROC}): "
            + ", ".join(f"{r.model} (AUROC {r.auroc:.2f})" for r in unlearnt.itertuples())
            + ".\nA comparison with these models says more about the budget than about the architecture.")


def _best(predictions: Mapping[str, ItemPredictions], names) -> str | None:
    """The learnt model of ``names`` with the highest test accuracy (ties: higher AUROC, then name order)."""
    learnt = [n for n in names if predictions[n].learnt]
    return min(learnt, key=lambda n: (-predictions[n].accuracy, -predictions[n].auroc, n), default=None)


def _misaligned(p: ItemPredictions, q: ItemPredictions) -> str | None:
    """Why two runs' predictions are not on the same test items in the same order (None when they are)."""
    if len(p.y_true) != len(q.y_true) or not np.array_equal(p.y_true, q.y_true):
        return "the two runs' test labels differ: not the same test volumes in the same order"
    if p.ids is not None and q.ids is not None and not np.array_equal(p.ids, q.ids):
        return "the two runs' test item ids differ: not the same test volumes in the same order"
    return None


def paired_verdict(predictions: Mapping[str, ItemPredictions], a: str, b: str, *, claim: str = "beats",
                   margin: float = 0.0, seed: int = 0) -> Verdict:
    """``a`` beats (or matches) ``b`` in test accuracy, judged on a paired bootstrap of the same test volumes.

    Not testable when either run has not learnt, the runs' test items differ, or there are fewer than
    :data:`MIN_TEST_ITEMS` of them; otherwise :func:`paperkit.ledger.compare` decides (``margin`` never
    finer than one test volume).
    """
    p, q = predictions[a], predictions[b]
    if reason := _misaligned(p, q):
        return Verdict(None, f"{a} vs {b}: {reason}")
    if len(p.y_true) < MIN_TEST_ITEMS:
        return Verdict(None, f"{a} vs {b}: {len(p.y_true)} test volumes, fewer than {MIN_TEST_ITEMS}",
                       f"at least {MIN_TEST_ITEMS} test volumes", n=len(p.y_true))
    unlearnt = [n for n in (a, b) if not predictions[n].learnt]
    if unlearnt:
        return Verdict(None, f"{a} vs {b}: " + ", ".join(f"{n} has not learnt (AUROC {predictions[n].auroc:.2f})"
                                                          for n in unlearnt),
                       f"both models learnt (test AUROC at least {LEARNT_AUROC})", n=len(p.y_true))
    difference = paired_bootstrap(p.y_true, p.probabilities, q.probabilities, metric="accuracy", a=a, b=b,
                                  n_boot=N_BOOT, seed=seed)
    return compare(difference, margin=margin, claim=claim)


def _all(holds: list[bool | None]) -> bool | None:
    """A conjunction of verdicts: False if any is False, True if all are True, otherwise None."""
    return False if False in holds else (True if all(h is True for h in holds) else None)


def video_beats_3d(predictions: Mapping[str, ItemPredictions], data_label: str) -> Verdict:
    """Claim 1 (video models beat 3D ResNets): the best TSM/SlowFast model vs the best 3D ResNet.

    ``predictions`` maps model names to their test predictions. Each side's best is chosen by test
    accuracy among models that have learnt (:data:`BEST`); the pair is judged by :func:`paired_verdict`
    ("beats", the one-volume margin). Not testable without both kinds or without a learnt model of each.
    """
    criterion = f"the best video model (TSM/SlowFast) beats the best 3D ResNet: {PAIRED}; {BEST}"
    video, three = _video(predictions), _three_d(predictions)
    if not video or not three:
        return Verdict(None, "needs a TSM or SlowFast model and a 3D ResNet in this run "
                       f"(has {', '.join(predictions)})", criterion)
    bv, b3 = _best(predictions, video), _best(predictions, three)
    if bv is None or b3 is None:
        return Verdict(None, "no " + ("video model" if bv is None else "3D ResNet") + f" has learnt on {data_label} "
                       f"(test AUROC at least {LEARNT_AUROC}): an unlearnt model decides nothing", criterion)
    v = paired_verdict(predictions, bv, b3)
    return Verdict(v.holds, f"best video model vs best 3D ResNet on {data_label}: {v.evidence}",
                   f"{v.criterion}; {BEST}" if v.effect is not None else criterion, v.effect, v.low, v.high, v.n)


def tsm_best_tradeoff(predictions: Mapping[str, ItemPredictions], params_m: Mapping[str, float],
                      inference) -> Verdict:
    """Claim 2 (TSM is the better trade-off): the best TSM matches the best other model and is cheaper.

    Matches: :func:`paired_verdict` with ``claim="matches"`` and :data:`MATCH_MARGIN` (never finer than
    one volume) against the most accurate other learnt model. Cheaper: fewer counted parameters
    (``params_m``, name -> millions) than every 3D ResNet of the run and faster inference, timed side
    by side (``inference``, a :class:`paperkit.timing.SideBySide`): the upper quartile of the per-round
    TSM/3D ratios below 1 is faster, a lower quartile at or above 1 is not, otherwise undecided.
    Holds when both parts hold, fails when either fails.
    """
    criterion = (f"the best TSM is no worse than the best other model by more than {MATCH_MARGIN} (a stated margin, "
                 "never finer than one test volume): the 95% paired-bootstrap interval of its test-accuracy "
                 "difference lies above -margin (wholly below: not supported); and it has fewer parameters than every "
                 "3D ResNet and faster inference timed side by side (the per-round TSM/3D ratios' upper quartile "
                 f"below 1; lower quartile at or above 1: not supported); {BEST}")
    tsm, three = [m for m in predictions if m.startswith("tsm")], _three_d(predictions)
    if not tsm or not three:
        return Verdict(None, f"needs a TSM model and a 3D ResNet in this run (has {', '.join(predictions)})",
                       criterion)
    t = _best(predictions, tsm)
    other = _best(predictions, [m for m in predictions if m != t])
    if t is None or other is None:
        return Verdict(None, f"needs a learnt TSM model and another learnt model (test AUROC at least {LEARNT_AUROC})",
                       criterion)
    match = paired_verdict(predictions, t, other, claim="matches", margin=MATCH_MARGIN)
    cost = [m for m in three if inference is None or m not in inference.seconds or t not in inference.seconds]
    if cost or any(m not in params_m for m in [t, *three]):
        cheap = Verdict(None, f"{t} vs {', '.join(three)}: not timed side by side or not counted here")
    else:
        ratios = [inference.ratio(t, m) for m in three]
        fewer = all(params_m[t] < params_m[m] for m in three)
        faster = _all([_ratio_below_one(r) for r in ratios])
        cheap = Verdict(_all([fewer, faster]),
                        f"{t} {params_m[t]:.1f}M parameters vs " + ", ".join(f"{m} {params_m[m]:.1f}M" for m in three)
                        + "; inference " + "; ".join(r.describe() for r in ratios))
    return Verdict(_all([match.holds, cheap.holds]),
                   f"best TSM vs best other model: {match.evidence}; {cheap.evidence}", criterion,
                   match.effect, match.low, match.high, match.n)


def augmentation_helps(predictions: Mapping[str, ItemPredictions], model: str | None) -> Verdict:
    """Claim 3 (rotation and CutMix help, MixUp hurts) from the augmentation ablation of ``model``.

    ``predictions`` maps Table 3's rows (``basic``, ``rotate``, ``rotate+cutmix``, ``rotate+mixup``, ...)
    to test predictions. Two paired comparisons: rotate+CutMix beats basic, and rotate beats
    rotate+MixUp. Holds when both hold, fails when either fails, otherwise not testable; the
    effect shown is the comparison that decides (the first that fails, else the weaker).
    """
    criterion = f"rotate+CutMix beats basic and rotate beats rotate+MixUp, each: {PAIRED}; both must hold"
    needed = ("basic", "rotate", "rotate+cutmix", "rotate+mixup")
    if model is None or not set(needed) <= set(predictions):
        return Verdict(None, "needs the augmentation ablation (basic, rotate, rotate+CutMix, rotate+MixUp) in this run",
                       criterion)
    helps = paired_verdict(predictions, "rotate+cutmix", "basic")
    hurts = paired_verdict(predictions, "rotate", "rotate+mixup")
    holds = _all([helps.holds, hurts.holds])
    pair = [helps, hurts]
    decides = (next((v for v in pair if v.holds is False), None) or next((v for v in pair if v.holds is None), None)
               or min(pair, key=lambda v: v.low))
    return Verdict(holds, f"{model}: CutMix {helps.evidence}; MixUp {hurts.evidence}", criterion,
                   decides.effect, decides.low, decides.high, decides.n)


def _ratio_below_one(ratio) -> bool | None:
    """True when the per-round ratios' upper quartile is below 1 (faster), False when the lower is at or above 1."""
    return True if ratio.q3 < 1 else (False if ratio.q1 >= 1 else None)


def _ratio_at_most(ratio, limit: float) -> bool | None:
    """True when the per-round ratios' upper quartile is at most ``limit``, False when the lower is above it."""
    return True if ratio.q3 <= limit else (False if ratio.q1 > limit else None)


def shift_costs_nothing(training) -> Verdict:
    """Claim 4 (the temporal shift adds no training cost over TSN) from training steps timed side by side.

    ``training`` is a :class:`paperkit.timing.SideBySide` (or None when not measured); every TSM timed
    with its TSN twin is compared. Holds when every TSM/TSN ratio's per-round upper quartile is at most
    :data:`SHIFT_COST_RATIO`, fails when some ratio's lower quartile is above it, otherwise not testable.
    """
    criterion = (f"every TSM/TSN training-step time ratio, timed side by side, is at most {SHIFT_COST_RATIO} over the "
                 "interquartile range of its per-round ratios (lower quartile above it: not supported; otherwise not "
                 "testable); effect = the ratio of medians, low/high = that interquartile range, n = timed rounds")
    names = training.names if training is not None else []
    pairs = [(t, t.replace("tsm", "tsn")) for t in names if t.startswith("tsm") and t.replace("tsm", "tsn") in names]
    if not pairs:
        return Verdict(None, "needs a TSM model and its TSN twin timed side by side in this run", criterion)
    ratios = [training.ratio(t, n) for t, n in pairs]
    holds = _all([_ratio_at_most(r, SHIFT_COST_RATIO) for r in ratios])
    worst = max(ratios, key=lambda r: r.value)
    return Verdict(holds, "training step " + "; ".join(r.describe() for r in ratios) + f" ({training.what})",
                   criterion, worst.value, worst.q1, worst.q3, worst.rounds)


def tsm_faster_than_3d(inference) -> Verdict:
    """Claim 5 (TSM-Res18 infers faster than R3D-18) from inference timed side by side.

    Holds when the upper quartile of the per-round TSM-R18/R3D-18 ratios is below 1, fails when
    the lower quartile is at or above 1, otherwise not testable.
    """
    criterion = ("the interquartile range of the per-round TSM-R18/R3D-18 inference time ratios, timed side by side, "
                 "lies below 1 (at or above 1: not supported; otherwise not testable); effect = the ratio of medians, "
                 "low/high = that interquartile range, n = timed rounds")
    if inference is None or not {"tsm_r18", "r3d_18"} <= set(inference.names):
        return Verdict(None, "needs tsm_r18 and r3d_18 timed side by side in this run", criterion)
    r = inference.ratio("tsm_r18", "r3d_18")
    return Verdict(_ratio_below_one(r), f"inference {r.describe()} ({inference.what})", criterion, r.value, r.q1,
                   r.q3, r.rounds)


def video_models_smaller(params_m) -> Verdict:
    """Claim 6 (2D video models have fewer parameters than 3D ResNets) from counted parameters (name -> M)."""
    criterion = "the largest TSN/TSM has fewer trainable parameters than the smallest 3D ResNet (an exact count)"
    two_d = {n: v for n, v in params_m.items() if n.startswith(("tsn", "tsm"))}
    three = {n: v for n, v in params_m.items() if n.startswith("r3d")}
    if not two_d or not three:
        return Verdict(None, "needs a TSN/TSM model and a 3D ResNet to count", criterion)
    return Verdict(bool(max(two_d.values()) < min(three.values())),
                   f"2D video models {min(two_d.values()):.2f}-{max(two_d.values()):.2f}M vs 3D ResNets "
                   f"{min(three.values()):.2f}-{max(three.values()):.2f}M trainable parameters, counted here",
                   criterion)


PAPER_K = 32  # Fig. 2 / §4.1: the K the paper recommends


def k_choice(predictions: Mapping[str, Mapping[int, ItemPredictions]], chosen: int | None = None) -> Verdict:
    """Claim 7 (K = 32 is the better choice) from the K ablation: ``predictions[model][K]`` are the test
    predictions of ``model`` trained with K frames, all on the same test volumes.

    The chosen K is the paper's 32 when it was run, else ``chosen`` (a profile's own K standing in for it,
    said in the evidence). For every model: the chosen K beats each smaller K run (:func:`paired_verdict`,
    "beats", the one-volume margin), and no larger K run beats it by more than :data:`MATCH_MARGIN` (the
    chosen K "matches" it: the paper's "K = 64 ... similar accuracy" at twice the cost). Holds when every
    comparison holds, fails when one fails, otherwise not testable; not testable when no model was run at
    two K values or the chosen K was not run. The effect shown is the comparison that decides (the first
    that fails, else the first undecided, else the one with the lowest interval).
    """
    criterion = (f"for every model of the K ablation, the chosen K (the paper's {PAPER_K}, else the profile's K) beats "
                 f"each smaller K: {PAIRED}; and every larger K is no better than it by more than {MATCH_MARGIN} (the "
                 "95% paired-bootstrap interval of chosen minus larger lies above -margin; wholly below: not "
                 "supported); all must hold")
    runs = {m: dict(by_k) for m, by_k in predictions.items() if len(by_k) >= 2}
    if not runs:
        return Verdict(None, "needs one model trained at two or more K values in this run (K ablation); "
                       + ("none was run" if not predictions else
                          "; ".join(f"{m}: K={', '.join(map(str, sorted(ks)))}" for m, ks in predictions.items())),
                       criterion)
    ks = set.intersection(*(set(by_k) for by_k in runs.values()))
    pick = PAPER_K if PAPER_K in ks else chosen
    if pick is None or pick not in ks:
        return Verdict(None, f"the paper's K={PAPER_K} (or the profile's K={chosen}) was not run for every model "
                       f"of the ablation (K run: {', '.join(map(str, sorted(ks)))})", criterion)
    stand_in = "" if pick == PAPER_K else f" (the profile's K={pick} stands in for the paper's {PAPER_K})"
    verdicts = []
    for model, by_k in runs.items():
        flat = {f"{model} K={k}": p for k, p in by_k.items()}
        me = f"{model} K={pick}"
        for k in sorted(by_k):
            if k < pick:
                verdicts.append(paired_verdict(flat, me, f"{model} K={k}"))
            elif k > pick:
                verdicts.append(paired_verdict(flat, me, f"{model} K={k}", claim="matches", margin=MATCH_MARGIN))
    if not verdicts:
        return Verdict(None, f"K={pick} was the only K run", criterion)
    holds = _all([v.holds for v in verdicts])
    decides = (next((v for v in verdicts if v.holds is False), None) or next((v for v in verdicts if v.holds is None),
                                                                             None)
               or min(verdicts, key=lambda v: v.low))
    return Verdict(holds, f"K={pick}{stand_in}: " + "; ".join(v.evidence for v in verdicts), criterion,
                   decides.effect, decides.low, decides.high, decides.n)
