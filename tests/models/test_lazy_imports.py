"""Importing paperkit.models stays light: MONAI (seconds to import) and timm load only when a builder needs them."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_paperkit_models_does_not_import_monai_or_timm():
    code = ("import sys, paperkit.models; "
            "print(sorted(m for m in ('monai', 'timm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
