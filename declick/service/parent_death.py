"""Make a worker process end when the service that started it is gone, however it went.

A clean stop tells workers to exit, but after `kill -9` (or the OOM killer) of the service
nobody does, and an orphan would go on downloading and writing files that a restarted service
on the same data directory is using. Two mechanisms, because neither is enough alone:

- On Linux, `prctl(PR_SET_PDEATHSIG, SIGKILL)`: the kernel kills the worker the moment its
  parent goes. (Strictly, when the parent *thread* that spawned it exits: the service spawns
  workers from its event-loop and scheduler threads, which live as long as the service.)
- Everywhere, a daemon thread that notices the parent pid change (the orphan is re-parented)
  and exits the process within `poll_seconds`.

The parent may already be gone before either is in place, so the parent pid is checked once
after setting them up.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading

_PR_SET_PDEATHSIG = 1


def _set_death_signal() -> bool:
    """Ask the Linux kernel to SIGKILL us when our parent exits; False where that is unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # the C library already loaded (find_library spawns ldconfig)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent_pid: int, poll_seconds: float) -> None:
    stop = threading.Event()
    while not stop.wait(poll_seconds):
        if os.getppid() != parent_pid:
            os._exit(1)  # no cleanup: the restarted service removes scratch files it finds


def exit_with_parent(parent_pid: int, poll_seconds: float = 0.5) -> bool:
    """Arrange for this process to end when `parent_pid` does; True if the kernel does it at once."""
    immediate = _set_death_signal()
    threading.Thread(target=_watch, args=(parent_pid, poll_seconds), name="parent-watch", daemon=True).start()
    if os.getppid() != parent_pid:  # gone before we were watching
        os._exit(1)
    return immediate
