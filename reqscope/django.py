"""Django middleware: each request profiled in its own scope, its summary printed to stderr.

Add ``"reqscope.django.ReqscopeMiddleware"`` first in ``MIDDLEWARE``. It is on when
``settings.REQSCOPE_ENABLED`` is true (default: ``settings.DEBUG``); the environment variable
``REQSCOPE_ENABLED`` (1/0, true/false, yes/no, on/off), when set, overrides the setting. When
off, the middleware removes itself from the chain (``MiddlewareNotUsed``) and costs nothing.

When on, it installs the Django hook, and every request runs in a scope named
``"<METHOD> <route>"``: the path at first, then the URL pattern the request resolved to
(``"GET /books/<int:pk>/"``), so that requests to one view share a name. The scope's ``request``
is ``{method, path, route, status}`` (route None when nothing resolved), the scope is
``request.reqscope`` for the view and for tests, and the console summary goes to stderr once
the response is returned. It works in sync and async stacks alike.

Limits: a streaming response's body is produced after the scope ends, so queries made while
streaming are not counted; there is no per-user or per-request trigger yet (all or nothing).
"""

import os

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed

from . import hooks
from ._config import ConfigError, parse_bool
from ._profile import print_console, profile

ENVIRONMENT_VARIABLE = "REQSCOPE_ENABLED"


def is_enabled() -> bool:
    """Whether to profile requests: REQSCOPE_ENABLED in the environment, else in settings."""
    raw = os.environ.get(ENVIRONMENT_VARIABLE)
    if raw is not None:
        return parse_bool(ENVIRONMENT_VARIABLE, raw)
    enabled = getattr(settings, "REQSCOPE_ENABLED", settings.DEBUG)
    if not isinstance(enabled, bool):
        raise ConfigError(f"settings.REQSCOPE_ENABLED must be True or False, not {enabled!r}")
    return enabled


def resolved_route(request) -> str | None:
    """The URL pattern the request resolved to, with a leading slash like the path; or None."""
    match = getattr(request, "resolver_match", None)
    if match is None or match.route is None:
        return None
    return "/" + match.route


def _describe(scope, request, response) -> None:
    """Names the scope after the resolved route and fills in ``scope.request``."""
    route = resolved_route(request)
    if route is not None:
        scope.name = f"{request.method} {route}"
    scope.request = {
        "method": request.method,
        "path": request.path,
        "route": route,
        "status": response.status_code,
    }


class ReqscopeMiddleware:
    """Profiles each request; see the module documentation."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        if not is_enabled():
            raise MiddlewareNotUsed("reqscope is off (REQSCOPE_ENABLED / DEBUG)")
        hooks.install(only=["django"])
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        with profile(name=f"{request.method} {request.path}") as scope:
            request.reqscope = scope
            response = self.get_response(request)
            _describe(scope, request, response)  # Named before exit: the leak view files by it.
        print_console(scope)
        return response

    async def __acall__(self, request):
        async with profile(name=f"{request.method} {request.path}") as scope:
            request.reqscope = scope
            response = await self.get_response(request)
            _describe(scope, request, response)
        print_console(scope)
        return response
