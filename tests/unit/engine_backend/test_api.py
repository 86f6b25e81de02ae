"""The engine backend's API answers as the self-hosted service does (one contract, two servers)."""

from __future__ import annotations

import hashlib
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from declick.service import ServiceSettings, run_in_thread
from declick_contract.api import Status
from declick_engine_backend import runtime
from declick_engine_backend.task_api import TaskApi
from tests.unit.engine_backend.conftest import APPKEY, APPSECRET
from tests.unit.service.conftest import make_audio

AUDIO = make_audio("wav", seconds=1.5)


def _body(link: str, **changes) -> dict:
    body = {
        "file_link": link,
        "file_ext": "mp3",
        "file_info": {
            "file_size": len(AUDIO),
            "file_md5": hashlib.md5(AUDIO).hexdigest(),  # noqa: S324 - the API's checksum
            "file_time": 2,
            "file_ext": "wav",
        },
        "detection_mult": 8.0,
        "click_len": 10,
        "priority": 5,
    }
    for key, value in changes.items():
        if key.startswith("info_"):
            body["file_info"][key[5:]] = value
        else:
            body[key] = value
    return body


@pytest.fixture
def service(tmp_path, files):
    settings = ServiceSettings(
        db_path=tmp_path / "tasks.sqlite3",
        credentials={APPKEY: APPSECRET},
        allowed_hosts=frozenset({files.host}),
        log_level="WARNING",
    )
    handle = run_in_thread(settings, start_workers=False)
    yield httpx.Client(base_url=handle.url, timeout=15)
    handle.stop()


def _cases(link: str) -> list[tuple[str, str, object, tuple[str, str] | None]]:
    return [
        ("wrong secret", "POST", _body(link), (APPKEY, "nope")),
        ("no credentials", "POST", _body(link), None),
        ("unknown appkey", "GET", None, ("someone", APPSECRET)),
        ("flac input", "POST", _body(link, info_file_ext="flac"), (APPKEY, APPSECRET)),
        ("over 50 MB", "POST", _body(link, info_file_size=60 * 1024 * 1024), (APPKEY, APPSECRET)),
        ("detection_mult 11", "POST", _body(link, detection_mult=11.0), (APPKEY, APPSECRET)),
        ("priority as text", "POST", _body(link, priority="3"), (APPKEY, APPSECRET)),
        ("ftp link", "POST", _body("ftp://example.com/a.wav"), (APPKEY, APPSECRET)),
        ("private address", "POST", _body("https://10.1.2.3/a.wav"), (APPKEY, APPSECRET)),
        ("plain http", "POST", _body("http://example.com/a.wav"), (APPKEY, APPSECRET)),
        ("bad md5", "POST", _body(link, info_file_md5="xyz"), (APPKEY, APPSECRET)),
        ("unknown task", "GET", None, (APPKEY, APPSECRET)),
    ]


def test_every_refusal_matches_the_self_hosted_service(backend, service, files):
    link = files.serve("parity.wav", AUDIO)
    for name, method, body, auth in _cases(link):
        path = "/v3/pic/ecr/batch" if method == "POST" else "/v3/pic/ecr/result/no-such-task"
        status, answer, headers = backend.call(method, path, body, auth=auth)
        expected = service.request(method, path, json=body, auth=auth)
        assert (status, answer) == (expected.status_code, expected.json()), name
        if status == 401:
            assert headers["WWW-Authenticate"] == expected.headers["WWW-Authenticate"], name
        assert answer["code"] != 0, name
    assert backend.queue_depth("normal") == 0  # nothing refused was queued


def test_a_created_task_is_queued_in_its_priority_band_and_reported_waiting(backend, files):
    link = files.serve("created.wav", AUDIO)
    created = {}
    for priority in (0, 5, 9):
        status, answer, _ = backend.call("POST", "/v3/pic/ecr/batch", _body(link, priority=priority))
        assert status == 200 and answer["code"] == 0 and answer["msg"] == ""
        created[priority] = answer["data"]["task_id"]
    assert [backend.queue_depth(b) for b in ("high", "normal", "low")] == [1, 1, 1]
    status, answer, _ = backend.call("GET", f"/v3/pic/ecr/result/{created[5]}")
    assert status == 200 and answer["code"] == 0
    data = answer["data"]
    assert data["status"] == "1" and data["voice_result"] == "" and data["reason"] == ""
    assert int(data["wait_time"]) >= 1 and isinstance(data["wait_time"], str)


def test_another_appkeys_task_is_unknown(backend, files, monkeypatch):
    link = files.serve("mine.wav", AUDIO)
    _, answer, _ = backend.call("POST", "/v3/pic/ecr/batch", _body(link))
    task_id = answer["data"]["task_id"]
    backend.table.update_item(
        Key={"task_id": task_id}, UpdateExpression="SET appkey = :k", ExpressionAttributeValues={":k": "other"}
    )
    _, answer, _ = backend.call("GET", f"/v3/pic/ecr/result/{task_id}")
    assert answer == {"code": 1003, "msg": "unknown task: no such task", "data": {}}


def test_audio_longer_than_a_worker_can_clean_is_refused(backend, files):
    link = files.serve("long.wav", AUDIO)
    _, answer, _ = backend.call("POST", "/v3/pic/ecr/batch", _body(link, info_file_time=601))
    assert answer["code"] == 1004 and "600 s" in answer["msg"] and "15-minute" in answer["msg"]


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _api(clock: Clock) -> TaskApi:
    return TaskApi(
        runtime.settings(), runtime.table(), runtime.client("sqs"), runtime.client("s3"), runtime.authenticator, clock
    )


def _create(api: TaskApi, link: str, priority: int = 5) -> str:
    from declick_contract.task_request import BatchRequest

    return api.create(BatchRequest.model_validate(_body(link, priority=priority)), APPKEY)["task_id"]


def test_deadlines_turn_stuck_tasks_into_6_and_expired_results_into_5(backend, files):
    clock = Clock()
    api = _api(clock)
    link = files.serve("deadlines.wav", AUDIO)
    waiting, running, done = (_create(api, link) for _ in range(3))
    table = runtime.table()
    assert table.start(running, now=clock.now) and table.start(done, now=clock.now)
    backend.s3.put_object(Bucket="engine-results", Key=f"results/{done}.mp3", Body=b"ID3result")
    assert table.complete(done, f"results/{done}.mp3", 86_400, now=clock.now)

    # Before the deadlines nothing changes; the result link lives no longer than the result.
    assert api.result(waiting, APPKEY)["status"] == "1"
    assert api.result(running, APPKEY)["status"] == "2"
    clock.now += 86_400 - 120
    link_now = api.result(done, APPKEY)["voice_result"]
    assert parse_qs(urlsplit(link_now).query)["X-Amz-Expires"] == ["120"]

    clock.now += 200  # past every deadline: queue 3600 s, processing 960 s, result TTL 86400 s
    first = [api.result(task, APPKEY) for task in (waiting, running, done)]
    assert [r["status"] for r in first] == ["6", "6", "5"]
    assert [r["wait_time"] for r in first] == ["0", "0", "0"]
    assert first[0]["reason"] == "waited longer than 3600 s in the queue"
    assert first[1]["reason"] == "processing took longer than 960 s"
    assert first[2]["reason"] == "result expired" and first[2]["voice_result"] == ""
    assert "Contents" not in backend.s3.list_objects_v2(Bucket="engine-results")  # the result is deleted
    assert [api.result(task, APPKEY) for task in (waiting, running, done)] == first  # final means final


def test_wait_time_grows_with_the_queue_ahead_and_follows_the_measured_rate(backend, files):
    clock = Clock()
    api = _api(clock)
    link = files.serve("wait.wav", AUDIO)
    first = _create(api, link, priority=9)
    alone = int(api.result(first, APPKEY)["wait_time"])
    for _ in range(6):  # 2 low-band workers: three more rounds ahead of a new task
        _create(api, link, priority=9)
    last = _create(api, link, priority=9)
    queued = int(api.result(last, APPKEY)["wait_time"])
    assert queued >= 4 * alone - 3
    # A slower measured engine makes the estimate longer (the rate is learnt from finished tasks).
    table = runtime.table()
    for _ in range(10):
        table.learn("mp3", audio_seconds=10, engine_seconds=100)
    assert int(api.result(first, APPKEY)["wait_time"]) > alone
    assert table.rate("mp3") > 1


def test_missing_setting_is_named(backend, monkeypatch):
    monkeypatch.delenv("ENGINE_TASKS_TABLE")
    runtime.reset()
    status, answer, _ = backend.call("GET", "/v3/pic/ecr/result/x")
    assert status == 500 and answer["code"] == 1500
    from declick_engine_backend.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="ENGINE_TASKS_TABLE"):
        load_settings()


def test_statuses_are_the_contracts():
    assert {int(s) for s in Status} == {1, 2, 3, 4, 5, 6}
