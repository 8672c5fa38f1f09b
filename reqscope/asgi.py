"""ASGI middleware: each HTTP request profiled in its own scope, for FastAPI, Starlette and any
ASGI framework.

``app = ReqscopeASGIMiddleware(app)`` (or ``app.add_middleware(ReqscopeASGIMiddleware)`` in
FastAPI and Starlette) runs every HTTP request in a scope whose ``request`` is ``{method, path,
route, status}``. The scope is entered inside the request's own task, so the CPU sampler and
the memory tracer attribute to it only what that request runs, even with many requests
interleaved on one event loop. It ends when the app returns, which for a streamed response is
after its last chunk was sent.

Naming: ``"<METHOD> <route>"`` when the app says which route it matched, else ``"<METHOD>
<path>"``. Starlette and FastAPI leave the matched route in the ASGI scope (``scope["route"]``,
whose ``path`` is the template ``/items/{item_id}``; under a ``Mount`` the mount's prefix is put
before it); any framework can leave a str in ``scope["reqscope.route"]`` instead. Naming by
route lets the requests of one view share a name, which the leak view follows.

When the scope ends, ``on_report(scope)`` is called (default: the console summary on stderr),
also when the app raised, whose exception then propagates unchanged. Lifespan and websocket
connections pass through unprofiled.
"""

from ._profile import print_console, profile

ROUTE_KEY = "reqscope.route"  # The ASGI scope key a framework may set to the route it matched.


def _route_of(asgi_scope: dict, entry_root_path: str) -> str | None:
    """The route the app matched, if it said (see the module documentation)."""
    explicit = asgi_scope.get(ROUTE_KEY)
    if isinstance(explicit, str) and explicit:
        return explicit
    template = getattr(asgi_scope.get("route"), "path", None)
    if not isinstance(template, str):
        return None
    root_path = asgi_scope.get("root_path", "")
    prefix = root_path[len(entry_root_path):] if root_path.startswith(entry_root_path) else ""
    return prefix + template


class ReqscopeASGIMiddleware:
    """Profiles each HTTP request of the ASGI ``app``; see the module documentation."""

    def __init__(self, app, enabled=True, on_report=None):
        self.app = app
        self.enabled = enabled
        self.on_report = on_report if on_report is not None else print_console

    async def __call__(self, asgi_scope, receive, send):
        if not self.enabled or asgi_scope.get("type") != "http":
            await self.app(asgi_scope, receive, send)
            return
        method = asgi_scope.get("method", "GET")
        entry_root_path = asgi_scope.get("root_path", "")
        path = entry_root_path + asgi_scope.get("path", "")
        request = {"method": method, "path": path or "/", "route": None, "status": None}

        async def recording_send(message):
            if message.get("type") == "http.response.start":
                request["status"] = message.get("status")
            await send(message)

        scope = None
        try:
            async with profile(name=f"{method} {request['path']}") as scope:
                try:
                    await self.app(asgi_scope, receive, recording_send)
                finally:
                    route = _route_of(asgi_scope, entry_root_path)
                    if route is not None:
                        request["route"] = route
                        scope.name = f"{method} {route}"
                    scope.request = request
        finally:
            if scope is not None:
                self.on_report(scope)
