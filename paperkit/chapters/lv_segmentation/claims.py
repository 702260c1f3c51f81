"""The lv_segmentation claims ledger's verdicts: pure functions of the result tables, unit-tested."""
from __future__ import annotations
