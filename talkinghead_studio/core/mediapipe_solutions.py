"""MediaPipe's face-mesh and selfie-segmentation solutions, without the rest of MediaPipe.

``import mediapipe`` runs the package's ``__init__``, which imports every legacy
solution, their drawing helpers (and with them matplotlib.pyplot) and the Tasks API,
whose audio module looks for PortAudio by running gcc and ld. On the 2-core target that
took 0.6-1.0 s of CPU at the start of every render and preview, for two modules we use.

:func:`solution` imports just the module asked for. It registers the two package
modules whose ``__init__`` does the heavy imports (``mediapipe`` and
``mediapipe.python.solutions``) without running that ``__init__``, so their
submodules import normally (``mediapipe.python``, which loads the C++ framework, still
runs its own). Measured: 0.61 s -> 0.05 s. If MediaPipe was already imported in full,
or its layout is not the one this expects, the ordinary import is used instead.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from types import ModuleType

_LIGHT_PACKAGES = ("mediapipe", "mediapipe.python.solutions")
_lock = threading.Lock()


def _register_without_init(name: str) -> ModuleType:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.submodule_search_locations is None:
        raise ImportError(f"{name} is not a package")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    return module


def _light_import(name: str) -> ModuleType:
    """Import ``mediapipe.python.solutions.<name>`` without the packages' __init__."""
    registered = []
    try:
        if "mediapipe" not in sys.modules:
            registered.append(_register_without_init("mediapipe"))
        import mediapipe.python  # noqa: F401  (the framework bindings: needed, and light)

        if "mediapipe.python.solutions" not in sys.modules:
            registered.append(_register_without_init("mediapipe.python.solutions"))
        module = importlib.import_module(f"mediapipe.python.solutions.{name}")
    except Exception:
        for package in registered:   # leave nothing half-imported behind
            sys.modules.pop(package.__name__, None)
        raise
    # Code that later writes `mp.solutions.face_mesh` finds what was loaded.
    top = sys.modules["mediapipe"]
    if not hasattr(top, "solutions"):
        top.solutions = sys.modules["mediapipe.python.solutions"]
    return module


def solution(name: str) -> ModuleType:
    """``mediapipe.solutions.<name>`` (e.g. "face_mesh", "selfie_segmentation").

    Thread-safe; the render's start-up asks for both from two threads at once."""
    with _lock:
        full = sys.modules.get("mediapipe")
        if full is not None and hasattr(full, "__version__"):   # already imported in full
            return getattr(full.solutions, name)
        try:
            return _light_import(name)
        except Exception:   # another MediaPipe layout: pay for the ordinary import
            import mediapipe

            return getattr(mediapipe.solutions, name)
