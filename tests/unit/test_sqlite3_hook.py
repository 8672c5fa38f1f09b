"""The sqlite3 hook: what it wraps, what it leaves alone, and that the app sees no difference."""

import sqlite3

import pytest

import reqscope
from reqscope.hooks import sqlite3 as sqlite3_hook


def statement_count(scope):
    return scope.report.to_dict()["sql"]["count"]


def test_install_wraps_connect_and_uninstall_restores_it():
    original = sqlite3.connect
    sqlite3_hook.install()
    sqlite3_hook.install()  # Twice is harmless.
    assert sqlite3.connect is not original
    assert sqlite3.dbapi2.connect is sqlite3.connect
    sqlite3_hook.uninstall()
    assert sqlite3.connect is original and sqlite3.dbapi2.connect is original


def test_a_custom_connection_factory_is_kept(sqlite_hooked):
    class AppConnection(sqlite3.Connection):
        def greeting(self):
            return "hello"

    connection = sqlite3.connect(":memory:", factory=AppConnection)
    assert isinstance(connection, AppConnection) and connection.greeting() == "hello"
    with reqscope.profile() as scope:
        connection.execute("SELECT 1").fetchall()
    assert statement_count(scope) == 1


def test_positional_connect_arguments_are_understood(sqlite_hooked):
    connection = sqlite3.connect(":memory:", 5.0, 0, None)
    assert connection.isolation_level is None
    with reqscope.profile() as scope:
        connection.execute("SELECT 1")
    assert statement_count(scope) == 1


def test_a_cursor_factory_subclass_is_kept_and_recorded(sqlite_hooked):
    class ConvertingCursor(sqlite3.Cursor):
        """Like Django's: rewrites %s placeholders before executing."""

        def execute(self, sql, params=()):
            return super().execute(sql.replace("%s", "?"), params)

    connection = sqlite3.connect(":memory:")
    with reqscope.profile() as scope:
        cursor = connection.cursor(factory=ConvertingCursor)
        assert isinstance(cursor, ConvertingCursor)
        assert cursor.execute("SELECT %s + 1", (41,)).fetchone() == (42,)
    assert statement_count(scope) == 1


def test_row_factory_results_are_unchanged(sqlite_hooked):
    connection = sqlite3.connect(":memory:")
    connection.row_factory = sqlite3.Row
    with reqscope.profile():
        row = connection.execute("SELECT 1 AS one, 'a' AS letter").fetchone()
    assert row["one"] == 1 and row["letter"] == "a"


def test_connections_opened_before_install_are_not_recorded():
    connection = sqlite3.connect(":memory:")
    sqlite3_hook.install()
    try:
        with reqscope.profile() as scope:
            connection.execute("SELECT 1")
        assert statement_count(scope) == 0
    finally:
        sqlite3_hook.uninstall()


def test_iteration_and_fetchmany_still_return_every_row(sqlite_hooked):
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE t (v INTEGER)")
    connection.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(25)])
    with reqscope.profile() as scope:
        cursor = connection.execute("SELECT v FROM t ORDER BY v")
        first = cursor.fetchmany(10)
        rest = [row for row in cursor]
    assert [v for (v,) in first + rest] == list(range(25))
    query = scope.report.to_dict()["sql"]["queries"][0]
    assert query["rows"] >= 10


def test_errors_from_sqlite_reach_the_app_unchanged(sqlite_hooked):
    connection = sqlite3.connect(":memory:")
    with reqscope.profile():
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            connection.execute("SELECT * FROM missing")
        with pytest.raises(sqlite3.ProgrammingError):
            connection.execute("SELECT ?", (1, 2))


def test_a_huge_statement_is_recorded_and_flagged_truncated(sqlite_hooked):
    connection = sqlite3.connect(":memory:")
    values = ",".join(str(i) for i in range(400_000))  # About 2.7 MB of SQL.
    with reqscope.profile() as scope:
        connection.execute(f"SELECT 1 WHERE 5 IN ({values})").fetchall()
    [query] = scope.report.to_dict()["sql"]["queries"]
    assert query["count"] == 1 and query["truncated"] is True
    assert len(query["text"]) < 2_000_000


def test_execute_without_parameters_passes_none_on(sqlite_hooked):
    class RewritesOnlyWithParameters(sqlite3.Cursor):
        """Like Django's SQLite cursor: "no parameters" is not the same as "()"."""

        def execute(self, sql, params=None):
            if params is None:
                return super().execute(sql)
            return super().execute(sql.replace("%s", "?"), params)

    connection = sqlite3.connect(":memory:")
    for active in (False, True):
        scope = reqscope.profile().__enter__() if active else None
        cursor = connection.cursor(factory=RewritesOnlyWithParameters)
        assert cursor.execute("SELECT '%s'").fetchall() == [("%s",)]
        if scope is not None:
            scope.close()
            assert statement_count(scope) == 1


def test_the_recording_cursor_methods_are_c_and_bind_like_functions(sqlite_hooked):
    connection = sqlite3.connect(":memory:")
    cursor = connection.cursor()
    recording = type(cursor)
    for name in ("execute", "executemany", "executescript", "fetchone", "fetchmany", "fetchall"):
        method = recording.__dict__[name]
        assert type(method) is reqscope._core.CursorMethod, name
        assert method.method is getattr(sqlite3.Cursor, name)
        assert getattr(recording, name) is method  # Looked up on the class: itself.
    bound = cursor.execute  # Looked up on an instance: bound to it, as a function would be.
    assert bound("SELECT 1").fetchall() == [(1,)]
    assert bound.__self__ is cursor


def test_cursor_hands_out_recording_cursors_for_every_way_of_asking(sqlite_hooked):
    """A recording connection's cursor() is C (_core.CursorFactory): no factory, a cursor class
    by keyword or by position, and a factory that is no class all behave as the driver's."""

    class AppCursor(sqlite3.Cursor):
        pass

    connection = sqlite3.connect(":memory:")
    assert type(type(connection).__dict__["cursor"]) is reqscope._core.CursorFactory
    plain = connection.cursor()
    by_keyword = connection.cursor(factory=AppCursor)
    by_position = connection.cursor(AppCursor)
    for cursor in (plain, by_keyword, by_position):
        assert getattr(type(cursor), "_reqscope_recording", False), type(cursor)
    assert type(by_keyword) is type(by_position)  # One recording subclass per class asked for.
    assert isinstance(by_keyword, AppCursor) and type(plain).__base__ is sqlite3.Cursor
    made = []

    def factory(owner):  # A callable that is no cursor class: called as the driver calls it.
        made.append(owner)
        return sqlite3.Cursor(owner)

    assert type(connection.cursor(factory)) is sqlite3.Cursor and made == [connection]
    with pytest.raises(TypeError):
        connection.cursor(factory=AppCursor, colour="red")  # The driver's own refusal.
    with pytest.raises(TypeError):
        connection.cursor(factory=int)  # Not a cursor: the driver refuses it, as without us.
    with reqscope.profile() as scope:
        by_keyword.execute("SELECT 1").fetchall()
        connection.cursor().execute("SELECT 2").fetchall()
    assert statement_count(scope) == 2


def test_a_cursor_method_refuses_what_it_cannot_wrap():
    with pytest.raises(ValueError, match="CURSOR_"):
        reqscope._core.CursorMethod(sqlite3.Cursor.execute, 9)
    with pytest.raises(ValueError, match="callable"):
        reqscope._core.CursorMethod(None, reqscope._core.CURSOR_FETCH)
    with pytest.raises(TypeError):
        reqscope._core.CursorMethod(sqlite3.Cursor.execute, reqscope._core.CURSOR_EXECUTE, 5)


def test_fetches_with_keywords_are_charged_and_return_every_row(sqlite_hooked):
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE t (v INTEGER)")
    connection.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(25)])
    with reqscope.profile() as scope:
        cursor = connection.execute("SELECT v FROM t ORDER BY v")
        first = cursor.fetchmany(size=20)
        rest = cursor.fetchall()
    assert [v for (v,) in first + rest] == list(range(25))
    [query] = scope.report.to_dict()["sql"]["queries"]
    assert query["rows"] == 25


def test_a_failed_execute_is_recorded_as_failed_and_the_error_kept(sqlite_hooked):
    connection = sqlite3.connect(":memory:")
    with reqscope.profile() as scope:
        with pytest.raises(sqlite3.OperationalError, match="no such table: missing") as raised:
            connection.cursor().execute("SELECT * FROM missing")
    assert raised.value.__traceback__ is not None
    sql = scope.report.to_dict()["sql"]
    assert sql["count"] == 1 and sql["errors"] == 1
