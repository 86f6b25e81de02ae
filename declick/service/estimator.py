"""The `wait_time` the API answers: how long until a task is done, learnt from finished tasks."""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable

from declick.service.settings import ServiceSettings
from declick.service.store import Task, TaskStore
from declick_contract.api import OUTPUT_FORMATS, Status

_RATE_KEY = "realtime_factor"
_RATE_WEIGHT = 0.3  # weight of the newest measurement in the moving average


class Estimator:
    """Expected wall time of tasks, for `wait_time`.

    A task costs a fixed overhead, its download at an assumed bandwidth and the engine's time,
    which is proportional to the audio duration. The engine's real-time factor is learnt from
    finished tasks, per output format (MP3 encoding costs more than the declicking itself), from
    engine time only (so a slow `file_link` does not make the engine look slow), and persisted,
    so a restarted service does not forget it. A running task's remaining time comes from the
    progress its worker reports, once there is some.
    """

    def __init__(self, settings: ServiceSettings, store: TaskStore):
        self.settings = settings
        self.store = store
        self.rates: dict[str, float] = {}
        for fmt in OUTPUT_FORMATS:
            stored = store.get_meta(f"{_RATE_KEY}:{fmt}")
            self.rates[fmt] = float(stored) if stored else settings.initial_realtime_factor
        # task id -> (fraction done, engine seconds so far, time.time() of the report); set by the runner
        self.progress: Callable[[str], tuple[float, float, float] | None] = lambda task_id: None

    def learn(self, output_ext: str, audio_seconds: float, engine_seconds: float) -> None:
        if audio_seconds <= 0 or engine_seconds <= 0 or output_ext not in self.rates:
            return
        sample = engine_seconds / audio_seconds
        self.rates[output_ext] = (1 - _RATE_WEIGHT) * self.rates[output_ext] + _RATE_WEIGHT * sample
        self.store.set_meta(f"{_RATE_KEY}:{output_ext}", repr(self.rates[output_ext]))

    def expected(self, task: Task) -> float:
        duration = task.audio_seconds if task.audio_seconds else task.file_time
        rate = self.rates.get(task.output_ext, self.settings.initial_realtime_factor)
        return (
            self.settings.task_overhead_seconds
            + task.file_size / self.settings.download_bytes_per_second
            + rate * max(duration, 0.0)
        )

    def remaining(self, task: Task, now: float) -> float:
        report = self.progress(task.id)
        if report is not None and report[0] >= 0.02:
            fraction, engine_seconds, reported_at = report
            left = engine_seconds * (1 - fraction) / fraction - max(0.0, now - reported_at)
            return max(left, 0.5)
        expected = self.expected(task)
        elapsed = max(0.0, now - (task.started_at or now))
        # Past its estimate we do not know how long it still needs: assume a quarter more.
        return max(expected - elapsed, 0.25 * expected)

    def seconds_until_done(self, task: Task, now: float | None = None) -> float:
        """Seconds until `task` should be finished, given the queue ahead of it and the pool size."""
        now = time.time() if now is None else now
        if task.status == Status.IN_PROGRESS:
            return self.remaining(task, now)
        if task.status != Status.WAITING:
            return 0.0
        running = self.store.with_status(Status.IN_PROGRESS)
        free_at = sorted(self.remaining(t, now) for t in running)[: self.settings.workers]
        free_at += [0.0] * (self.settings.workers - len(free_at))
        heapq.heapify(free_at)
        for other in self.store.with_status(Status.WAITING):
            if other.id == task.id:
                break
            heapq.heappush(free_at, heapq.heappop(free_at) + self.expected(other))
        return heapq.heappop(free_at) + self.expected(task)

    def wait_time(self, task: Task, now: float | None = None) -> int:
        if task.status not in (Status.WAITING, Status.IN_PROGRESS):
            return 0
        seconds = math.ceil(self.seconds_until_done(task, now) - 1e-6)  # 10.000000000000002 is 10
        return int(min(max(seconds, self.settings.min_wait_seconds), self.settings.max_wait_seconds))
