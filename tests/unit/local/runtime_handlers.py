"""Handlers that observe their own module state, for the Lambda runtime's concurrency tests."""

from __future__ import annotations

import threading
import time

_lock = threading.Lock()
_inside = 0
_signal = threading.Event()


def busy(event, context):
    """Report how many invocations are inside this module at once, counting this one."""
    global _inside
    with _lock:
        _inside += 1
        seen = _inside
    try:
        time.sleep(0.05)  # room for a concurrent invocation to come in, if the runtime lets it
        return {"inside": seen}
    finally:
        with _lock:
            _inside -= 1


def wait_for_signal(event, context):
    return {"signalled": _signal.wait(timeout=event["timeout"])}


def send_signal(event, context):
    _signal.set()
    return {}


def unserializable(event, context):
    return {"when": object()}


def raises(event, context):
    raise LookupError("no such thing")
