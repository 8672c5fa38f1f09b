"""The WSGI middleware in front of a real app served by wsgiref, with requests over HTTP.

The app reads a SQLite file through the sqlite3 hook. The server handles a fixed number of
requests in its own thread, and the tests join that thread before looking at what was
reported, so that the response has been closed (and the scope ended) by then.
"""

import gc
import sqlite3
import threading
import urllib.error
import urllib.request
import wsgiref.simple_server
from socketserver import ThreadingMixIn

import pytest

import reqscope
from reqscope import hooks
from reqscope.wsgi import ReqscopeWSGIMiddleware


class QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


class ThreadingWSGIServer(ThreadingMixIn, wsgiref.simple_server.WSGIServer):
    """One thread per request; closing the server waits for them."""


@pytest.fixture
def database(tmp_path):
    """A SQLite file with ten books, and the sqlite3 hook installed."""
    path = tmp_path / "books.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE book (id INTEGER PRIMARY KEY, title TEXT)")
        connection.executemany("INSERT INTO book VALUES (?, ?)",
                               [(number, f"book {number}") for number in range(1, 11)])
    connection.close()
    hooks.install(only=["sqlite3"])
    yield path
    hooks.uninstall()


def books_app(database_path):
    """GET /books streams one line per book, reading each book while the body is sent;
    GET /fail raises; GET /books/list returns a list after two reads."""

    def app(environ, start_response):
        path = environ["PATH_INFO"]
        if path == "/fail":
            raise RuntimeError("the app failed")
        connection = sqlite3.connect(database_path)
        start_response("200 OK", [("Content-Type", "text/plain")])
        if path == "/books/list":
            count = connection.execute("SELECT count(*) FROM book").fetchone()[0]
            first = connection.execute("SELECT title FROM book WHERE id = 1").fetchone()[0]
            connection.close()
            return [f"{count} {first}".encode()]

        def body():
            try:
                ids = [row[0] for row in connection.execute("SELECT id FROM book ORDER BY id")]
                for book_id in ids:
                    (title,) = connection.execute("SELECT title FROM book WHERE id = ?",
                                                  (book_id,)).fetchone()
                    yield f"{title}\n".encode()
            finally:
                connection.close()

        return body()

    return app


def serve(app, requests, server_class=wsgiref.simple_server.WSGIServer):
    """Serves ``requests`` requests in a thread; returns (base URL, thread)."""
    server = wsgiref.simple_server.make_server("127.0.0.1", 0, app, server_class=server_class,
                                               handler_class=QuietHandler)

    def handle():
        with server:
            for _ in range(requests):
                server.handle_request()

    thread = threading.Thread(target=handle)
    thread.start()
    return f"http://127.0.0.1:{server.server_port}", thread


def fetch(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read()


def test_a_streamed_body_is_profiled_until_the_server_closes_it(database):
    reports = []
    app = ReqscopeWSGIMiddleware(books_app(database), on_report=reports.append)
    base, server = serve(app, requests=1)

    status, body = fetch(base + "/books")
    server.join(timeout=10)

    assert status == 200 and body.count(b"\n") == 10
    (scope,) = reports
    report = scope.report.to_dict()
    assert report["name"] == "GET /books"
    assert report["request"] == {"method": "GET", "path": "/books", "route": None,
                                 "status": 200}
    assert report["sql"]["count"] == 11
    (finding,) = [f for f in report["sql"]["findings"] if f["kind"] == "n_plus_one"]
    assert finding["count"] == 10
    assert not scope.active


def test_without_on_report_the_summary_goes_to_stderr(database, capsys):
    app = ReqscopeWSGIMiddleware(books_app(database))
    base, server = serve(app, requests=1)

    fetch(base + "/books/list")
    server.join(timeout=10)

    error = capsys.readouterr().err
    assert "reqscope GET /books/list" in error
    assert "[SQL] 2 queries" in error


def test_a_list_body_ends_the_scope_before_it_is_returned(database):
    reports = []
    app = ReqscopeWSGIMiddleware(books_app(database), on_report=reports.append)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/books/list", "SCRIPT_NAME": "/shop"}

    body = app(environ, lambda status, headers, exc_info=None: None)

    assert body == [b"10 book 1"]
    (scope,) = reports
    assert scope.report.to_dict()["request"]["path"] == "/shop/books/list"
    assert reqscope._core.current_scope() is None


def test_an_app_that_raises_still_ends_and_reports_its_scope(database):
    reports = []
    app = ReqscopeWSGIMiddleware(books_app(database), on_report=reports.append)
    base, server = serve(app, requests=1)

    with pytest.raises(urllib.error.HTTPError) as error:
        fetch(base + "/fail")
    server.join(timeout=10)

    assert error.value.code == 500
    (scope,) = reports
    assert not scope.active
    assert scope.report.to_dict()["request"]["status"] is None


def test_concurrent_requests_each_see_only_their_own_statements(database):
    reports = []
    both_started = threading.Barrier(2, timeout=10)
    inner = books_app(database)

    def app(environ, start_response):
        both_started.wait()  # Both requests are in their scopes before either queries.
        return inner(environ, start_response)

    base, server = serve(ReqscopeWSGIMiddleware(app, on_report=reports.append), requests=2,
                         server_class=ThreadingWSGIServer)
    clients = [threading.Thread(target=fetch, args=(base + path,))
               for path in ("/books", "/books/list")]
    for client in clients:
        client.start()
    for client in clients:
        client.join(timeout=10)
    server.join(timeout=10)

    counts = {scope.name: scope.report.to_dict()["sql"]["count"] for scope in reports}
    assert counts == {"GET /books": 11, "GET /books/list": 2}


def test_disabled_middleware_calls_the_app_and_reports_nothing(database):
    reports = []
    app = ReqscopeWSGIMiddleware(books_app(database), enabled=False, on_report=reports.append)
    base, server = serve(app, requests=1)

    status, _body = fetch(base + "/books")
    server.join(timeout=10)

    assert status == 200
    assert reports == []


def test_a_route_the_framework_leaves_in_the_environ_names_the_scope(database):
    """A framework that matched a route says so in environ["reqscope.route"]: requests of one
    view then share a name (what the leak view follows); without it, the path names them."""

    def routed_app(environ, start_response):
        if environ["PATH_INFO"].startswith("/books/"):
            environ["reqscope.route"] = "/books/<int:pk>"
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    reports = []
    app = ReqscopeWSGIMiddleware(routed_app, on_report=reports.append)
    base, server = serve(app, requests=3)
    for path in ("/books/1", "/books/2", "/other"):
        assert fetch(base + path)[0] == 200
    server.join(timeout=10)

    named = sorted((r["name"], r["request"]["path"], r["request"]["route"])
                   for r in (scope.report.to_dict() for scope in reports))
    assert named == [("GET /books/<int:pk>", "/books/1", "/books/<int:pk>"),
                     ("GET /books/<int:pk>", "/books/2", "/books/<int:pk>"),
                     ("GET /other", "/other", None)]


def test_a_server_thread_keeps_no_scope_of_its_finished_requests(database):
    """A server that handles every request in one thread runs them all in one context: the
    scope of a finished request must go with it (an earlier version left each request's block
    in that context, which kept every scope the thread had run alive). Counted while the thread
    still serves, since its context dies with it."""
    ended = []
    app = ReqscopeWSGIMiddleware(books_app(database),
                                 on_report=lambda scope: ended.append(scope.id))
    base, server = serve(app, requests=21)
    try:
        for _ in range(20):
            fetch(base + "/books/list")
        gc.collect()
        # type(), not isinstance(): that would set up the lazy objects other tests left.
        alive = [o.id for o in gc.get_objects() if type(o) is reqscope.Scope and o.id in ended]
    finally:
        fetch(base + "/books/list")  # The last request: the server thread then ends.
        server.join(timeout=10)

    assert len(ended) == 21
    assert len(alive) <= 1  # At most the last request's, until the server's next one.
