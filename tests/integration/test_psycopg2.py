"""The psycopg2 hook against a real PostgreSQL: what it records, and that the app sees no change."""

import time

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import psycopg2.extras
import psycopg2.sql
import pytest

import reqscope
from reqscope import _core
from reqscope.hooks import psycopg2 as psycopg2_hook
from report_helpers import findings_of, query_named, sql_section


@pytest.fixture
def psycopg2_hooked():
    psycopg2_hook.install()
    yield
    psycopg2_hook.uninstall()


@pytest.fixture
def connection(postgres, psycopg2_hooked):
    """A recording connection with a fresh ``item`` table of five rows."""
    connection = psycopg2.connect(**postgres["params"])
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS item")
        cursor.execute("CREATE TABLE item (id int PRIMARY KEY, name text)")
        cursor.execute("INSERT INTO item SELECT g, 'item ' || g FROM generate_series(1, 5) g")
    connection.commit()
    yield connection
    connection.close()


def test_install_wraps_connect_and_uninstall_restores_it():
    original = psycopg2.connect
    psycopg2_hook.install()
    psycopg2_hook.install()  # Twice is harmless.
    assert psycopg2.connect is not original
    psycopg2_hook.uninstall()
    assert psycopg2.connect is original
    psycopg2_hook.uninstall()
    assert psycopg2.connect is original


def test_counts_and_durations_match_what_the_driver_ran(connection):
    started = time.perf_counter()
    with reqscope.profile() as scope:
        cursor = connection.cursor()
        for item_id in range(1, 4):
            cursor.execute("SELECT name FROM item WHERE id = %s", (item_id,))
            cursor.fetchone()
        cursor.execute("SELECT pg_sleep(0.05)")
        cursor.fetchall()
    wall_ms = (time.perf_counter() - started) * 1000
    sql = sql_section(scope)
    assert sql["count"] == 4 and sql["errors"] == 0
    lookup = query_named(scope, "from item where id = ?")
    assert lookup["count"] == 3 and lookup["distinct_params"] == 3 and lookup["rows"] == 3
    sleep = query_named(scope, "pg_sleep")
    assert sleep["count"] == 1 and sleep["max_ms"] >= 50
    assert 50 <= sql["time_ms"] <= wall_ms
    assert all(0 < q["time_ms"] and q["max_ms"] <= q["time_ms"] for q in sql["queries"])


def test_rows_of_a_read_are_counted_once_as_they_are_fetched(connection):
    with reqscope.profile() as scope:
        cursor = connection.cursor()
        cursor.execute("SELECT id FROM item")
        assert cursor.rowcount == 5
        assert len(cursor.fetchmany(2)) == 2 and len(cursor.fetchall()) == 3
    assert query_named(scope, "select id from item")["rows"] == 5


def test_rowcount_of_a_write_is_recorded(connection):
    with reqscope.profile() as scope:
        connection.cursor().execute("UPDATE item SET name = 'x' WHERE id <= 3")
    update = query_named(scope, "update item")
    assert update["rows"] == 3 and update["kind"] == "write"


def test_fetch_time_of_a_named_cursor_is_charged_to_its_statement(connection):
    with reqscope.profile() as scope:
        cursor = connection.cursor(name="slow_rows")
        cursor.execute("SELECT pg_sleep(0.01), id FROM item")
        rows = cursor.fetchall()
    assert len(rows) == 5
    query = query_named(scope, "pg_sleep")
    assert query["count"] == 1 and query["rows"] == 5
    assert query["time_ms"] >= 50  # Five rows at 10 ms each, computed while fetching.


def test_executemany_counts_once(connection):
    with reqscope.profile() as scope:
        connection.cursor().executemany("INSERT INTO item (id, name) VALUES (%s, %s)",
                                        [(10, "a"), (11, "b"), (12, "c")])
    sql = sql_section(scope)
    assert sql["count"] == 1
    assert query_named(scope, "insert into item")["rows"] == 3


def test_a_failing_statement_is_recorded_and_the_error_reaches_the_app(connection):
    with reqscope.profile() as scope:
        with pytest.raises(psycopg2.errors.UndefinedTable):
            connection.cursor().execute("SELECT * FROM no_such_table")
    connection.rollback()
    sql = sql_section(scope)
    assert sql["count"] == 1 and sql["errors"] == 1
    assert query_named(scope, "no_such_table")["errors"] == 1


def test_a_per_call_cursor_factory_is_respected_and_recorded(connection):
    with reqscope.profile() as scope:
        cursor = connection.cursor(cursor_factory=psycopg2.extras.RealDictCursor)
        assert isinstance(cursor, psycopg2.extras.RealDictCursor)
        cursor.execute("SELECT id, name FROM item WHERE id = %s", (2,))
        assert cursor.fetchone() == {"id": 2, "name": "item 2"}
    assert query_named(scope, "from item where id = ?")["rows"] == 1


def test_connection_level_cursor_factories_are_respected_and_recorded(postgres, psycopg2_hooked):
    named_tuples = psycopg2.connect(**postgres["params"],
                                    cursor_factory=psycopg2.extras.NamedTupleCursor)
    dict_rows = psycopg2.connect(**postgres["params"],
                                 connection_factory=psycopg2.extras.DictConnection)
    with reqscope.profile() as scope:
        cursor = named_tuples.cursor()
        cursor.execute("SELECT 1 AS one")
        assert cursor.fetchone().one == 1
        cursor = dict_rows.cursor()
        assert isinstance(cursor, psycopg2.extras.DictCursor)
        cursor.execute("SELECT 2 AS two")
        assert cursor.fetchone()["two"] == 2
    assert isinstance(dict_rows, psycopg2.extras.DictConnection)
    assert sql_section(scope)["count"] == 2
    named_tuples.close()
    dict_rows.close()


def test_a_cursor_subclass_is_timed_on_the_sql_it_finally_sends(connection):
    class CommentingCursor(psycopg2.extensions.cursor):
        def execute(self, query, vars=None):
            return super().execute(query.replace("FROM item", "FROM item AS commented"), vars)

    with reqscope.profile() as scope:
        cursor = connection.cursor(cursor_factory=CommentingCursor)
        cursor.execute("SELECT count(*) FROM item")
        assert cursor.fetchone() == (5,)
    assert query_named(scope, "as commented")["count"] == 1


def test_composed_sql_is_recorded_as_its_text(connection):
    query = psycopg2.sql.SQL("SELECT {} FROM {}").format(psycopg2.sql.Identifier("name"),
                                                         psycopg2.sql.Identifier("item"))
    with reqscope.profile() as scope:
        cursor = connection.cursor()
        cursor.execute(query)
        assert len(cursor.fetchall()) == 5
    assert query_named(scope, "select name from item")["rows"] == 5


def test_callproc_is_recorded_as_the_select_it_sends(connection):
    with reqscope.profile() as scope:
        cursor = connection.cursor()
        cursor.callproc("upper", ("abc",))
        assert cursor.fetchone() == ("ABC",)
    assert query_named(scope, "from upper(?)")["count"] == 1


def test_a_slow_read_gets_its_plan_and_the_explain_is_not_counted(connection):
    with reqscope.profile(slow_ms=20, slow_min_ms=20) as scope:
        cursor = connection.cursor()
        cursor.execute("SELECT name, pg_sleep(0.03) FROM item WHERE id = %s", (1,))
        cursor.fetchall()
    assert sql_section(scope)["count"] == 1
    [finding] = findings_of(scope, "slow")
    assert "Index Scan" in finding["explain"] or "Seq Scan" in finding["explain"]
    assert finding["explain"].count("\n") >= 1


def test_explain_inside_a_transaction_leaves_the_transaction_as_it_was(connection):
    cursor = connection.cursor()
    cursor.execute("INSERT INTO item VALUES (100, 'pending')")
    with reqscope.profile(slow_ms=20, slow_min_ms=20) as scope:
        cursor.execute("SELECT name, pg_sleep(0.03) FROM item WHERE id = 100")
        assert cursor.fetchall() == [("pending", "")]
    [finding] = findings_of(scope, "slow")
    assert "explain" in finding
    assert connection.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_INTRANS
    connection.rollback()
    cursor.execute("SELECT count(*) FROM item WHERE id = 100")
    assert cursor.fetchone() == (0,)


def test_a_failing_explain_leaves_the_transaction_usable(connection):
    cursor = connection.cursor()
    cursor.execute("INSERT INTO item VALUES (100, 'pending')")
    with reqscope.profile(slow_ms=0, slow_min_ms=0) as scope:
        cursor.execute("SHOW work_mem")  # A read that EXPLAIN refuses.
        assert cursor.fetchone()
    [finding] = findings_of(scope, "slow")
    assert finding["explain"].startswith("(EXPLAIN failed: SyntaxError")
    assert connection.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_INTRANS
    cursor.execute("SELECT name FROM item WHERE id = 100")
    assert cursor.fetchone() == ("pending",)
    connection.rollback()


def test_a_slow_write_is_never_explained(connection):
    with reqscope.profile(slow_ms=20, slow_min_ms=20) as scope:
        connection.cursor().execute(
            "UPDATE item SET name = 'slow' WHERE id = 1 AND pg_sleep(0.03) IS NOT NULL")
    [finding] = findings_of(scope, "slow")
    assert "explain" not in finding
    connection.rollback()


def test_explain_is_skipped_inside_a_failed_transaction(connection):
    cursor = connection.cursor()
    with pytest.raises(psycopg2.errors.DivisionByZero):
        cursor.execute("SELECT 1 / 0")
    fingerprint, _text = reqscope.fingerprint("SELECT 1")
    with reqscope.profile() as scope:
        psycopg2_hook.explain_statement(connection, fingerprint, "SELECT 1", None)
    assert connection.info.transaction_status == psycopg2.extensions.TRANSACTION_STATUS_INERROR
    assert sql_section(scope)["count"] == 0
    connection.rollback()


def test_nothing_is_recorded_without_a_scope_and_results_are_unchanged(connection):
    assert not _core.is_active()
    cursor = connection.cursor()
    cursor.execute("SELECT id FROM item ORDER BY id")
    assert cursor.fetchall() == [(1,), (2,), (3,), (4,), (5,)]
    with reqscope.profile() as scope:
        pass
    assert sql_section(scope)["count"] == 0


def test_connections_opened_before_install_are_not_recorded(postgres):
    connection = psycopg2.connect(**postgres["params"])
    psycopg2_hook.install()
    try:
        with reqscope.profile() as scope:
            connection.cursor().execute("SELECT 1")
        assert sql_section(scope)["count"] == 0
    finally:
        psycopg2_hook.uninstall()
        connection.close()
