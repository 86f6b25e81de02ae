"""Queue behaviour: priority order, honest wait_time, concurrency, restarts, limits, expiry, cancel.

Downloads can be held back by the file server, which freezes the one worker on a known task;
the order in which the server then sees downloads is the order in which tasks were started.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from declick.service.store import NewTask, TaskStore
from declick_contract.api import Status

from .conftest import APPKEY, body_for, make_audio, result, submit, wait_for

FINAL = {"3", "4", "5", "6"}


def test_priority_zero_first_then_oldest(start_service, files):
    _, client = start_service(workers=1)
    data = make_audio("wav", seconds=1, seed=20)
    blocker = submit(client, body_for(files.serve("prio-blocker.wav", data, gated=True), data, "wav", seconds=1))
    wait_for(client, blocker, {"2"})
    order = [("p5-a", 5), ("p0-a", 0), ("p9", 9), ("p0-b", 0), ("p5-b", 5)]
    ids = {}
    for name, priority in order:
        link = files.serve(f"prio-{name}.wav", data)
        ids[name] = submit(client, body_for(link, data, "wav", seconds=1, priority=priority))
    files.release("prio-blocker.wav")
    for task_id in ids.values():
        assert wait_for(client, task_id, FINAL)["status"] == "3"
    started = [name for name in files.requests if name.startswith("prio-") and name != "prio-blocker.wav"]
    assert started == ["prio-p0-a.wav", "prio-p0-b.wav", "prio-p5-a.wav", "prio-p5-b.wav", "prio-p9.wav"]


def test_wait_time_shrinks_as_the_task_nears_its_turn(start_service, files):
    # A large fixed per-task cost makes the estimate dominated by the queue ahead, not by how
    # fast the engine turned out to be on these tiny files.
    _, client = start_service(workers=1, min_wait_seconds=0, task_overhead_seconds=30, max_wait_seconds=3600)
    data = make_audio("wav", seconds=1, seed=21)
    names = [f"wait-{i}.wav" for i in range(4)]
    ids = [submit(client, body_for(files.serve(n, data, gated=True), data, "wav", seconds=1)) for n in names]
    last = ids[-1]
    seen = []
    for i, name in enumerate(names):
        wait_for(client, ids[i], {"2"})
        seen.append(int(result(client, last)["wait_time"]))
        files.release(name)
        wait_for(client, ids[i], {"3"})
    assert result(client, last)["wait_time"] == "0"
    # three tasks ahead, two, one, then running itself
    assert seen == sorted(seen, reverse=True) and len(set(seen)) == 4, seen
    assert seen[0] >= 3 * 30


def test_concurrent_submissions(start_service, files):
    _, client = start_service(workers=2)
    data = make_audio("wav", seconds=1, seed=22)
    link = files.serve("concurrent.wav", data)
    ids: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def one(priority: int) -> None:
        try:
            with httpx.Client(base_url=client.base_url, auth=client.auth, timeout=15) as own:
                task_id = submit(own, body_for(link, data, "wav", seconds=1, priority=priority))
            with lock:
                ids.append(task_id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i % 10,)) for i in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(set(ids)) == 24
    for task_id in ids:
        assert wait_for(client, task_id, FINAL)["status"] == "3"
    assert files.requested("concurrent.wav") == 24


def test_restart_loses_nothing(start_service, files, tmp_path):
    first, client = start_service(tmp_path=tmp_path, workers=1)
    data = make_audio("wav", seconds=1, seed=23)
    finished = submit(client, body_for(files.serve("restart-done.wav", data), data, "wav", seconds=1))
    wait_for(client, finished, {"3"})
    running = submit(client, body_for(files.serve("restart-running.wav", data, gated=True), data, "wav", seconds=1))
    wait_for(client, running, {"2"})
    queued = [
        submit(client, body_for(files.serve(f"restart-queued-{i}.wav", data), data, "wav", seconds=1, priority=i))
        for i in range(3)
    ]
    first.stop()

    store = TaskStore(tmp_path / "tasks.sqlite3")
    assert {t.id for t in store.with_status(Status.WAITING)} == {running, *queued}
    assert [t.id for t in store.with_status(Status.COMPLETE)] == [finished]
    store.close()

    files.release("restart-running.wav")
    second, client = start_service(tmp_path=tmp_path, workers=1)
    done = result(client, finished)
    assert done["status"] == "3"
    assert done["voice_result"].startswith(second.url)
    assert client.get(done["voice_result"]).status_code == 200
    for task_id in [running, *queued]:
        assert wait_for(client, task_id, FINAL)["status"] == "3", task_id


def test_a_task_interrupted_by_a_crash_is_run_again(start_service, files, tmp_path):
    # The service died (no clean stop) while the task was in progress: the row says status 2.
    data = make_audio("wav", seconds=1, seed=27)
    store = TaskStore(tmp_path / "tasks.sqlite3")
    store.insert(
        NewTask(
            id="crashed-task",
            appkey=APPKEY,
            priority=5,
            file_link=files.serve("crashed.wav", data),
            file_size=len(data),
            file_md5=body_for("", data, "wav")["file_info"]["file_md5"],
            file_time=1,
            input_ext="wav",
            detection_mult=8.0,
            click_len=10,
            output_ext="mp3",
        )
    )
    assert store.claim_next().status == Status.IN_PROGRESS
    store.close()
    data_dir = tmp_path / "data"
    stale = [data_dir / "work" / "older-task.in", data_dir / "results" / "older-task.wav.part.partial"]
    for path in stale:  # what crashed workers left behind
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half")
    _, client = start_service(tmp_path=tmp_path, workers=1)
    done = wait_for(client, "crashed-task", FINAL)
    assert done["status"] == "3"
    assert done["voice_result"].endswith("/crashed-task.mp3")
    assert not any(path.exists() for path in stale)


def _wait_until_ready(client, workers: int) -> None:
    deadline = time.monotonic() + 60
    while client.get("/health").json()["ready_workers"] < workers and time.monotonic() < deadline:
        time.sleep(0.05)


def test_queue_and_processing_limits(start_service, files):
    _, client = start_service(workers=1, max_queue_seconds=1.0, max_processing_seconds=3.0)
    # The 1 s queue limit must not be spent waiting for a worker process to start (slow on a busy machine).
    _wait_until_ready(client, 1)
    data = make_audio("wav", seconds=1, seed=24)
    stuck = submit(client, body_for(files.serve("limit-stuck.wav", data, gated=True), data, "wav", seconds=1))
    wait_for(client, stuck, {"2"})
    waiting = submit(client, body_for(files.serve("limit-waiting.wav", data), data, "wav", seconds=1))
    timed_out_waiting = wait_for(client, waiting, FINAL, timeout=20)
    assert timed_out_waiting["status"] == "6"
    assert "queue" in timed_out_waiting["reason"]
    timed_out_running = wait_for(client, stuck, FINAL, timeout=20)
    assert timed_out_running["status"] == "6"
    assert "processing" in timed_out_running["reason"]
    # the worker that was killed has been replaced
    _wait_until_ready(client, 1)
    after = submit(client, body_for(files.serve("limit-after.wav", data), data, "wav", seconds=1))
    assert wait_for(client, after, FINAL)["status"] == "3"


def test_results_expire(start_service, files):
    handle, client = start_service(workers=1, result_ttl_seconds=3.0)
    data = make_audio("wav", seconds=1, seed=25)
    task_id = submit(client, body_for(files.serve("expire.wav", data), data, "wav", seconds=1))
    done = wait_for(client, task_id, FINAL)
    assert done["status"] == "3"
    path = Path(handle.app.state.service.store.get(task_id).result_path)
    assert path.is_file()
    closed = wait_for(client, task_id, {"5"}, timeout=30)
    assert closed["reason"] == "result expired"
    assert closed["voice_result"] == ""
    assert client.get(done["voice_result"]).status_code == 404
    assert not path.exists()


def test_operator_closes_tasks(start_service, files):
    _, client = start_service(workers=1, admin_token="operator-token")
    data = make_audio("wav", seconds=1, seed=26)
    running = submit(client, body_for(files.serve("close-running.wav", data, gated=True), data, "wav", seconds=1))
    wait_for(client, running, {"2"})
    waiting = submit(client, body_for(files.serve("close-waiting.wav", data), data, "wav", seconds=1))

    def close(task_id: str, token: str = "operator-token") -> httpx.Response:  # noqa: S107
        return client.post(f"/admin/tasks/{task_id}/close", headers={"Authorization": f"Bearer {token}"}, auth=None)

    assert close(waiting, "wrong").status_code == 404
    for task_id in (waiting, running):
        response = close(task_id)
        assert response.status_code == 200 and response.json()["code"] == 0
        closed = result(client, task_id)
        assert closed["status"] == "5" and closed["reason"] == "closed by the operator"
    assert close(waiting).json()["code"] == 1002  # already final
    # the worker stuck on the closed task was replaced and serves the next one
    after = submit(client, body_for(files.serve("close-after.wav", data), data, "wav", seconds=1))
    done = wait_for(client, after, FINAL)
    assert done["status"] == "3"
    assert close(after).json()["code"] == 0
    assert client.get(done["voice_result"]).status_code == 404
    assert files.requested("close-waiting.wav") == 0


def test_stop_leaves_no_processes(start_service):
    before = set(multiprocessing.active_children())
    handle, client = start_service(workers=2)
    assert client.get("/health").json()["workers"] == 2
    deadline = time.monotonic() + 60
    while client.get("/health").json()["ready_workers"] < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    handle.stop()
    assert set(multiprocessing.active_children()) <= before
    with pytest.raises(httpx.TransportError):
        httpx.get(handle.url + "/health", timeout=2)


def test_a_worker_killed_mid_task_is_replaced_and_the_task_rerun(start_service, files):
    handle, client = start_service(workers=1)
    data = make_audio("wav", seconds=1, seed=28)
    task_id = submit(client, body_for(files.serve("killed.wav", data, gated=True), data, "wav", seconds=1))
    wait_for(client, task_id, {"2"})
    deadline = time.monotonic() + 60
    while files.requested("killed.wav") < 1 and time.monotonic() < deadline:  # the worker is mid-download
        time.sleep(0.02)
    runner = handle.app.state.service.runner
    (pid,) = [slot.process.pid for slot in runner._slots]
    os.kill(pid, signal.SIGKILL)  # as the kernel's OOM killer would
    files.release("killed.wav")
    assert wait_for(client, task_id, FINAL)["status"] == "3"
    assert files.requested("killed.wav") == 2
    health = client.get("/health").json()
    assert health["alive_workers"] == 1 and health["status"] == "ok"
