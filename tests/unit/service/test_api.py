"""Authentication, request validation and the shape of every error, against a real server."""

from __future__ import annotations

import base64
import copy

import httpx
import pytest

from declick.service.codes import Code

from .conftest import APPKEY, APPSECRET, OTHER_KEY, OTHER_SECRET, body_for, make_audio, submit

MD5 = "0" * 32


@pytest.fixture(scope="module")
def service(start_service):
    # Workers run, but no request in this module creates a task that could be fetched (see the
    # final check): every link is either refused or points at the loopback file server.
    return start_service()


@pytest.fixture(scope="module")
def valid(files) -> dict:
    data = make_audio("wav")
    return body_for(files.serve("valid.wav", data), data, "wav")


def post(client: httpx.Client, body, **kwargs) -> httpx.Response:
    if isinstance(body, dict | list):
        return client.post("/v3/pic/ecr/batch", json=body, **kwargs)
    return client.post("/v3/pic/ecr/batch", content=body, headers={"Content-Type": "application/json"}, **kwargs)


def assert_error(response: httpx.Response, code: Code, http_status: int = 200) -> dict:
    assert response.status_code == http_status, response.text
    payload = response.json()
    assert payload["code"] == int(code), payload
    assert payload["data"] == {}
    assert payload["msg"]
    return payload


def task_count(handle) -> int:
    return sum(handle.app.state.service.store.counts().values())


def assert_refused(handle, client: httpx.Client, body, code: Code, http_status: int = 200) -> dict:
    """The request gets the error envelope and no task is created."""
    before = task_count(handle)
    payload = assert_error(post(client, body), code, http_status)
    assert task_count(handle) == before
    return payload


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


AUTH_CASES = {
    "missing": None,
    "wrong scheme": "Bearer " + base64.b64encode(f"{APPKEY}:{APPSECRET}".encode()).decode(),
    "not base64": "Basic !!!notbase64!!!",
    "no colon": "Basic " + base64.b64encode(APPKEY.encode()).decode(),
    "wrong secret": basic(APPKEY, "nope"),
    "unknown key": basic("nobody", APPSECRET),
    "secret of another key": basic(APPKEY, OTHER_SECRET),
    "empty": "Basic",
}


@pytest.mark.parametrize("header", list(AUTH_CASES.values()), ids=list(AUTH_CASES))
def test_bad_credentials_are_refused_on_both_endpoints(service, valid, header):
    handle, _ = service
    headers = {"Authorization": header} if header is not None else {}
    before = task_count(handle)
    with httpx.Client(base_url=handle.url, timeout=10) as anonymous:
        for response in (
            anonymous.post("/v3/pic/ecr/batch", json=valid, headers=headers),
            anonymous.post("/v3/pic/ecr/batch", content=b"{not json", headers=headers),
            anonymous.get("/v3/pic/ecr/result/whatever", headers=headers),
        ):
            assert_error(response, Code.AUTH_FAILED, 401)
            assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert task_count(handle) == before


def test_a_task_is_invisible_to_other_appkeys(service, valid):
    handle, client = service
    task_id = submit(client, {**valid, "file_link": valid["file_link"]})
    with httpx.Client(base_url=handle.url, auth=(OTHER_KEY, OTHER_SECRET), timeout=10) as other:
        assert_error(other.get(f"/v3/pic/ecr/result/{task_id}"), Code.UNKNOWN_TASK)
    assert client.get(f"/v3/pic/ecr/result/{task_id}").json()["code"] == 0


def test_unknown_task(service):
    _, client = service
    assert_error(client.get("/v3/pic/ecr/result/6a4eab77-be30-430a-bf0e-3048042a34ef"), Code.UNKNOWN_TASK)


def _without(body: dict, *path: str) -> dict:
    body = copy.deepcopy(body)
    target = body
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return body


def _with(body: dict, value, *path: str) -> dict:
    body = copy.deepcopy(body)
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return body


REQUIRED = [
    ("file_link",),
    ("file_info",),
    ("file_info", "file_size"),
    ("file_info", "file_md5"),
    ("file_info", "file_time"),
    ("file_info", "file_ext"),
    ("detection_mult",),
    ("click_len",),
    ("priority",),
]


@pytest.mark.parametrize("path", REQUIRED, ids=[".".join(p) for p in REQUIRED])
def test_every_required_field_is_required(service, valid, path):
    handle, client = service
    payload = assert_refused(handle, client, _without(valid, *path), Code.BAD_PARAMETERS)
    assert path[-1] in payload["msg"]


BAD_VALUES = [
    # (path, value, expected code)
    (("detection_mult",), 5.99, Code.BAD_PARAMETERS),
    (("detection_mult",), 10.01, Code.BAD_PARAMETERS),
    (("detection_mult",), "8", Code.BAD_PARAMETERS),
    (("detection_mult",), True, Code.BAD_PARAMETERS),
    (("detection_mult",), None, Code.BAD_PARAMETERS),
    (("click_len",), 4, Code.BAD_PARAMETERS),
    (("click_len",), 31, Code.BAD_PARAMETERS),
    (("click_len",), 10.5, Code.BAD_PARAMETERS),
    (("click_len",), "10", Code.BAD_PARAMETERS),
    (("priority",), -1, Code.BAD_PARAMETERS),
    (("priority",), 10, Code.BAD_PARAMETERS),
    (("priority",), 1.5, Code.BAD_PARAMETERS),
    (("file_ext",), "flac", Code.BAD_PARAMETERS),
    (("file_ext",), "MP3", Code.BAD_PARAMETERS),
    (("file_link",), "", Code.BAD_PARAMETERS),
    (("file_link",), "ftp://127.0.0.1/a.wav", Code.BAD_PARAMETERS),
    (("file_link",), "not a url", Code.BAD_PARAMETERS),
    (("file_link",), "http://example.com:99999/a.wav", Code.BAD_PARAMETERS),
    # plain http to a host that is not explicitly allowed, and https to a private address:
    # refused at submission, so nothing ever tries to connect there
    (("file_link",), "http://10.1.2.3/a.wav", Code.BAD_PARAMETERS),
    (("file_link",), "https://192.168.1.1/a.wav", Code.BAD_PARAMETERS),
    (("file_link",), "https://[::1]/a.wav", Code.BAD_PARAMETERS),
    (("file_link",), "https://user:pw@example.com/a.wav", Code.BAD_PARAMETERS),
    (("file_link",), "https://[::ffff:10.0.0.1]/a.wav", Code.BAD_PARAMETERS),
    (("file_info",), "x", Code.BAD_PARAMETERS),
    (("file_info", "file_size"), 0, Code.BAD_PARAMETERS),
    (("file_info", "file_size"), "12", Code.BAD_PARAMETERS),
    (("file_info", "file_size"), 50 * 1024 * 1024 + 1, Code.FILE_TOO_LARGE),
    (("file_info", "file_md5"), "xyz", Code.BAD_PARAMETERS),
    (("file_info", "file_md5"), "g" * 32, Code.BAD_PARAMETERS),
    (("file_info", "file_time"), -1, Code.BAD_PARAMETERS),
    (("file_info", "file_time"), "12", Code.BAD_PARAMETERS),
    (("file_info", "file_ext"), "flac", Code.UNSUPPORTED_FORMAT),
    (("file_info", "file_ext"), "ogg", Code.UNSUPPORTED_FORMAT),
]


@pytest.mark.parametrize(("path", "value", "code"), BAD_VALUES, ids=[f"{'.'.join(p)}={v!r}" for p, v, _ in BAD_VALUES])
def test_every_bad_value_is_refused_with_its_code(service, valid, path, value, code):
    handle, client = service
    assert_refused(handle, client, _with(valid, value, *path), code)


@pytest.mark.parametrize(
    "raw",
    [b"", b"{not json", b"[]", b"null", b'"text"', b'{"file_link": NaN}', b"\xff\xfe\x00garbage"],
    ids=["empty", "broken", "array", "null", "string", "nan", "not utf-8"],
)
def test_malformed_bodies_are_bad_parameters(service, raw):
    handle, client = service
    assert_refused(handle, client, raw, Code.BAD_PARAMETERS)


def test_oversized_body_is_refused_before_parsing(service, valid):
    handle, client = service
    assert_refused(handle, client, b"{" + b" " * (70 * 1024) + b"}", Code.BAD_PARAMETERS, 413)


def test_credentials_in_a_link_are_refused_even_for_allowed_hosts(service, valid, files):
    handle, client = service
    link = valid["file_link"].replace("http://", "http://user:pw@")
    assert files.host in link
    assert_refused(handle, client, _with(valid, link, "file_link"), Code.BAD_PARAMETERS)


def test_smaller_configured_input_limit(start_service, files):
    handle, client = start_service(max_input_bytes=1000, start_workers=False)
    data = make_audio("wav")
    body = body_for(files.serve("limit.wav", data), data, "wav")
    assert_refused(handle, client, body, Code.FILE_TOO_LARGE)
    assert submit(client, _with(body, 1000, "file_info", "file_size"))


def test_unknown_route_answers_with_the_envelope(service):
    _, client = service
    assert_error(client.get("/v3/pic/ecr/nothing"), Code.NOT_FOUND, 404)
    assert_error(client.get("/files/short/x.mp3"), Code.NOT_FOUND, 404)
    assert_error(client.get("/files/" + "A" * 43 + "/x.mp3"), Code.NOT_FOUND, 404)


def test_openapi_documents_the_vendor_contract(service):
    _, client = service
    schema = client.get("/openapi.json").json()
    batch = schema["paths"]["/v3/pic/ecr/batch"]["post"]
    assert "422" not in batch["responses"]
    assert set(batch["responses"]) >= {"200", "401"}
    assert schema["components"]["securitySchemes"]["BasicAuth"] == {
        "type": "http",
        "scheme": "basic",
        "description": "Basic base64(appkey:appsecret)",
    }
    request = schema["components"]["schemas"]["BatchRequest"]
    assert set(request["required"]) == {"file_link", "file_info", "detection_mult", "click_len", "priority"}
    assert request["properties"]["detection_mult"]["minimum"] == 6.0
    assert request["properties"]["detection_mult"]["maximum"] == 10.0
    assert request["properties"]["file_ext"]["default"] == "mp3"
    info = schema["components"]["schemas"]["FileInfo"]
    assert set(info["required"]) == {"file_size", "file_md5", "file_time", "file_ext"}
    result = schema["components"]["schemas"]["TaskResult"]
    assert {name: spec["type"] for name, spec in result["properties"].items()} == {
        "status": "string",
        "wait_time": "string",
        "voice_result": "string",
        "reason": "string",
    }


def test_health(service):
    _, client = service
    health = client.get("/health").json()
    assert health["workers"] == 1
    assert health["alive_workers"] == 1
    assert health["status"] == "ok"
