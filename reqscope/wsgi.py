"""WSGI middleware: each request profiled in its own scope, for any WSGI framework.

``app = ReqscopeWSGIMiddleware(app)`` runs every request in a scope named ``"<METHOD> <PATH>"``
whose ``request`` is ``{method, path, route, status}``. WSGI knows no routes: a framework that
does puts the matched one in ``environ["reqscope.route"]`` (``reqscope.flask.install`` does it
for Flask), and the scope is then named ``"<METHOD> <route>"`` when it ends, so that the
requests of one view share a name (the leak view follows memory per name); else ``route`` is
None. The scope
stays open until the server closes the response iterable, as PEP 3333 requires every server to
do, so the statements a streaming body runs while it is sent are counted; a response that is a
list is already complete and its scope ends at once. When the scope ends, ``on_report(scope)``
is called (default: the console summary on stderr); an ``on_report`` that raises is the
caller's bug and propagates like any other error of the app.

Limits: statements a server runs in another thread than the one that called the app (rare) are
not attributed to the request, though closing there still ends the right scope; the wrapper
hides the server's ``wsgi.file_wrapper`` objects, so such responses are sent without
``sendfile``.
"""

from ._profile import print_console, profile

ROUTE_KEY = "reqscope.route"  # The environ key a framework sets to the route it matched.


def _status_code(status: str) -> int | None:
    try:
        return int(status.split(" ", 1)[0])
    except ValueError:
        return None


class ProfiledResponse:
    """The app's response iterable, whose ``close()`` also ends the request's scope."""

    def __init__(self, body, finish):
        self._body = body
        self._finish = finish

    def __iter__(self):
        return iter(self._body)

    def close(self):
        try:
            close_body = getattr(self._body, "close", None)
            if close_body is not None:
                close_body()
        finally:
            self._finish()


class ReqscopeWSGIMiddleware:
    """Profiles each request of the WSGI ``app``; see the module documentation."""

    def __init__(self, app, enabled=True, on_report=None):
        self.app = app
        self.enabled = enabled
        self.on_report = on_report if on_report is not None else print_console

    def __call__(self, environ, start_response):
        if not self.enabled:
            return self.app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        request = {"method": method, "path": path or "/", "route": None, "status": None}
        scope = profile(name=f"{method} {request['path']}").start()
        finished = False

        def finish():
            nonlocal finished
            if finished:
                return
            finished = True
            route = environ.get(ROUTE_KEY)
            if isinstance(route, str) and route:
                request["route"] = route
                scope.name = f"{method} {route}"
            scope.request = request
            scope.close()
            self.on_report(scope)

        def recording_start_response(status, headers, exc_info=None):
            request["status"] = _status_code(status)
            return start_response(status, headers, exc_info)

        try:
            body = self.app(environ, recording_start_response)
        except BaseException:
            finish()
            raise
        if isinstance(body, (list, tuple)):
            finish()
            return body
        return ProfiledResponse(body, finish)
