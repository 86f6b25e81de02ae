"""`kill -9` of `declick engine serve` mid-download: no worker outlives it, and after a restart on
the same database every task that was queued or running completes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from .conftest import body_for, make_audio, result, submit, wait_for
from .test_settings_cli import _alive, _children, _free_port

KEY, SECRET = "crash-key", "crash-secret"


def _serve(tmp_path: Path, files, log_name: str) -> tuple[subprocess.Popen, str]:
    """`declick engine serve` with two workers on a free port, once both workers are ready."""
    port = _free_port()
    creds = tmp_path / "creds.json"
    creds.write_text(json.dumps({"appkey": KEY, "appsecret": SECRET}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DECLICK_SERVICE_")}
    env["DECLICK_SERVICE_ALLOWED_HOSTS"] = files.host
    env["DECLICK_SERVICE_MIN_WAIT_SECONDS"] = "1"
    command = [sys.executable, "-m", "declick.cli", "engine", "serve", "--port", str(port), "--workers", "2"]
    command += ["--db", str(tmp_path / "svc" / "tasks.sqlite3"), "--credentials-file", str(creds)]
    log = (tmp_path / log_name).open("w")
    process = subprocess.Popen(command, env=env, stderr=log)
    log.close()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=1).json()["ready_workers"] == 2:
                return process, base
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError((tmp_path / log_name).read_text())
        time.sleep(0.1)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find the worker processes")
def test_kill_9_mid_download_then_restart_completes_every_task(tmp_path, files):
    data = make_audio("wav", seconds=1, seed=50)
    running = [f"crash-running-{i}.wav" for i in range(2)]
    queued = [f"crash-queued-{i}.wav" for i in range(2)]
    links = {name: files.serve(name, data, gated=name in running) for name in running + queued}

    process, base = _serve(tmp_path, files, "first.log")
    try:
        with httpx.Client(base_url=base, auth=(KEY, SECRET), timeout=10) as client:
            ids = {name: submit(client, body_for(links[name], data, "wav", seconds=1)) for name in running}
            deadline = time.monotonic() + 30
            while not all(files.requested(name) for name in running):  # both workers are mid-download
                assert time.monotonic() < deadline, "the workers never started downloading"
                time.sleep(0.02)
            ids.update({name: submit(client, body_for(links[name], data, "wav", seconds=1)) for name in queued})
            assert {result(client, ids[name])["status"] for name in running} == {"2"}
            assert {result(client, ids[name])["status"] for name in queued} == {"1"}
        workers = _children(process.pid)  # the two workers and multiprocessing's resource tracker
        assert len(workers) >= 2, workers
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()

    deadline = time.monotonic() + 10
    while (orphans := _alive(workers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not orphans, f"workers outlived the service: {orphans}"

    for name in running:  # an orphan still waiting on these would now download them
        files.release(name)
    process, base = _serve(tmp_path, files, "second.log")
    try:
        with httpx.Client(base_url=base, auth=(KEY, SECRET), timeout=10) as client:
            for name, task_id in ids.items():
                done = wait_for(client, task_id, {"3", "4", "5", "6"})
                assert done["status"] == "3", (name, done)
                assert client.get(done["voice_result"]).status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    data_dir = tmp_path / "svc" / "data"
    assert not list((data_dir / "work").iterdir())  # every attempt's scratch file is gone
    assert not list((data_dir / "results").glob("*.part*"))
    assert all(files.requested(name) == 2 for name in running)  # the interrupted downloads ran again


def test_every_run_of_a_task_gets_its_own_scratch_files(tmp_path):
    from declick.service.dispatch import Runner
    from declick.service.estimator import Estimator
    from declick.service.settings import ServiceSettings
    from declick.service.store import TaskStore

    settings = ServiceSettings(db_path=tmp_path / "tasks.sqlite3", credentials={KEY: SECRET})
    store = TaskStore(settings.db_path)
    try:
        runner = Runner(settings, store, Estimator(settings, store))
        store.insert(_new_task())
        task = store.claim_next()
        first, second = runner._job(task), runner._job(task)
    finally:
        store.close()
    assert first["result_path"] == second["result_path"]
    assert first["work_path"] != second["work_path"]
    assert first["part_path"] != second["part_path"]
    assert Path(first["part_path"]).name.endswith(".wav.part")  # what a restart sweeps away


def _new_task():
    from declick.service.store import NewTask

    return NewTask(
        id="scratch-task",
        appkey=KEY,
        priority=5,
        file_link="http://127.0.0.1:9/x.wav",
        file_size=10,
        file_md5="0" * 32,
        file_time=1,
        input_ext="wav",
        detection_mult=8.0,
        click_len=10,
        output_ext="wav",
    )
