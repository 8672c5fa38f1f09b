"""The psycopg 3 hook against a real PostgreSQL, sync and async: what it records, and that the
app sees no change."""

import asyncio
import time

import psycopg
import psycopg.errors
import psycopg.rows
import psycopg.sql
import pytest

import reqscope
from reqscope import _core
from reqscope.hooks import psycopg as psycopg_hook
from report_helpers import findings_of, query_named, sql_section


@pytest.fixture
def psycopg_hooked():
    psycopg_hook.install()
    yield
    psycopg_hook.uninstall()


@pytest.fixture
def connection(postgres, psycopg_hooked):
    """A recording connection with a fresh ``item`` table of five rows."""
    connection = psycopg.connect(postgres["dsn"])
    connection.execute("DROP TABLE IF EXISTS item")
    connection.execute("CREATE TABLE item (id int PRIMARY KEY, name text)")
    connection.execute("INSERT INTO item SELECT g, 'item ' || g FROM generate_series(1, 5) g")
    connection.commit()
    yield connection
    connection.close()


def test_install_wraps_connect_and_uninstall_restores_it():
    original_connect = psycopg.connect
    original_sync = psycopg.Connection.__dict__["connect"]
    original_async = psycopg.AsyncConnection.__dict__["connect"]
    psycopg_hook.install()
    psycopg_hook.install()  # Twice is harmless.
    assert psycopg.connect != original_connect
    psycopg_hook.uninstall()
    assert psycopg.connect is original_connect
    assert psycopg.Connection.__dict__["connect"] is original_sync
    assert psycopg.AsyncConnection.__dict__["connect"] is original_async


def test_counts_and_durations_match_what_the_driver_ran(connection):
    started = time.perf_counter()
    with reqscope.profile() as scope:
        for item_id in range(1, 4):
            connection.execute("SELECT name FROM item WHERE id = %s", (item_id,)).fetchone()
        connection.execute("SELECT pg_sleep(0.05)").fetchall()
    wall_ms = (time.perf_counter() - started) * 1000
    sql = sql_section(scope)
    assert sql["count"] == 4 and sql["errors"] == 0
    lookup = query_named(scope, "from item where id = ?")
    assert lookup["count"] == 3 and lookup["distinct_params"] == 3 and lookup["rows"] == 3
    assert query_named(scope, "pg_sleep")["max_ms"] >= 50
    assert 50 <= sql["time_ms"] <= wall_ms
    assert all(0 < q["time_ms"] and q["max_ms"] <= q["time_ms"] for q in sql["queries"])


def test_rows_of_a_read_are_counted_once_and_writes_count_changed_rows(connection):
    with reqscope.profile() as scope:
        cursor = connection.cursor()
        cursor.execute("SELECT id FROM item")
        assert len(cursor.fetchmany(2)) == 2 and len(cursor.fetchall()) == 3
        cursor.execute("UPDATE item SET name = 'x' WHERE id <= 3")
    assert query_named(scope, "select id from item")["rows"] == 5
    assert query_named(scope, "update item")["rows"] == 3


def test_executemany_counts_once(connection):
    with reqscope.profile() as scope:
        connection.cursor().executemany("INSERT INTO item (id, name) VALUES (%s, %s)",
                                        [(10, "a"), (11, "b"), (12, "c")])
    assert sql_section(scope)["count"] == 1
    assert query_named(scope, "insert into item")["rows"] == 3


def test_a_failing_statement_is_recorded_and_the_error_reaches_the_app(connection):
    with reqscope.profile() as scope:
        with pytest.raises(psycopg.errors.UndefinedTable):
            connection.execute("SELECT * FROM no_such_table")
    connection.rollback()
    sql = sql_section(scope)
    assert sql["count"] == 1 and sql["errors"] == 1


def test_a_user_cursor_factory_is_respected_and_recorded(postgres, psycopg_hooked):
    class AppCursor(psycopg.ClientCursor):
        def greeting(self):
            return "hello"

    with psycopg.connect(postgres["dsn"], cursor_factory=AppCursor,
                         row_factory=psycopg.rows.dict_row) as connection:
        with reqscope.profile() as scope:
            cursor = connection.cursor()
            assert isinstance(cursor, AppCursor) and cursor.greeting() == "hello"
            assert cursor.execute("SELECT 1 AS one").fetchone() == {"one": 1}
            connection.cursor_factory = psycopg.RawCursor  # Assigned later: still recorded.
            assert connection.execute("SELECT $1::int AS two", (2,)).fetchall() == [{"two": 2}]
    assert sql_section(scope)["count"] == 2


def test_a_connection_subclass_connects_and_records(postgres, psycopg_hooked):
    class AppConnection(psycopg.Connection):
        pass

    with AppConnection.connect(postgres["dsn"]) as connection:
        assert isinstance(connection, AppConnection)
        with reqscope.profile() as scope:
            connection.execute("SELECT 1")
    assert sql_section(scope)["count"] == 1


def test_composed_sql_is_recorded_as_its_text(connection):
    query = psycopg.sql.SQL("SELECT {} FROM {}").format(psycopg.sql.Identifier("name"),
                                                        psycopg.sql.Identifier("item"))
    with reqscope.profile() as scope:
        assert len(connection.execute(query).fetchall()) == 5
    assert query_named(scope, "select name from item")["rows"] == 5


def test_a_server_side_cursor_is_recorded_with_its_fetch_time(connection):
    with reqscope.profile(slow_ms=20, slow_min_ms=20) as scope:
        with connection.cursor(name="slow_rows") as cursor:
            cursor.execute("SELECT pg_sleep(0.01), id FROM item")
            assert len(cursor.fetchmany(2)) == 2 and len(cursor.fetchall()) == 3
    query = query_named(scope, "pg_sleep")
    assert query["count"] == 1 and query["rows"] == 5 and query["time_ms"] >= 50
    assert all("explain" not in finding for finding in findings_of(scope, "slow"))


def test_a_slow_read_gets_its_plan_and_the_explain_is_not_counted(connection):
    with reqscope.profile(slow_ms=20, slow_min_ms=20) as scope:
        connection.execute("SELECT name, pg_sleep(0.03) FROM item WHERE id = %s", (1,))
    assert sql_section(scope)["count"] == 1
    [finding] = findings_of(scope, "slow")
    assert "Scan" in finding["explain"]


def test_explain_inside_a_transaction_leaves_the_transaction_as_it_was(connection):
    connection.execute("INSERT INTO item VALUES (100, 'pending')")
    with reqscope.profile(slow_ms=20, slow_min_ms=20) as scope:
        rows = connection.execute("SELECT name, pg_sleep(0.03) FROM item WHERE id = 100")
        assert rows.fetchall() == [("pending", "")]
    assert "explain" in findings_of(scope, "slow")[0]
    assert connection.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    connection.rollback()
    assert connection.execute("SELECT count(*) FROM item WHERE id = 100").fetchone() == (0,)


def test_a_failing_explain_leaves_the_transaction_usable(connection):
    connection.execute("INSERT INTO item VALUES (100, 'pending')")
    with reqscope.profile(slow_ms=0, slow_min_ms=0) as scope:
        assert connection.execute("SHOW work_mem").fetchone()  # A read EXPLAIN refuses.
    [finding] = findings_of(scope, "slow")
    assert finding["explain"].startswith("(EXPLAIN failed: SyntaxError")
    assert connection.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    assert connection.execute("SELECT name FROM item WHERE id = 100").fetchone() == ("pending",)
    connection.rollback()


def test_a_failing_async_explain_leaves_the_transaction_usable(postgres, connection):
    async def run():
        async with await psycopg.AsyncConnection.connect(postgres["dsn"]) as async_connection:
            await async_connection.execute("INSERT INTO item VALUES (101, 'pending')")
            async with reqscope.profile(slow_ms=0, slow_min_ms=0) as scope:
                await async_connection.execute("SHOW work_mem")
            rows = await async_connection.execute("SELECT name FROM item WHERE id = 101")
            assert await rows.fetchone() == ("pending",)
            await async_connection.rollback()
        return scope

    [finding] = findings_of(asyncio.run(run()), "slow")
    assert finding["explain"].startswith("(EXPLAIN failed: SyntaxError")


def test_a_slow_write_is_never_explained(connection):
    with reqscope.profile(slow_ms=20, slow_min_ms=20) as scope:
        connection.execute(
            "UPDATE item SET name = 'slow' WHERE id = 1 AND pg_sleep(0.03) IS NOT NULL")
    [finding] = findings_of(scope, "slow")
    assert "explain" not in finding
    connection.rollback()


def test_explain_is_skipped_inside_a_failed_transaction(connection):
    cursor = connection.cursor()
    with pytest.raises(psycopg.errors.DivisionByZero):
        cursor.execute("SELECT 1 / 0")
    fingerprint, _text = reqscope.fingerprint("SELECT 1")
    with reqscope.profile() as scope:
        psycopg_hook.explain_statement(cursor, fingerprint, "SELECT 1", None)
    assert connection.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
    assert sql_section(scope)["count"] == 0
    connection.rollback()


def test_nothing_is_recorded_without_a_scope_and_results_are_unchanged(connection):
    assert not _core.is_active()
    rows = connection.execute("SELECT id FROM item ORDER BY id").fetchall()
    assert rows == [(1,), (2,), (3,), (4,), (5,)]
    with reqscope.profile() as scope:
        pass
    assert sql_section(scope)["count"] == 0


def test_async_statements_fetches_and_slow_reads_are_recorded(postgres, connection):
    async def run():
        async with await psycopg.AsyncConnection.connect(postgres["dsn"]) as async_connection:
            async with reqscope.profile(slow_ms=20, slow_min_ms=20) as scope:
                cursor = async_connection.cursor()
                await cursor.execute("SELECT id FROM item WHERE id <= %s", (3,))
                assert len(await cursor.fetchall()) == 3
                await cursor.executemany("INSERT INTO item VALUES (%s, %s)", [(20, "a"), (21, "b")])
                await async_connection.execute("SELECT pg_sleep(0.03), name FROM item WHERE id = 1")
                with pytest.raises(psycopg.errors.UndefinedTable):
                    await cursor.execute("SELECT * FROM no_such_table")
            await async_connection.rollback()
        return scope

    scope = asyncio.run(run())
    sql = sql_section(scope)
    assert sql["count"] == 4 and sql["errors"] == 1
    assert query_named(scope, "where id <= ?")["rows"] == 3
    assert query_named(scope, "insert into item")["rows"] == 2
    [finding] = findings_of(scope, "slow")
    assert "Scan" in finding["explain"]


def test_an_async_server_side_cursor_is_recorded(postgres, connection):
    async def run():
        async with await psycopg.AsyncConnection.connect(postgres["dsn"]) as async_connection:
            async with reqscope.profile() as scope:
                async with async_connection.cursor(name="rows") as cursor:
                    await cursor.execute("SELECT id FROM item")
                    assert len(await cursor.fetchmany(2)) == 2
                    assert await cursor.fetchone() == (3,)
        return scope

    scope = asyncio.run(run())
    assert sql_section(scope)["count"] == 1
    assert query_named(scope, "select id from item")["rows"] == 3
