"""The ASGI middleware driven directly (no server): route names under a Mount, a raising app,
and what it lets through unprofiled. test_servers.py runs it under uvicorn."""

import asyncio

import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.routing import Mount

from reqscope.asgi import ReqscopeASGIMiddleware


def call(app, path, scope_type="http"):
    """Runs one request through `app`; returns the messages it sent."""
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    asgi_scope = {"type": scope_type, "asgi": {"version": "3.0"}, "http_version": "1.1",
                  "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
                  "root_path": "", "query_string": b"", "headers": [],
                  "server": ("testserver", 80), "client": ("127.0.0.1", 1)}
    asyncio.run(app(asgi_scope, receive, send))
    return sent


def inner_app():
    api = FastAPI()

    @api.get("/items/{item_id}")
    async def item(item_id: int):
        return {"id": item_id}

    @api.get("/broken")
    async def broken():
        raise ValueError("the view failed")

    return api


def test_a_mounted_route_is_named_with_its_mount_prefix_and_a_miss_keeps_its_path():
    reports = []
    app = ReqscopeASGIMiddleware(Starlette(routes=[Mount("/api", app=inner_app())]),
                                 on_report=reports.append)
    call(app, "/api/items/7")
    call(app, "/nowhere")
    named = [(scope.report.to_dict()["name"], scope.request) for scope in reports]
    assert named == [
        ("GET /api/items/{item_id}", {"method": "GET", "path": "/api/items/7",
                                     "route": "/api/items/{item_id}", "status": 200}),
        ("GET /nowhere", {"method": "GET", "path": "/nowhere", "route": None, "status": 404}),
    ]


def test_a_raising_app_is_reported_and_its_exception_propagates():
    reports = []
    app = ReqscopeASGIMiddleware(inner_app(), on_report=reports.append)
    with pytest.raises(ValueError, match="the view failed"):
        call(app, "/broken")
    (scope,) = reports
    assert not scope.active
    assert scope.request["route"] == "/broken" and scope.name == "GET /broken"


def test_lifespan_and_disabled_pass_through_unprofiled():
    reports = []
    seen = []

    async def app(asgi_scope, receive, send):
        seen.append(asgi_scope["type"])

    asyncio.run(ReqscopeASGIMiddleware(app, on_report=reports.append)(
        {"type": "lifespan"}, None, None))
    call(ReqscopeASGIMiddleware(app, enabled=False, on_report=reports.append), "/x")
    assert seen == ["lifespan", "http"] and reports == []
