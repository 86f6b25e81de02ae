"""The worker pool and the scheduler thread that feeds it.

Workers are long-lived spawned processes (never fork: the server process has threads), each
with its own pipe, so that one task that runs past its limit or is cancelled can be killed
without touching the others, and the engine's import cost is paid once per process, not per
task. The scheduler hands a task to a worker only when that worker is idle; the queue stays in
SQLite until then, which is what makes priorities real (a job handed out early could not be
overtaken) and restarts lossless.

The scheduler thread is the only code that moves tasks out of waiting/in-progress, apart from
the operator's close, which it is told about.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import wait as wait_for
from pathlib import Path

from declick.jobs import new_job
from declick.service.codes import Code, reason_text
from declick.service.estimator import Estimator
from declick.service.results import PART_SUFFIX, expire_result, part_path, remove_partials
from declick.service.settings import ServiceSettings
from declick.service.store import Task, TaskStore
from declick.service.worker import worker_main
from declick_contract.api import Status

log = logging.getLogger("declick.service")

# A worker that dies before it is ready (broken install, out of memory) is restarted with a
# growing delay instead of in a tight loop.
_MIN_RESPAWN_DELAY, _MAX_RESPAWN_DELAY = 0.5, 30.0


def _remove_leftovers(job: dict | None) -> None:
    """Files of a job whose worker was killed or died (it could not clean up after itself)."""
    if job is None:
        return
    Path(job["work_path"]).unlink(missing_ok=True)
    remove_partials(job["part_path"])


def _is_alive(slot: _Slot) -> bool:
    """Safe from other threads while the scheduler is replacing the slot's process."""
    try:
        return not slot.dead and slot.process is not None and slot.process.is_alive()
    except ValueError:  # closed meanwhile
        return False


@dataclass
class _Slot:
    process: multiprocessing.process.BaseProcess
    conn: object
    task_id: str | None = None
    started: float = 0.0
    job: dict | None = None
    progress: tuple[float, float, float] | None = None  # see Estimator.progress
    ready: bool = False  # the process has imported the engine and waits for jobs
    dead: bool = False  # exited; replaced once `respawn_at` has passed
    respawn_at: float = 0.0


class Runner:
    def __init__(self, settings: ServiceSettings, store: TaskStore, estimator: Estimator):
        self.settings = settings
        self.store = store
        self.estimator = estimator
        self.data_dir = settings.resolved_data_dir
        self.results_dir = self.data_dir / "results"
        self.work_dir = self.data_dir / "work"
        self._ctx = multiprocessing.get_context("spawn")
        self._slots: list[_Slot] = []
        self._stop = threading.Event()
        self._closed: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_w.setblocking(False)  # a burst of submissions must never block on a full wake-up buffer
        self._thread: threading.Thread | None = None
        self._last_sweep = 0.0
        self._respawn_delay = _MIN_RESPAWN_DELAY
        estimator.progress = self.progress_of

    # lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        self.results_dir.mkdir(parents=True, exist_ok=True)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        # Downloads and half-written results of a previous run are useless: their tasks run again.
        for leftover in [*self.work_dir.iterdir(), *self.results_dir.glob(f"*{PART_SUFFIX}*")]:
            if leftover.is_file():
                leftover.unlink(missing_ok=True)
        self._recover()
        self._slots = [self._spawn() for _ in range(self.settings.workers)]
        self._thread = threading.Thread(target=self._loop, name="declick-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the scheduler and every worker; a task cut short goes back to the queue."""
        self._stop.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout)
        for slot in self._slots:
            self._shutdown_slot(slot, graceful=slot.task_id is None)
            if slot.task_id is not None:
                self.store.requeue(slot.task_id, refund_attempt=True)
        self._slots = []
        self._wake_r.close()
        self._wake_w.close()

    def wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def close_task(self, task_id: str) -> None:
        """Called after the store marked `task_id` closed: stop its worker if it is running."""
        self._closed.put(task_id)
        self.wake()

    def progress_of(self, task_id: str) -> tuple[float, float, float] | None:
        for slot in list(self._slots):
            if slot.task_id == task_id:
                return slot.progress
        return None

    def ready_workers(self) -> int:
        return sum(1 for slot in list(self._slots) if slot.ready and _is_alive(slot))

    def alive_workers(self) -> int:
        return sum(1 for slot in list(self._slots) if _is_alive(slot))

    # internals -------------------------------------------------------------------------------
    def _recover(self) -> None:
        """Tasks that were running when the service stopped go back to the queue (or fail)."""
        for task in self.store.with_status(Status.IN_PROGRESS):
            if task.attempts >= self.settings.max_attempts:
                reason = reason_text(Code.PROCESSING_FAILED, f"interrupted {task.attempts} times")
                self.store.finish(task.id, Status.FAILED, reason, only_from=[Status.IN_PROGRESS])
            else:
                self.store.requeue(task.id)
                log.info("task requeued after restart", extra={"task_id": task.id})

    def _spawn(self) -> _Slot:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(
            target=worker_main, args=(child,), kwargs={"parent_pid": os.getpid()}, name="declick-worker", daemon=True
        )
        process.start()
        child.close()
        return _Slot(process=process, conn=parent)

    def _shutdown_slot(self, slot: _Slot, graceful: bool) -> None:
        if slot.process is None:
            return
        if graceful and slot.process.is_alive():
            try:
                slot.conn.send(None)
            except OSError:
                pass
            slot.process.join(2.0)
        if slot.process.is_alive():
            slot.process.terminate()
            slot.process.join(2.0)
        if slot.process.is_alive():
            slot.process.kill()
            slot.process.join(2.0)
        slot.conn.close()
        slot.process.close()
        slot.process = None

    def _replace(self, slot: _Slot) -> _Slot:
        """Kill a worker (its task was cancelled, overran or crashed it) and start a fresh one."""
        self._shutdown_slot(slot, graceful=False)
        _remove_leftovers(slot.job)
        fresh = self._spawn()
        self._slots[self._slots.index(slot)] = fresh
        return fresh

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except Exception:  # noqa: BLE001 - the scheduler must survive anything one task does
                log.exception("scheduler step failed")
                time.sleep(0.5)

    def _step(self) -> None:
        conns = [slot.conn for slot in self._slots if not slot.dead]
        ready = wait_for([*conns, self._wake_r], timeout=0.5)
        if self._wake_r in ready:
            try:
                self._wake_r.recv(4096)
            except OSError:
                return
        if self._stop.is_set():
            return
        for slot in list(self._slots):
            if slot.conn in ready:
                self._receive(slot)
        self._handle_closed()
        self._check_health()
        now = time.time()
        if now - self._last_sweep >= 1.0:
            self._sweep(now)
            self._last_sweep = now
        self._dispatch()

    def _receive(self, slot: _Slot) -> None:
        try:
            message = slot.conn.recv()
        except (EOFError, OSError):
            return  # the process died; _check_health deals with it
        if message.get("kind") == "ready":
            slot.ready = True
            self._respawn_delay = _MIN_RESPAWN_DELAY
            return
        if message.get("kind") == "progress":
            if message.get("id") == slot.task_id and message["total"] > 0:
                slot.progress = (message["done"] / message["total"], message["engine_seconds"], time.time())
            return
        if message.get("kind") != "result":
            return
        task_id = slot.task_id
        slot.task_id, slot.job, slot.progress = None, None, None
        if task_id is None or message.get("id") != task_id:
            return
        if message["ok"]:
            self._complete(task_id, message)
        else:
            if self.store.finish(task_id, Status.FAILED, message["reason"], only_from=[Status.IN_PROGRESS]):
                log.info(
                    "task failed", extra={"task_id": task_id, "code": message["code"], "reason": message["reason"]}
                )

    def _complete(self, task_id: str, message: dict) -> None:
        task = self.store.get(task_id)
        if task is None:
            return
        path = self.results_dir / f"{task_id}.{task.output_ext}"
        done = self.store.complete(
            task_id,
            token=secrets.token_urlsafe(32),
            path=str(path),
            size=message["size"],
            expires_at=time.time() + self.settings.result_ttl_seconds,
            audio_seconds=message["audio_seconds"],
            engine_seconds=message["engine_seconds"],
            wall_seconds=message["wall_seconds"],
            clicks=message.get("clicks"),
        )
        if not done:  # closed or timed out while it ran
            path.unlink(missing_ok=True)
            return
        self.estimator.learn(task.output_ext, message["audio_seconds"], message["engine_seconds"])
        log.info(
            "task complete",
            extra={
                "task_id": task_id,
                "audio_seconds": round(message["audio_seconds"], 3),
                "engine_seconds": round(message["engine_seconds"], 3),
                "wall_seconds": round(message["wall_seconds"], 3),
                "latency_seconds": round(time.time() - task.created_at, 3),
            },
        )

    def _handle_closed(self) -> None:
        while True:
            try:
                task_id = self._closed.get_nowait()
            except queue.Empty:
                return
            for slot in list(self._slots):
                if slot.task_id == task_id:
                    self._replace(slot)

    def _check_health(self) -> None:
        now = time.monotonic()
        for slot in list(self._slots):
            task_id = slot.task_id
            if slot.dead:
                if now >= slot.respawn_at:
                    self._replace(slot)
            elif not slot.process.is_alive():
                exitcode = slot.process.exitcode
                _remove_leftovers(slot.job)
                slot.task_id, slot.job, slot.progress = None, None, None
                if task_id is not None:
                    self._worker_lost(task_id, f"worker exited with code {exitcode}")
                if slot.ready:
                    self._replace(slot)
                    log.warning("worker exited, replaced", extra={"exitcode": exitcode})
                else:
                    slot.dead, slot.respawn_at = True, now + self._respawn_delay
                    log.error(
                        "worker died while starting",
                        extra={"exitcode": exitcode, "retry_in_seconds": self._respawn_delay},
                    )
                    self._respawn_delay = min(self._respawn_delay * 2, _MAX_RESPAWN_DELAY)
            elif task_id is not None and now - slot.started > self.settings.max_processing_seconds:
                self._replace(slot)
                reason = f"processing took longer than {self.settings.max_processing_seconds:g} s"
                if self.store.finish(task_id, Status.TIMED_OUT, reason, only_from=[Status.IN_PROGRESS]):
                    log.warning("task timed out while running", extra={"task_id": task_id})

    def _worker_lost(self, task_id: str, detail: str) -> None:
        task = self.store.get(task_id)
        if task is None or task.status != Status.IN_PROGRESS:
            return
        if task.attempts < self.settings.max_attempts:
            self.store.requeue(task_id)
            log.warning("worker lost, task requeued", extra={"task_id": task_id, "detail": detail})
        else:
            reason = reason_text(Code.PROCESSING_FAILED, f"{detail} (attempt {task.attempts})")
            self.store.finish(task_id, Status.FAILED, reason, only_from=[Status.IN_PROGRESS])
            log.error("worker lost, task failed", extra={"task_id": task_id, "detail": detail})

    def _sweep(self, now: float) -> None:
        for task in self.store.with_status(Status.WAITING):
            if now - task.created_at > self.settings.max_queue_seconds:
                self._queue_timeout(task.id, only_from=Status.WAITING)
        for task in self.store.with_status(Status.COMPLETE):
            if task.expires_at is not None and task.expires_at <= now:
                expire_result(self.store, task, now)

    def _queue_timeout(self, task_id: str, only_from: Status) -> None:
        reason = f"waited longer than {self.settings.max_queue_seconds:g} s in the queue"
        if self.store.finish(task_id, Status.TIMED_OUT, reason, only_from=[only_from]):
            log.warning("task timed out in the queue", extra={"task_id": task_id})

    def _dispatch(self) -> None:
        for slot in self._slots:
            if slot.task_id is not None or slot.dead or not slot.ready:
                continue
            task = self.store.claim_next()
            while task is not None and time.time() - task.created_at > self.settings.max_queue_seconds:
                # Waited too long, and the sweep has not caught it yet: never start it late.
                self._queue_timeout(task.id, only_from=Status.IN_PROGRESS)
                task = self.store.claim_next()
            if task is None:
                return
            job = self._job(task)
            try:
                slot.conn.send(job)
            except OSError:
                self.store.requeue(task.id, refund_attempt=True)
                continue
            slot.task_id, slot.job, slot.started, slot.progress = task.id, job, time.monotonic(), None
            log.info("task started", extra={"task_id": task.id, "attempt": task.attempts, "priority": task.priority})

    def _job(self, task: Task) -> dict:
        # Scratch names are unique per attempt: a run never shares a file with an earlier one of
        # the same task (say, an orphan of a crashed service still writing it).
        scratch = f"{task.id}.{task.attempts}-{secrets.token_hex(4)}"
        return new_job(
            task.id,
            task,
            self.settings,
            retry_delay_seconds=self.settings.download_retry_delay_seconds,
            work_path=str(self.work_dir / f"{scratch}.in"),
            part_path=str(part_path(self.results_dir, scratch, task.output_ext)),
            result_path=str(self.results_dir / f"{task.id}.{task.output_ext}"),
        )
