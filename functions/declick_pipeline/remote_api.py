"""The one client of the vendor's click-removal API (POST /v3/pic/ecr/batch, GET /v3/pic/ecr/result/{id}).

The vendor document is loose: `status` and `wait_time` are documented as strings but may come
as numbers, fields may be missing, and a failure can be HTTP-level or an application-level
`code != 0`. Everything vendor-shaped is normalised here, so handlers only see typed models and
three kinds of error: transient (retry later), rejected (the vendor said no; retrying the same
request will not help) and response errors (the vendor answered something we cannot read).

The models and the errors are the shared contract (declick_contract.models, declick_contract.errors).
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import json
import math
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from declick_contract.api import CREATE_PATH, RESULT_PATH, Status
from declick_contract.errors import (
    RemoteApiAuthError,
    RemoteApiError,
    RemoteApiRejectedError,
    RemoteApiResponseError,
    RemoteApiTransientError,
)
from declick_contract.models import CreateTaskRequest, TaskResult, as_int, parse_task_result
from declick_pipeline.observability import MetricUnit, metrics
from declick_pipeline.vendor_text import (
    TASK_ID_MAX_CHARS,
    TEXT_MAX_CHARS,
    URL_MAX_CHARS,
    clean_text,
    is_clean_identifier,
)


@dataclass(frozen=True)
class Credentials:
    appkey: str
    appsecret: str

    def authorization(self) -> str:
        token = base64.b64encode(f"{self.appkey}:{self.appsecret}".encode()).decode("ascii")
        return f"Basic {token}"

    def __repr__(self) -> str:  # keep the secret out of logs and tracebacks
        return "Credentials(appkey=***, appsecret=***)"


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


class RemoteApiClient:
    """Speaks the vendor API with timeouts, bounded retries and exponential backoff with jitter.

    Retries cover connection errors, 5xx and 429 (waiting at least `Retry-After`, capped at
    `max_retry_after_seconds` so one answer cannot park a Lambda until its timeout). A POST whose
    read timed out is *not* resent here: the vendor may have created the task already, and the
    caller's own retry (SQS redelivery) is the slower, more visible path for that rare case.

    A create whose `Retry-After` is longer than `max_inline_retry_after_seconds` is not waited
    for here either: the submit Lambda handles a batch of uploads, and sleeping for one record's
    vendor would hold up every other record of the batch. The error carries `retry_after` and the
    caller delays only that record's message.

    Every string the vendor sends is bounded (declick_pipeline.vendor_text) before it leaves this
    module, in results and in error messages alike.
    """

    def __init__(
        self,
        base_url: str,
        credentials: Credentials | Callable[[], Credentials],
        *,
        connect_timeout: float = 3.05,
        read_timeout: float = 20.0,
        max_retries: int = 4,
        backoff_base_seconds: float = 0.5,
        backoff_max_seconds: float = 8.0,
        max_retry_after_seconds: float = 30.0,
        max_inline_retry_after_seconds: float = 2.0,
        text_max_chars: int = TEXT_MAX_CHARS,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = base_url.rstrip("/")
        self._credentials = credentials
        self.timeout = (connect_timeout, read_timeout)
        self.max_retries = max_retries
        self.backoff_base_seconds = backoff_base_seconds
        self.backoff_max_seconds = backoff_max_seconds
        self.max_retry_after_seconds = max_retry_after_seconds
        self.max_inline_retry_after_seconds = max_inline_retry_after_seconds
        self.text_max_chars = text_max_chars
        self.session = session or requests.Session()
        self._sleep = sleep

    def create_task(self, request: CreateTaskRequest) -> str:
        with self._bounded_errors():
            data = self._call("POST", CREATE_PATH, body=request.to_json())
            raw = data.get("task_id") if isinstance(data, Mapping) else None
            if isinstance(raw, bool) or not isinstance(raw, str | int):
                raise RemoteApiResponseError(f"create response has no usable `data.task_id` ({_kind(raw)})")
            task_id = str(raw).strip() if isinstance(raw, str) else _int_text(raw)
            if not task_id:
                raise RemoteApiResponseError("create response has an empty `data.task_id`")
            if not is_clean_identifier(task_id, TASK_ID_MAX_CHARS):
                raise RemoteApiResponseError(
                    f"create response has a `data.task_id` we cannot use as an identifier ({len(task_id)} "
                    f"characters; at most {TASK_ID_MAX_CHARS} printable ASCII without spaces): "
                    f"{clean_text(task_id, 80)}"
                )
            return task_id

    def get_result(self, task_id: str) -> TaskResult:
        with self._bounded_errors():
            data = self._call("GET", RESULT_PATH.format(task_id=quote(task_id, safe="")))
            result = parse_task_result(data)
            voice_result = result.voice_result
            if voice_result is not None and not is_clean_identifier(voice_result, URL_MAX_CHARS):
                if result.status == Status.COMPLETE:
                    raise RemoteApiResponseError(
                        f"result response has a `voice_result` that is not a usable URL ({len(voice_result)} "
                        f"characters; at most {URL_MAX_CHARS} printable ASCII without spaces)"
                    )
                voice_result = None  # only a COMPLETE task's link is ever used
            return result.model_copy(
                update={"reason": clean_text(result.reason, self.text_max_chars), "voice_result": voice_result}
            )

    @contextlib.contextmanager
    def _bounded_errors(self) -> Iterator[None]:
        """Whatever we raise quotes at most `text_max_chars` of the vendor's words."""
        try:
            yield
        except RemoteApiError as exc:
            exc.args = (clean_text(str(exc), self.text_max_chars) or type(exc).__name__,)
            if isinstance(exc, RemoteApiRejectedError):
                exc.msg = clean_text(exc.msg, self.text_max_chars) or ""
            raise

    def _headers(self) -> dict[str, str]:
        credentials = self._credentials() if callable(self._credentials) else self._credentials
        return {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Authorization": credentials.authorization(),
        }

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        delay = min(self.backoff_max_seconds, self.backoff_base_seconds * (2**attempt))
        delay = random.uniform(delay / 2, delay)  # equal jitter: spread retries of many Lambdas
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_retry_after_seconds))
        return delay

    def _send(self, method: str, url: str, body: dict[str, Any] | None) -> requests.Response:
        """One request as the vendor sees it, counted for the dashboard (rate, latency, errors)."""
        metrics.add_metric(name="VendorRequests", unit=MetricUnit.Count, value=1)
        started = time.monotonic()
        try:
            response = self.session.request(method, url, json=body, headers=self._headers(), timeout=self.timeout)
        except requests.RequestException:
            metrics.add_metric(name="VendorErrors", unit=MetricUnit.Count, value=1)
            raise
        metrics.add_metric(
            name="VendorLatency", unit=MetricUnit.Milliseconds, value=round((time.monotonic() - started) * 1000, 1)
        )
        if response.status_code == 429 or response.status_code >= 500:
            metrics.add_metric(name="VendorErrors", unit=MetricUnit.Count, value=1)
        return response

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = f"{self.base_url}{path}"
        last_problem = ""
        last_status: int | None = None
        for attempt in range(self.max_retries + 1):
            retry_after: float | None = None
            try:
                response = self._send(method, url, body)
            except requests.ConnectionError as exc:
                last_problem, last_status = f"cannot connect: {exc.__class__.__name__}", None
            except requests.Timeout as exc:
                if method != "GET":
                    raise RemoteApiTransientError(f"{method} {path} timed out waiting for the answer") from exc
                last_problem, last_status = "timed out", None
            except requests.RequestException as exc:
                raise RemoteApiTransientError(f"{method} {path} failed: {exc.__class__.__name__}") from exc
            else:
                if response.status_code == 429 or response.status_code >= 500:
                    last_problem, last_status = f"HTTP {response.status_code}", response.status_code
                    retry_after = retry_after_seconds(response.headers.get("Retry-After"))
                    if method != "GET" and (retry_after or 0) > self.max_inline_retry_after_seconds:
                        raise RemoteApiTransientError(
                            f"{method} {path} answered HTTP {response.status_code}, Retry-After {retry_after:.0f} s",
                            http_status=response.status_code,
                            retry_after=min(retry_after, 86_400.0),
                        )
                else:
                    return self._unwrap(method, path, response)
            if attempt < self.max_retries:
                self._sleep(self._backoff(attempt, retry_after))
        raise RemoteApiTransientError(
            f"{method} {path} failed after {self.max_retries + 1} attempt(s): {last_problem}", http_status=last_status
        )

    def _unwrap(self, method: str, path: str, response: requests.Response) -> Any:
        status = response.status_code
        try:
            payload = response.json()
        except (ValueError, RecursionError):
            payload = None
        code = as_int(payload.get("code")) if isinstance(payload, Mapping) else None
        msg = (clean_text(payload.get("msg"), self.text_max_chars) or "") if isinstance(payload, Mapping) else ""
        if status in (401, 403):
            raise RemoteApiAuthError(
                f"{method} {path} was refused with HTTP {status}: check the API credentials",
                code=code,
                msg=msg,
                http_status=status,
            )
        if status >= 400:
            detail = f" (code {code}: {msg})" if code is not None else ""
            raise RemoteApiRejectedError(
                f"{method} {path} was refused with HTTP {status}{detail}", code=code, msg=msg, http_status=status
            )
        if not isinstance(payload, Mapping):
            raise RemoteApiResponseError(
                f"{method} {path} answered HTTP {status} with a body that is not a JSON object"
            )
        if "code" not in payload:
            raise RemoteApiResponseError(f"{method} {path} answered without a `code` field")
        if code != 0:
            raise RemoteApiRejectedError(
                f"{method} {path} was refused by the vendor: code {clean_text(payload.get('code'), 40)!r}: "
                f"{msg or '(no message)'}",
                code=code,
                msg=msg,
                http_status=status,
            )
        return payload.get("data")


def _kind(value: Any) -> str:
    return "missing" if value is None else f"a JSON {type(value).__name__}"


def _int_text(value: int) -> str:
    try:
        return str(value)
    except ValueError:  # past Python's 4300-digit limit: certainly not a task id
        return "?" * (TASK_ID_MAX_CHARS + 1)


def credentials_from_secret(secret: Any) -> Credentials:
    """Validate the Secrets Manager value `{"appkey": "...", "appsecret": "..."}` without echoing it."""
    if isinstance(secret, (str, bytes)):
        try:
            secret = json.loads(secret)
        except ValueError:
            raise RemoteApiAuthError("the API secret is not JSON") from None
    if not isinstance(secret, Mapping):
        raise RemoteApiAuthError("the API secret is not a JSON object")
    appkey, appsecret = secret.get("appkey"), secret.get("appsecret")
    if not isinstance(appkey, str) or not isinstance(appsecret, str) or not appkey or not appsecret:
        raise RemoteApiAuthError("the API secret must hold non-empty string fields `appkey` and `appsecret`")
    return Credentials(appkey=appkey, appsecret=appsecret)
