"""MediaPipe's solutions load without the package's heavy __init__, and still work."""
from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("mediapipe")

CHILD = r"""
import sys
from talkinghead_studio.core.mediapipe_solutions import solution
mesh = solution("face_mesh")
segmentation = solution("selfie_segmentation")
heavy = [m for m in ("matplotlib", "sounddevice", "mediapipe.tasks") if m in sys.modules]
import numpy as np
from talkinghead_studio.core.images import load_portrait
from talkinghead_studio.core.landmarks import FaceMeshDetector
from talkinghead_studio.paths import resource_path
image = load_portrait(resource_path("portraits/astronaut.png")).rgb
with FaceMeshDetector(mode="image") as detector:
    found = detector.detect(image)
import mediapipe as mp   # code that imports the package afterwards still finds the solutions
assert mp.solutions.face_mesh is mesh
print(heavy, found is not None and found.points.shape == (478, 3))
"""


def test_face_mesh_loads_without_matplotlib_or_the_audio_tasks_and_finds_a_face():
    # A fresh interpreter: this test process may already have imported mediapipe fully.
    result = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[] True"


FULL_FIRST = r"""
import mediapipe as mp
from talkinghead_studio.core.mediapipe_solutions import solution
print(solution("face_mesh") is mp.solutions.face_mesh and hasattr(mp, "__version__"))
"""


def test_after_a_full_import_the_ordinary_modules_are_used():
    result = subprocess.run([sys.executable, "-c", FULL_FIRST], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "True"
