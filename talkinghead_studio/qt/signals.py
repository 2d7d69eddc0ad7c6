"""Emitting signals from Python, safe against a reference-count bug in PySide6 6.12.0.

In that release ``Signal.emit()`` returns the ``True`` object without taking a
reference to it, so every emit from Python code drops one reference to ``True``. On
Python 3.11 and older, where ``True`` is an ordinary object, a session that emits a
few thousand signals (a preview sends one per frame) ends in "Fatal Python error:
bool_dealloc". We measure the bug once at import and, only where it is present, give
the reference back after each emit. Signals emitted by Qt itself (a slider's
valueChanged, a timer's timeout) do not go through Python and are not affected.
"""
from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, Signal

_PROBES = 32


class _Probe(QObject):
    ping = Signal()


def _emit_drops_true_reference() -> bool:
    if sys.version_info >= (3, 12):
        return False            # True is immortal: its count never reaches zero
    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(_PROBES):
        probe.ping.emit()
    dropped = before - sys.getrefcount(True)
    return dropped >= _PROBES // 2   # other threads may touch True meanwhile


EMIT_DROPS_TRUE = _emit_drops_true_reference()
if EMIT_DROPS_TRUE:             # give back what the probe itself took
    for _ in range(_PROBES):
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(True))


def emit(signal, *args) -> None:
    """``signal.emit(*args)``, keeping ``True``'s reference count right."""
    signal.emit(*args)
    if EMIT_DROPS_TRUE:
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(True))
