"""The wait_time model on a real task store: queue simulation, learning, progress, clamping."""

from __future__ import annotations

from declick.service.estimator import Estimator
from declick.service.settings import ServiceSettings
from declick.service.store import NewTask, TaskStore
from declick_contract.api import Status


def _task(store: TaskStore, task_id: str, priority: int = 5, seconds: float = 100, ext: str = "wav", now: float = 0):
    store.insert(
        NewTask(
            id=task_id,
            appkey="k",
            priority=priority,
            file_link="https://example.com/a.wav",
            file_size=1,
            file_md5="0" * 32,
            file_time=seconds,
            input_ext="wav",
            detection_mult=8.0,
            click_len=10,
            output_ext=ext,
        ),
        now=now,
    )


def _settings(tmp_path, **changes) -> ServiceSettings:
    values = {
        "db_path": tmp_path / "t.sqlite3",
        "workers": 2,
        "initial_realtime_factor": 0.1,
        "task_overhead_seconds": 0.0,
        "download_bytes_per_second": 1e12,
        "min_wait_seconds": 0,
        "max_wait_seconds": 10_000,
    }
    values.update(changes)
    return ServiceSettings(**values)


def test_queue_ahead_is_shared_between_workers(tmp_path):
    store = TaskStore(tmp_path / "t.sqlite3")
    estimator = Estimator(_settings(tmp_path), store)
    for i in range(4):
        _task(store, f"t{i}", seconds=100, now=i)  # 10 s each at the initial rate
    _task(store, "urgent", priority=0, seconds=100, now=10)
    get = store.get
    # urgent goes first: two workers free -> done after its own 10 s
    assert estimator.wait_time(get("urgent"), now=100) == 10
    # t0 shares the first round with urgent; t2 waits for one of them, t3 for the other
    assert estimator.wait_time(get("t0"), now=100) == 10
    assert estimator.wait_time(get("t1"), now=100) == 20
    assert estimator.wait_time(get("t3"), now=100) == 30
    store.claim_next(now=100)  # urgent starts; half of it done 5 s later
    assert estimator.wait_time(get("urgent"), now=105) == 5
    estimator.progress = lambda task_id: (0.5, 2.0, 105.0) if task_id == "urgent" else None
    assert estimator.wait_time(get("urgent"), now=105) == 2  # 2 s for the first half -> 2 s left
    assert estimator.wait_time(get("t0"), now=105) == 10  # on the idle worker
    assert estimator.wait_time(get("t1"), now=105) == 12  # after urgent's 2 s
    store.close()


def test_rates_are_learnt_per_format_and_survive_a_restart(tmp_path):
    store = TaskStore(tmp_path / "t.sqlite3")
    estimator = Estimator(_settings(tmp_path), store)
    for _ in range(30):
        estimator.learn("mp3", audio_seconds=10, engine_seconds=5)
    assert abs(estimator.rates["mp3"] - 0.5) < 1e-3
    assert estimator.rates["wav"] == 0.1
    again = Estimator(_settings(tmp_path), store)
    assert abs(again.rates["mp3"] - 0.5) < 1e-3
    _task(store, "m", seconds=100, ext="mp3")
    assert again.wait_time(store.get("m"), now=0) == 50
    store.close()


def test_clamped_and_zero_when_final(tmp_path):
    store = TaskStore(tmp_path / "t.sqlite3")
    estimator = Estimator(_settings(tmp_path, min_wait_seconds=5, max_wait_seconds=60), store)
    _task(store, "short", seconds=1)
    _task(store, "long", seconds=100_000)
    assert estimator.wait_time(store.get("short"), now=0) == 5
    assert estimator.wait_time(store.get("long"), now=0) == 60
    store.finish("short", Status.FAILED, "x", only_from=[Status.WAITING])
    assert estimator.wait_time(store.get("short"), now=0) == 0
    store.close()
