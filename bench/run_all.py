"""Run every benchmark in bench/ (files named bench_*.py), one after another, then their ratios side by side.

A benchmark that measures a ratio with a target lists it in its module-level ``RESULTS`` as
``(what, value, target, met)``; the table at the end gathers them, so one run shows every target.
"""
import runpy
import sys
from pathlib import Path

rows = []
for path in sorted(Path(__file__).parent.glob("bench_*.py")):
    print(f"\n=== {path.name}", flush=True)
    sys.argv = [str(path)]
    module = runpy.run_path(str(path), run_name="__main__")
    rows += [(path.stem, *row) for row in module.get("RESULTS", [])]

print("\n=== ratios and their targets (measured in this run, side by side within each benchmark)")
width = max((len(what) for _, what, *_ in rows), default=10)
for bench, what, value, target, met in rows:
    print(f"  {what:<{width}}  {value:7.2f}  target {target:<7}  {'met' if met else 'NOT MET'}   ({bench})")
