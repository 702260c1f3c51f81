"""The video4mri claims ledger's verdicts: pure functions of the result tables, unit-tested."""
from __future__ import annotations


# A model whose test AUROC is below this has not learnt in the run's budget: the chapter names it, and
# the video-vs-3D claim is not judged on 3D ResNets that have not learnt.
LEARNT_AUROC = 0.6
