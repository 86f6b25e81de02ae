"""The service's parts, built once per app: settings, the store, the estimator, the worker pool, auth."""

from __future__ import annotations

import time

from fastapi import Request

from declick.service.auth import Authenticator
from declick.service.codes import Code
from declick.service.dispatch import Runner
from declick.service.errors import ApiError
from declick.service.estimator import Estimator
from declick.service.results import expire_result
from declick.service.settings import ServiceSettings
from declick.service.store import Task, TaskStore
from declick_contract.api import Status
from declick_contract.safe_download import UnsafeUrlError, check_link


class Service:
    """Wires settings, the store, the estimator and (optionally) the worker pool together."""

    def __init__(self, settings: ServiceSettings, start_workers: bool = True):
        self.settings = settings
        self.store = TaskStore(settings.db_path)
        self.estimator = Estimator(settings, self.store)
        self.runner = Runner(settings, self.store, self.estimator) if start_workers else None
        self.auth = Authenticator(settings.credentials, settings.admin_token)

    def check_link(self, url: str) -> None:
        """Refuse links the worker would refuse anyway, without resolving names (no network here)."""
        try:
            check_link(url, self.settings.download_policy())
        except UnsafeUrlError as exc:
            raise ApiError(Code.BAD_PARAMETERS, f"file_link: {exc}") from None

    def result_url(self, request: Request, task: Task) -> str:
        base = (self.settings.public_url or str(request.base_url)).rstrip("/")
        return f"{base}/files/{task.result_token}/{task.id}.{task.output_ext}"

    def expire_if_due(self, task: Task) -> Task | None:
        if task.status == Status.COMPLETE and task.expires_at is not None and task.expires_at <= time.time():
            expire_result(self.store, task)
            return self.store.get(task.id)
        return task
