"""environment.yml mirrors pyproject.toml's dependencies exactly."""
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    mirrored = [d for d in pip_section if d != "-e ."]
    norm = lambda specs: sorted(s.replace(" ", "").lower() for s in specs)  # noqa: E731
    assert norm(mirrored) == norm(declared), set(norm(mirrored)) ^ set(norm(declared))
    assert "-e ." in pip_section
    assert any(str(d).startswith("python=3.11") for d in env["dependencies"])


def test_torch_is_pinned_in_the_same_install():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "torch==2.14.1" in declared and "torchvision==0.29.1" in declared
    assert any(d.startswith("jupyter-book") and "<2" in d for d in declared)
