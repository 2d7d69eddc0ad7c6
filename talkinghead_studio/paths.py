"""One place that resolves shipped files (models, resources), also in a frozen build.

In a PyInstaller build ``sys._MEIPASS`` holds the unpacked bundle; in a source checkout
or an editable install the repository root is two levels above this file; in a wheel
install the data files sit in ``talkinghead_studio/_data``.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path


def _candidate_roots() -> list[Path]:
    roots = []
    env_root = os.environ.get("TALKINGHEAD_STUDIO_ROOT")
    if env_root:
        roots.append(Path(env_root))
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        roots.append(Path(frozen_root))
    package_dir = Path(__file__).resolve().parent
    roots.append(package_dir / "_data")
    roots.append(package_dir.parent)
    return roots


def _find(sub: str) -> Path:
    for root in _candidate_roots():
        candidate = root / sub
        if candidate.exists():
            return candidate
    # Fall back to the source layout so error messages show a sensible path.
    return Path(__file__).resolve().parent.parent / sub


def models_dir() -> Path:
    """Folder holding the shipped ONNX generators."""
    return _find("models")


def resources_dir() -> Path:
    """Folder holding sample portraits, sample driver and icons."""
    return _find("resources")


def model_path(name: str) -> Path:
    return models_dir() / name


def resource_path(name: str) -> Path:
    return resources_dir() / name
