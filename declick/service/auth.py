"""Who may call the API: HTTP Basic `appkey:appsecret` pairs, and the operator's bearer token."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping

from fastapi import Request
from fastapi.openapi.models import HTTPBase as HTTPBaseModel
from fastapi.security.base import SecurityBase

from declick.service.codes import Code
from declick.service.errors import ApiError
from declick_contract.basic_auth import AuthenticationFailed, BasicAuthenticator, digest

log = logging.getLogger("declick.service")


class BasicAuth(SecurityBase):
    """Declares HTTP Basic in the OpenAPI document; the check itself is `Authenticator.authenticate`."""

    def __init__(self) -> None:
        self.model = HTTPBaseModel(scheme="basic", description="Basic base64(appkey:appsecret)")
        self.scheme_name = "BasicAuth"

    async def __call__(self, request: Request) -> str | None:
        return request.headers.get("Authorization")


basic_auth = BasicAuth()


class Authenticator:
    """The contract's constant-time Basic check (shared with the engine backend), plus the operator token."""

    def __init__(self, credentials: Mapping[str, str], admin_token: str | None):
        self._basic = BasicAuthenticator(credentials)
        self._admin = digest(f"Bearer {admin_token}") if admin_token else None

    def authenticate(self, header: str | None) -> str:
        """The appkey of a valid `Authorization: Basic` header, else ApiError(AUTH_FAILED)."""
        try:
            return self._basic.authenticate(header)
        except AuthenticationFailed as failed:
            if failed.appkey:
                log.warning("authentication failed", extra={"appkey": failed.appkey})
            raise ApiError(Code.AUTH_FAILED, str(failed), 401) from None

    def is_operator(self, header: str | None) -> bool:
        """`Authorization: Bearer <admin token>`; always False when no token is configured."""
        return self._admin is not None and secrets.compare_digest(digest(header or ""), self._admin)
