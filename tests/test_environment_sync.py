"""environment.yml mirrors pyproject.toml: the library's dependencies and the book and test extras."""
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
BOOK_TOOLS = ("jupyter-book", "jupytext", "papermill", "ipykernel", "nbformat", "umap-learn", "pytest", "ruff")


def _name(spec: str) -> str:
    return spec.split(";")[0].split("[")[0].split("=")[0].split("<")[0].split(">")[0].strip().lower()


def test_environment_yml_lists_the_library_and_both_extras():
    declared = (PROJECT["dependencies"] + PROJECT["optional-dependencies"]["book"]
                + PROJECT["optional-dependencies"]["test"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    mirrored = [d for d in pip_section if not d.startswith("-e ")]
    norm = lambda specs: sorted(s.replace(" ", "").lower() for s in specs)  # noqa: E731
    assert norm(mirrored) == norm(declared), set(norm(mirrored)) ^ set(norm(declared))
    assert "-e .[book,test]" in pip_section
    assert any(str(d).startswith("python=3.11") for d in env["dependencies"])


def test_the_library_install_has_no_book_or_test_tool():
    names = {_name(d) for d in PROJECT["dependencies"]}
    assert not names & set(BOOK_TOOLS), names & set(BOOK_TOOLS)
    assert set(PROJECT["optional-dependencies"]) == {"book", "test"}


def test_make_installs_both_extras():
    assert '-e ".[book,test]"' in (ROOT / "Makefile").read_text()


def test_torch_is_pinned_in_the_same_install():
    declared = PROJECT["dependencies"]
    assert "torch==2.14.1" in declared and "torchvision==0.29.1" in declared
    assert any(d.startswith("jupyter-book") and "<2" in d for d in PROJECT["optional-dependencies"]["book"])
