"""Configuration from the environment and files, and `declick engine serve` as a real process."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from declick.service import cli
from declick.service.settings import ConfigError, ServiceSettings, from_env, parse_credentials

from .conftest import body_for, make_audio, submit, wait_for


def test_credentials_in_every_documented_shape():
    assert parse_credentials("a:1, b:2\n# comment\nc : 3") == {"a": "1", "b": "2", "c": "3"}
    assert parse_credentials('{"appkey": "k", "appsecret": "s"}') == {"k": "s"}
    assert parse_credentials('[{"appkey": "k", "appsecret": "s"}, {"appkey": "j", "appsecret": "t"}]') == {
        "k": "s",
        "j": "t",
    }
    assert parse_credentials('{"k": "s", "j": "t"}') == {"k": "s", "j": "t"}
    assert parse_credentials("  ") == {}
    with pytest.raises(ConfigError):
        parse_credentials("no-colon-here")
    with pytest.raises(ConfigError):
        parse_credentials("{broken json")
    with pytest.raises(ConfigError):
        ServiceSettings(credentials={"k": ""})


def test_settings_from_environment(tmp_path):
    creds = tmp_path / "creds.txt"
    creds.write_text("filekey:filesecret\n")
    env = {
        "DECLICK_SERVICE_DB": str(tmp_path / "db" / "t.sqlite3"),
        "DECLICK_SERVICE_WORKERS": "3",
        "DECLICK_SERVICE_PUBLIC_URL": "https://declick.example",
        "DECLICK_SERVICE_ALLOWED_HOSTS": "127.0.0.1:9000, files.local",
        "DECLICK_SERVICE_MIN_WAIT_SECONDS": "1",
        "DECLICK_SERVICE_RESULT_TTL_SECONDS": "60",
        "DECLICK_SERVICE_CREDENTIALS_FILE": str(creds),
        "DECLICK_SERVICE_CREDENTIALS": "envkey:envsecret",
        "DECLICK_SERVICE_APPKEY": "k",
        "DECLICK_SERVICE_APPSECRET": "s",
    }
    settings = from_env(env, workers=2)
    assert settings.workers == 2  # explicit override (a CLI flag) wins
    assert settings.public_url == "https://declick.example"
    assert settings.allowed_hosts == frozenset({"127.0.0.1:9000", "files.local"})
    assert settings.min_wait_seconds == 1
    assert settings.result_ttl_seconds == 60
    assert settings.credentials == {"filekey": "filesecret", "envkey": "envsecret", "k": "s"}
    assert settings.resolved_data_dir == tmp_path / "db" / "data"
    with pytest.raises(ConfigError):
        from_env({"DECLICK_SERVICE_WORKERS": "many"})
    with pytest.raises(ConfigError):
        from_env({"DECLICK_SERVICE_WORKERS": "0"})
    with pytest.raises(ConfigError):
        from_env({"DECLICK_SERVICE_CREDENTIALS_FILE": str(tmp_path / "missing")})


def test_serve_refuses_to_start_without_credentials(tmp_path, monkeypatch, capsys):
    for name in list(os.environ):
        if name.startswith("DECLICK_SERVICE_"):
            monkeypatch.delenv(name)
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    assert cli.run(parser.parse_args(["--db", str(tmp_path / "t.sqlite3")])) == 2
    assert "no credentials" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _alive(pids: set[int]) -> dict[int, str]:
    """Those of `pids` still running (not zombies), with their command lines."""
    alive = {}
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            if state != "Z":
                alive[pid] = Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
        except OSError:
            continue
    return alive


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find the worker processes")
def test_declick_engine_serve_end_to_end(tmp_path, files):
    port = _free_port()
    creds = tmp_path / "creds.json"
    creds.write_text(json.dumps({"appkey": "cli-key", "appsecret": "cli-secret"}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DECLICK_SERVICE_")}
    env["DECLICK_SERVICE_ALLOWED_HOSTS"] = files.host
    env["DECLICK_SERVICE_MIN_WAIT_SECONDS"] = "1"
    command = [sys.executable, "-m", "declick.cli", "engine", "serve", "--port", str(port), "--workers", "1"]
    command += ["--db", str(tmp_path / "svc" / "tasks.sqlite3"), "--credentials-file", str(creds)]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).json()["ready_workers"] == 1:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stderr.read()
            assert time.monotonic() < deadline, "the service did not come up"
            time.sleep(0.1)
        data = make_audio("wav", seconds=1, seed=40)
        with httpx.Client(base_url=base, auth=("cli-key", "cli-secret"), timeout=10) as client:
            task_id = submit(client, body_for(files.serve("cli.wav", data), data, "wav", seconds=1))
            done = wait_for(client, task_id, {"3", "4", "5", "6"})
            assert done["status"] == "3", done
            assert done["voice_result"].startswith(base + "/files/")
            assert client.get(done["voice_result"]).status_code == 200
        workers = _children(process.pid)
        assert workers
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        logs = [json.loads(line) for line in process.stderr.read().splitlines() if line.startswith("{")]
        events = {entry["event"] for entry in logs}
        assert {"task submitted", "task started", "task complete", "service stopped"} <= events
        assert any(entry.get("task_id") == task_id for entry in logs)
        deadline = time.monotonic() + 5
        while (left := _alive(workers)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not left
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
