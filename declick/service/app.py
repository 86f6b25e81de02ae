"""The HTTP face of the service: the app, its lifespan, and how errors become envelopes.

Compatibility with the vendor decides the shapes: every answer is the `{code, msg, data}`
envelope, request errors are HTTP 200 with a non-zero `code`, `status` and `wait_time` are
strings. See docs/service.md for the codes and the HTTP statuses we chose where the vendor
document is silent. Models: models.py; auth: auth.py; endpoints: routes.py; wiring: wiring.py.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from declick.service.codes import MESSAGES, Code
from declick.service.errors import ApiError, describe, envelope, error_message, validation_code
from declick.service.limits import RequestLimits
from declick.service.routes import router
from declick.service.settings import ServiceSettings
from declick.service.wiring import Service

log = logging.getLogger("declick.service")


def create_app(settings: ServiceSettings, *, start_workers: bool = True) -> FastAPI:
    """The ASGI app. `start_workers=False` gives an API that queues tasks but never runs them
    (for schema fuzzing: generated `file_link`s must never be fetched)."""
    service = Service(settings, start_workers=start_workers)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if service.runner is not None:
            service.runner.start()
        log.info("service started", extra={"workers": settings.workers, "db": str(settings.db_path)})
        try:
            yield
        finally:
            if service.runner is not None:
                service.runner.stop()
            service.store.close()
            log.info("service stopped")

    app = FastAPI(
        title="Declick click-removal service",
        version="1.0.0",
        description="Self-hosted implementation of the vendor's click-noise removal API (v3 ecr).",
        lifespan=lifespan,
    )
    app.state.service = service

    app.add_middleware(  # outside routing, authentication and parsing: bounds every request first
        RequestLimits, max_body_bytes=settings.max_request_body_bytes, max_header_bytes=settings.max_header_bytes
    )

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Basic realm="declick"'} if exc.http_status == 401 else None
        return envelope(exc.code, error_message(exc.code, exc.detail), status_code=exc.http_status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        return envelope(validation_code(errors), error_message(validation_code(errors), describe(errors)))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # an unparsable body: a request error like any other, HTTP 200
            return envelope(Code.BAD_PARAMETERS, error_message(Code.BAD_PARAMETERS, str(exc.detail)))
        code = Code.NOT_FOUND if exc.status_code == 404 else Code.BAD_PARAMETERS
        return envelope(code, error_message(code, str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return envelope(Code.INTERNAL_ERROR, MESSAGES[Code.INTERNAL_ERROR], status_code=500)

    app.include_router(router)

    def openapi() -> dict:
        # We never answer 422 (request errors are envelopes with HTTP 200), so do not document it.
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
            components = schema.get("components", {}).get("schemas", {})
            components.pop("HTTPValidationError", None)
            components.pop("ValidationError", None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
    return app
