"""The service's worker processes: each answers jobs from the scheduler with `declick.jobs.run_job`
(fetch, verify, clean, write the result), the same job code the engine backend's worker Lambda runs.

This module runs inside spawned worker processes. It is kept free of heavy imports at module
level so that the thread-count variables below are set before numpy loads: the pool already
runs one task per core, and BLAS threads on top of that would only fight each other.

A job is a plain dict and so is the answer, so nothing but picklable builtins crosses the pipe.
Every failure becomes `{"ok": False, "code": ..., "reason": ...}`; an exception escaping here
would kill the worker, and the scheduler would have to guess what happened.
"""

from __future__ import annotations

import os
import signal

from declick.jobs import TaskError, run_job

__all__ = ["TaskError", "run_job", "worker_main"]


def _limit_threads() -> None:
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ.setdefault(name, "1")


def worker_main(conn, ready_message: str = "ready", parent_pid: int | None = None) -> None:
    """Entry point of a pool process: answer jobs from `conn` until told to stop (None)."""
    if parent_pid is not None:  # an orphan must not go on writing files a restarted service uses
        from declick.service.parent_death import exit_with_parent

        exit_with_parent(parent_pid)
    # Signals sent to the service's process group (Ctrl-C, `timeout`, a terminal hang-up) are for
    # the parent, which stops us in order; so leave its group, and ignore Ctrl-C until we have.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.setpgrp()
    _limit_threads()
    import soundfile  # noqa: F401

    try:  # pay the engine's import once, before the first task; a broken engine fails each task instead
        from declick.engine import clean_file  # noqa: F401
    except ImportError:
        pass

    conn.send({"kind": ready_message, "pid": os.getpid()})
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        conn.send(run_job(job, conn))
