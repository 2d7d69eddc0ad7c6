"""One helper for start-up work run beside the main thread (CLI, render start-up)."""
from __future__ import annotations

import threading
from concurrent.futures import Future


def in_background(function, *args, name: str) -> Future:
    """Run function(*args) on a daemon thread named ``name``; its result or exception in
    a Future. (A daemon, unlike an executor's worker, never holds up the exit after an
    error.)"""
    future: Future = Future()

    def run() -> None:
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(function(*args))
            except BaseException as exc:   # surfaced by future.result(), where it is awaited
                future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future
