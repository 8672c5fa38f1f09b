"""The Django hook and middleware on a real project (djangoapp) with SQLite file databases.

Requests go through Django's test clients, so every layer is real: the middleware, URL
resolution, the ORM, the execute wrapper and the sqlite3 driver. The middleware leaves each
request's scope on ``request.reqscope``, which the tests read the report from.
"""

import asyncio
import inspect
import json

import pytest

django = pytest.importorskip("django")

from django.conf import settings  # noqa: E402
from django.db import OperationalError, connection, connections  # noqa: E402
from django.test import AsyncClient, Client, override_settings  # noqa: E402

import reqscope  # noqa: E402
from reqscope import hooks  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def django_project(tmp_path_factory):
    """djangoapp set up once for this module, with its two databases created and filled."""
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("DJANGOAPP_DATABASE_DIR", str(tmp_path_factory.mktemp("djangoapp")))
        environment.setenv("DJANGO_SETTINGS_MODULE", "djangoapp.settings")
        environment.delenv("REQSCOPE_ENABLED", raising=False)
        django.setup()
        from djangoapp.library.fixtures import setup_database

        setup_database("default")
        setup_database("other")
        yield
        connections.close_all()
        hooks.uninstall()


@pytest.fixture(autouse=True)
def no_request_left_open():
    yield
    assert reqscope._core.current_scope() is None


def views_module():
    from djangoapp.library import views

    return views


def line_of(function, text):
    """The line number of the first line of ``function`` that contains ``text``."""
    lines, first = inspect.getsourcelines(function)
    return first + next(index for index, line in enumerate(lines) if text in line)


def profiled_get(path):
    """GETs ``path`` through the middleware; returns the request's report dict."""
    response = Client().get(path)
    assert response.status_code == 200, response.content
    return response.wsgi_request.reqscope.report.to_dict()


def findings_of(report, kind):
    return [finding for finding in report["sql"]["findings"] if finding["kind"] == kind]


def test_n_plus_one_over_a_foreign_key_is_one_finding_at_the_loop_body():
    views = views_module()

    report = profiled_get("/books/")

    assert report["sql"]["count"] == 11
    (finding,) = findings_of(report, "n_plus_one")
    assert finding["count"] == 10
    assert finding["label"] == "library.Book.author"
    assert finding["callsite"]["file"] == views.__file__
    assert finding["callsite"]["line"] == line_of(views.book_authors, "book.author.name")
    assert finding["callsite"]["function"] == "book_authors"


def test_select_related_version_is_one_query_and_no_n_plus_one():
    report = profiled_get("/books/select-related/")

    assert report["sql"]["count"] == 1
    assert report["sql"]["findings"] == []


def test_n_plus_one_through_a_deferred_field_is_labelled_with_the_field():
    views = views_module()

    report = profiled_get("/books/titles-deferred/")

    (finding,) = findings_of(report, "n_plus_one")
    assert finding["label"] == "library.Book.title"
    assert finding["callsite"]["line"] == line_of(views.deferred_titles, "book.title")


def test_n_plus_one_through_a_reverse_one_to_one_is_labelled_with_the_accessor():
    report = profiled_get("/authors/profiles/")

    (finding,) = findings_of(report, "n_plus_one")
    assert finding["label"] == "library.Author.profile"
    assert finding["count"] == 10


def test_the_same_read_twice_is_a_duplicate():
    report = profiled_get("/authors/1/twice/")

    assert report["sql"]["count"] == 2
    (finding,) = findings_of(report, "duplicate")
    assert "library_author" in report["sql"]["queries"][0]["text"]
    assert finding["fingerprint"] == report["sql"]["queries"][0]["fingerprint"]


def test_the_same_read_around_a_write_is_not_a_duplicate():
    report = profiled_get("/authors/1/twice-with-write/")

    assert report["sql"]["count"] == 3
    assert findings_of(report, "duplicate") == []


def test_the_same_read_on_two_database_aliases_is_not_a_duplicate():
    report = profiled_get("/authors/1/both-databases/")

    assert report["sql"]["count"] == 2
    assert findings_of(report, "duplicate") == []


def test_a_slow_read_is_a_slow_finding_with_its_sqlite_query_plan():
    views = views_module()

    report = profiled_get("/books/slow/")

    (finding,) = findings_of(report, "slow")
    assert finding["time_ms"] >= 150
    assert finding["callsite"]["line"] == line_of(views.slow_book, "cursor.execute(")
    assert "library_book" in finding["explain"]
    assert "EXPLAIN failed" not in finding["explain"]


def test_middleware_prints_the_summary_and_names_the_scope_after_the_route(capsys):
    report = profiled_get("/authors/3/twice/")

    assert "[SQL] 2 queries" in capsys.readouterr().err
    assert report["name"] == "GET /authors/<int:pk>/twice/"
    assert report["request"] == {"method": "GET", "path": "/authors/3/twice/",
                                 "route": "/authors/<int:pk>/twice/", "status": 200}
    json.dumps(report)


def test_unresolved_path_keeps_the_path_as_name_and_no_route(capsys):
    response = Client().get("/no/such/page/")

    report = response.wsgi_request.reqscope.report.to_dict()
    assert response.status_code == 404
    assert report["name"] == "GET /no/such/page/"
    assert report["request"] == {"method": "GET", "path": "/no/such/page/", "route": None,
                                 "status": 404}
    assert "reqscope" in capsys.readouterr().err


def test_async_stack_profiles_async_views_and_their_orm_queries():
    async def get():
        return await AsyncClient().get("/books/async/")

    response = asyncio.run(get())

    assert response.status_code == 200
    report = response.asgi_request.reqscope.report.to_dict()
    assert report["sql"]["count"] == 1
    assert report["request"]["route"] == "/books/async/"


@pytest.fixture
def every_hook_installed():
    """reqscope.install() with Django's connection reopened, so that it uses the sqlite3 hook.

    It is opened before the request, so that Django's connection setup statements (PRAGMAs run
    on the raw connection, which the sqlite3 hook records) are not in the request's report.
    """
    connections.close_all()
    reqscope.install()
    connection.ensure_connection()
    yield
    reqscope.uninstall()
    connections.close_all()


def test_with_the_sqlite3_driver_hook_too_each_statement_counts_once(every_hook_installed):
    report = profiled_get("/books/")

    assert getattr(connection.connection, "_reqscope_recording", False)
    assert report["sql"]["count"] == 11
    (finding,) = findings_of(report, "n_plus_one")
    assert finding["count"] == 10
    assert finding["label"] == "library.Book.author"


def test_with_the_sqlite3_driver_hook_too_a_slow_read_is_explained_once(every_hook_installed):
    report = profiled_get("/books/slow/")

    assert report["sql"]["count"] == 1
    (finding,) = findings_of(report, "slow")
    assert "library_book" in finding["explain"]


def test_disabled_by_setting_the_middleware_steps_out_of_the_chain(capsys):
    with override_settings(REQSCOPE_ENABLED=False):
        response = Client().get("/books/select-related/")

    assert not hasattr(response.wsgi_request, "reqscope")
    assert capsys.readouterr().err == ""


def test_enabled_by_default_exactly_when_debug_is_on():
    from reqscope.django import is_enabled

    for debug in (True, False):
        with override_settings(DEBUG=debug):
            del settings.REQSCOPE_ENABLED
            assert is_enabled() is debug


def test_environment_variable_overrides_the_setting(monkeypatch):
    monkeypatch.setenv("REQSCOPE_ENABLED", "1")
    with override_settings(REQSCOPE_ENABLED=False):
        response = Client().get("/books/select-related/")
    assert hasattr(response.wsgi_request, "reqscope")

    monkeypatch.setenv("REQSCOPE_ENABLED", "off")
    response = Client().get("/books/select-related/")
    assert not hasattr(response.wsgi_request, "reqscope")


def test_bad_enabled_values_raise_config_error_naming_the_setting(monkeypatch):
    with override_settings(REQSCOPE_ENABLED="yes"):
        with pytest.raises(reqscope.ConfigError, match="REQSCOPE_ENABLED"):
            Client().get("/books/")

    monkeypatch.setenv("REQSCOPE_ENABLED", "maybe")
    with pytest.raises(reqscope.ConfigError, match="REQSCOPE_ENABLED"):
        Client().get("/books/")


def test_a_failing_statement_raises_the_database_error_and_is_counted():
    hooks.install(only=["django"])
    with reqscope.profile(name="failing") as scope:
        with pytest.raises(OperationalError):
            with connection.cursor() as cursor:
                cursor.execute("SELECT missing FROM nowhere")

    assert scope.report.to_dict()["sql"]["count"] == 1


def test_the_execute_wrapper_runs_a_statement_it_cannot_read_and_records_nothing():
    """Django's wrapper protocol, called with a context that lacks what it reads: the statement
    still runs, unrecorded, and only what the statement raises reaches the caller."""
    from reqscope.hooks.django import recording_execute_wrapper

    calls = []

    def execute(sql, params, many, context):
        calls.append(sql)
        if sql == "fail":
            raise OperationalError("from the database")
        return "result"

    with reqscope.profile(name="odd contexts") as scope:
        assert recording_execute_wrapper(execute, "SELECT 1", None, False, {}) == "result"
        assert recording_execute_wrapper(execute, "SELECT 2", None, False, None) == "result"
        with pytest.raises(OperationalError, match="from the database"):
            recording_execute_wrapper(execute, "fail", None, False, {"connection": connection})
    assert calls == ["SELECT 1", "SELECT 2", "fail"]
    assert scope.report.to_dict()["sql"]["count"] == 0
    with pytest.raises(TypeError, match="execute, sql, params, many, context"):
        recording_execute_wrapper(execute, "SELECT 1")
    assert repr(recording_execute_wrapper) == "<reqscope execute wrapper>"


def wrappers_of(database_wrapper):
    from reqscope.hooks.django import recording_execute_wrapper

    return [wrapper for wrapper in database_wrapper.execute_wrappers
            if wrapper is recording_execute_wrapper]


def count_of_author_lookup():
    from djangoapp.library.models import Author

    with reqscope.profile(name="lookup") as scope:
        Author.objects.get(pk=1)
    return scope.report.to_dict()["sql"]["count"]


def test_a_connection_opened_before_install_is_recorded():
    hooks.uninstall()
    connection.ensure_connection()
    assert wrappers_of(connection) == []

    hooks.install(only=["django"])

    assert count_of_author_lookup() == 1


def test_installing_twice_or_reconnecting_keeps_one_wrapper():
    hooks.install(only=["django"])
    hooks.install(only=["django"])
    connection.close()
    connection.ensure_connection()

    assert len(wrappers_of(connection)) == 1
    assert count_of_author_lookup() == 1


def test_uninstall_takes_the_wrapper_off_and_stops_wrapping_new_connections():
    hooks.install(only=["django"])
    connection.ensure_connection()

    hooks.uninstall()
    connection.close()
    connection.ensure_connection()

    assert wrappers_of(connection) == []
    assert count_of_author_lookup() == 0
    hooks.install(only=["django"])


def test_a_connection_first_opened_in_another_thread_inside_a_user_wrapper_block():
    """The user's block pops its own wrapper, not reqscope's, though reqscope's came later."""
    import threading

    from djangoapp.library.models import Author

    hooks.install(only=["django"])
    seen = {}

    def user_wrapper(execute, sql, params, many, context):
        return execute(sql, params, many, context)

    def in_a_new_thread():  # A new thread has its own, not yet connected, DatabaseWrapper.
        database = connections["default"]
        with reqscope.profile(name="thread") as scope:
            with database.execute_wrapper(user_wrapper):
                Author.objects.get(pk=1)
            Author.objects.get(pk=2)
        seen["wrappers"] = list(database.execute_wrappers)
        seen["count"] = scope.report.to_dict()["sql"]["count"]
        database.close()

    thread = threading.Thread(target=in_a_new_thread)
    thread.start()
    thread.join()

    from reqscope.hooks.django import recording_execute_wrapper

    assert seen == {"wrappers": [recording_execute_wrapper], "count": 2}


@pytest.fixture(scope="module")
def postgres_database(postgres):
    """A "postgres" database alias on the session's PostgreSQL server, set up like the others.

    Django reads DATABASES once; the alias is added to the connection handler's copy.
    """
    from djangoapp.library.fixtures import setup_database

    params = postgres["params"]
    databases = connections.configure_settings({
        **settings.DATABASES,
        "postgres": {"ENGINE": "django.db.backends.postgresql", "NAME": params["dbname"],
                     "HOST": params["host"], "PORT": params["port"], "USER": params["user"]},
    })
    connections.settings["postgres"] = databases["postgres"]
    setup_database("postgres")
    yield "postgres"
    connections["postgres"].close()
    del connections.settings["postgres"]


def test_n_plus_one_on_postgresql_is_one_finding_at_the_loop_body(postgres_database):
    views = views_module()

    report = profiled_get(f"/books/?database={postgres_database}")

    assert report["sql"]["count"] == 11
    (finding,) = findings_of(report, "n_plus_one")
    assert finding["count"] == 10
    assert finding["label"] == "library.Book.author"
    assert finding["callsite"]["line"] == line_of(views.book_authors, "book.author.name")


def test_a_slow_read_on_postgresql_is_explained_on_the_same_connection(postgres_database):
    report = profiled_get(f"/books/slow/?database={postgres_database}")

    (finding,) = findings_of(report, "slow")
    assert "library_book" in finding["explain"]
    assert "EXPLAIN failed" not in finding["explain"]


def test_with_every_hook_installed_postgresql_statements_count_once(postgres_database):
    connections[postgres_database].close()
    reqscope.install()
    try:
        connections[postgres_database].ensure_connection()
        report = profiled_get(f"/books/?database={postgres_database}")
    finally:
        reqscope.uninstall()
        connections[postgres_database].close()

    assert report["sql"]["count"] == 11


def test_explain_inside_the_apps_postgresql_transaction_leaves_it_usable(postgres_database):
    from django.db import transaction

    from djangoapp.library.models import Author

    hooks.install(only=["django"])
    database = connections[postgres_database]
    with reqscope.profile(name="transaction") as scope:
        with transaction.atomic(using=postgres_database):
            with database.cursor() as cursor:
                cursor.execute("SELECT id FROM library_book WHERE id = %s AND slow_sleep(%s) = 1",
                               [2, 120])
            Author.objects.using(postgres_database).filter(pk=2).update(name="author 2")
            assert Author.objects.using(postgres_database).get(pk=2).name == "author 2"

    sql = scope.report.to_dict()["sql"]
    assert sql["count"] == 3
    (finding,) = findings_of(scope.report.to_dict(), "slow")
    assert "library_book" in finding["explain"]
    assert not any("explain" in query["text"] for query in sql["queries"])


def test_the_explain_cursor_for_psycopg2_is_not_recorded_by_the_psycopg2_hook(postgres):
    psycopg2 = pytest.importorskip("psycopg2")
    from reqscope.hooks.django import _postgresql_explain_cursor

    hooks.install(only=["psycopg2"])
    raw_connection = psycopg2.connect(**postgres["params"])
    try:
        with reqscope.profile(name="explain cursor") as scope:
            cursor = _postgresql_explain_cursor(raw_connection, None)
            cursor.execute("SELECT 1")
        assert scope.report.to_dict()["sql"]["count"] == 0
        assert type(cursor) is psycopg2.extensions.cursor
    finally:
        raw_connection.close()
        hooks.uninstall()
