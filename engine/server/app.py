"""The FastAPI application: OpenAI's Assistants API (Code Interpreter subset) over an Engine.

Routes live under `/v1` (OpenAI clients: `base_url=".../v1"`) and again under `/openai`
(Azure clients: `azure_endpoint="..."`). `create_app` takes an open Engine (the caller closes
it) or an async factory that the app's lifespan opens and closes (`airlock serve`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute

from ..core import Engine
from . import (
    routes_assistants,
    routes_containers,
    routes_files,
    routes_responses,
    routes_runs,
    routes_threads,
)
from .auth import key_checker
from .azure import AZURE_PREFIX, api_version
from .errors import install_error_handlers
from .limits import BODY_TIMEOUT, BodySizeGuard
from .openapi import ERROR_RESPONSES, install_openapi

EngineFactory = Callable[[], Awaitable[Engine]]

API_PREFIX = "/v1"


def api_router() -> APIRouter:
    """Every API route, without prefix. Runs come before threads: `POST /threads/runs` must not
    be taken for an update of a thread called `runs`."""
    router = APIRouter()
    for module in (
        routes_files,
        routes_assistants,
        routes_runs,
        routes_threads,
        routes_responses,
        routes_containers,
    ):
        router.include_router(module.router)
    return router


def _operation_id(prefix: str) -> Callable[[APIRoute], str]:
    def generate(route: APIRoute) -> str:
        return f"{prefix}{route.name}"

    return generate


def create_app(
    engine: Engine | EngineFactory,
    *,
    api_key: str | None = None,
    body_timeout: float = BODY_TIMEOUT,
) -> FastAPI:
    """`body_timeout`: seconds a request body may stall before it is answered 408 (`limits`)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if isinstance(engine, Engine):
            app.state.engine = engine
            yield
            return
        opened = await engine()
        app.state.engine = opened
        try:
            yield
        finally:
            await opened.aclose()

    app = FastAPI(
        title="Airlock",
        summary="OpenAI's Assistants API with Code Interpreter, offline.",
        version="0.1.0",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(BodySizeGuard, body_timeout=body_timeout)
    routes = api_router()
    check_key = Depends(key_checker(api_key))
    app.include_router(
        routes,
        prefix=API_PREFIX,
        dependencies=[check_key],
        responses=ERROR_RESPONSES,
        generate_unique_id_function=_operation_id(""),
    )
    app.include_router(
        routes,
        prefix=AZURE_PREFIX,
        tags=["azure"],
        dependencies=[check_key, Depends(api_version)],
        responses=ERROR_RESPONSES,
        generate_unique_id_function=_operation_id("azure_"),
    )
    install_openapi(app)

    @app.get("/health", tags=["health"], summary="Liveness check (no key needed)")
    async def health() -> dict[str, Any]:
        return {"status": "ok"}

    return app
