"""Flask: the WSGI middleware (reqscope.wsgi), with each request named after its URL rule.

``reqscope.flask.install(app)`` wraps ``app.wsgi_app`` in ``ReqscopeWSGIMiddleware`` and, when a
request has been routed, leaves its rule (``"/authors/<int:author_id>"``) in the WSGI environ,
where the middleware reads it: the request's scope is named ``"GET /authors/<int:author_id>"``
and its ``request["route"]`` is the rule, so the requests of one view share a name in reports
and in the leak view. Requests that match no rule (a 404) keep the path. The rule is noted on
Flask's ``request_started`` signal, which is sent after routing and before any
``before_request`` function, so an early return there still names the request.
"""

from flask import request, request_started

from .wsgi import ROUTE_KEY, ReqscopeWSGIMiddleware


def _note_route(sender, **extra):
    rule = request.url_rule
    if rule is not None:
        request.environ[ROUTE_KEY] = rule.rule


def install(app, enabled=True, on_report=None):
    """Profiles each request of the Flask ``app``; returns ``app``. Arguments as for
    ``ReqscopeWSGIMiddleware``."""
    request_started.connect(_note_route, app)
    app.wsgi_app = ReqscopeWSGIMiddleware(app.wsgi_app, enabled=enabled, on_report=on_report)
    return app
