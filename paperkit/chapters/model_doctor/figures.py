"""Figures and tables of the model_doctor chapter: builders the notebook calls, so its cells only orchestrate."""
from __future__ import annotations
