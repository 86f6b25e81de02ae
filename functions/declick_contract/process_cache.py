"""Per-process objects of a Lambda function (settings, AWS clients), built on first use and reused
while the environment is warm; shared by the pipeline's and the engine backend's functions.

Nothing is built at import time: a bad variable is reported by the first invocation, and AWS
clients pick up the endpoint and credentials current then (moto in tests, `AWS_ENDPOINT_URL` in
local runs). `reset()` forgets everything, so tests and the local runner can point the functions
somewhere else between runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3
from aws_lambda_powertools.utilities import parameters
from botocore.config import Config

# Standard retry mode backs off on throttling; whatever still fails is raised and retried by SQS
# redelivery or the state machine, which is where the slow retries belong.
BOTO_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=5, read_timeout=30)
# SigV4 for S3: presigned links work in every region and may live up to 7 days.
S3_CONFIG = BOTO_CONFIG.merge(Config(signature_version="s3v4"))


class ProcessCache:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._objects: dict[str, Any] = {}

    def get(self, name: str, build: Callable[[], Any]) -> Any:
        with self._lock:
            if name not in self._objects:
                self._objects[name] = build()
            return self._objects[name]

    def reset(self) -> None:
        """Forget settings, clients and cached secrets (tests, local runner).

        Secrets are read through Powertools' parameter cache, which is process state too: a reset
        that kept it would hand the next run the previous run's credentials.
        """
        with self._lock:
            self._objects.clear()
        parameters.clear_caches()

    def client(self, service: str) -> Any:
        config = S3_CONFIG if service == "s3" else BOTO_CONFIG
        return self.get(f"client:{service}", lambda: boto3.client(service, config=config))
