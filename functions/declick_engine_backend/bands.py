"""Priority bands: the API's priority 0-9 mapped onto three work queues.

SQS has no priorities, so each band has its own queue and its own worker pool (the event source
mapping's maximum concurrency), the high band the largest: a priority-0 task never waits behind
a backlog of priority-9 ones. Within a band, tasks are served roughly oldest first (standard SQS).
"""

from __future__ import annotations

BANDS = ("high", "normal", "low")
_UPPER = {"high": 2, "normal": 6, "low": 9}  # highest priority number in each band


def band_of(priority: int) -> str:
    for band in BANDS:
        if priority <= _UPPER[band]:
            return band
    raise ValueError(f"priority {priority} is outside 0-9")
