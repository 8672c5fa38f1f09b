"""What a scope records of SQL run through the sqlite3 hook, and what its detectors find."""

import json
import sqlite3
import time

import pytest

import reqscope
from reqscope import _core
from report_helpers import findings_of, query_named, sql_section


def test_counts_and_durations_match_what_the_driver_ran(library_db):
    with reqscope.profile(name="counts") as scope:
        for book_id in range(1, 6):
            library_db.execute("SELECT title FROM book WHERE id = ?", (book_id,)).fetchall()
        library_db.execute("UPDATE book SET title = 'x' WHERE id < 4")
    sql = sql_section(scope)
    assert sql["count"] == 6
    select = query_named(scope, "from book where id = ?")
    assert select["count"] == 5 and select["distinct_params"] == 5 and select["rows"] == 5
    update = query_named(scope, "update book")
    assert update["count"] == 1 and update["rows"] == 3 and update["kind"] == "write"
    assert 0 < sql["time_ms"] <= scope.report.to_dict()["wall_ms"]
    assert all(q["max_ms"] <= q["time_ms"] for q in sql["queries"])


def test_nothing_is_recorded_without_a_scope(library_db):
    assert not _core.is_active()
    rows = library_db.execute("SELECT count(*) FROM book").fetchall()
    assert rows == [(10,)]
    with reqscope.profile() as scope:
        pass
    assert sql_section(scope)["count"] == 0


def test_fetch_time_and_rows_are_charged_to_the_statement(library_db):
    library_db.create_function("slow_identity", 1, lambda v: time.sleep(0.002) or v)
    with reqscope.profile() as scope:
        cursor = library_db.execute("SELECT slow_identity(id) FROM book")
        rows = cursor.fetchall()
    assert len(rows) == 10
    query = query_named(scope, "slow_identity")
    assert query["rows"] == 10
    assert query["time_ms"] >= 10 * 2  # Ten rows at 2 ms each, computed while fetching.


def test_executemany_and_executescript_count_once(library_db):
    with reqscope.profile() as scope:
        library_db.executemany("INSERT INTO author (name) VALUES (?)", [("a",), ("b",), ("c",)])
        library_db.executescript("UPDATE author SET name = 'z' WHERE id = 1; SELECT 1;")
    sql = sql_section(scope)
    assert sql["count"] == 2
    assert query_named(scope, "insert into author")["rows"] == 3


def test_a_failing_statement_is_recorded_and_the_error_reaches_the_app(library_db):
    with reqscope.profile() as scope:
        with pytest.raises(sqlite3.OperationalError):
            library_db.execute("SELECT * FROM no_such_table")
    sql = sql_section(scope)
    assert sql["count"] == 1 and sql["errors"] == 1


def test_repeated_read_is_a_duplicate(library_db):
    with reqscope.profile() as scope:
        for _ in range(3):
            library_db.execute("SELECT name FROM author WHERE id = ?", (1,)).fetchone()
    sql = sql_section(scope)
    assert sql["duplicates"] == 2
    [duplicate] = findings_of(scope, "duplicate")
    assert duplicate["count"] == 2 and duplicate["callsite"]["file"] == __file__


def test_a_write_in_between_means_no_duplicate(library_db):
    with reqscope.profile() as scope:
        library_db.execute("SELECT name FROM author WHERE id = ?", (1,)).fetchone()
        library_db.execute("UPDATE author SET name = ? WHERE id = ?", ("new", 1))
        library_db.execute("SELECT name FROM author WHERE id = ?", (1,)).fetchone()
    assert sql_section(scope)["duplicates"] == 0
    assert findings_of(scope, "duplicate") == []


def test_a_loop_of_lookups_is_one_n_plus_one_at_the_loop_line(library_db):
    books = library_db.execute("SELECT id, author_id FROM book").fetchall()
    with reqscope.profile() as scope:
        for _book_id, author_id in books:
            library_db.execute("SELECT name FROM author WHERE id = ?", (author_id,)).fetchone()
            loop_line = _current_line() - 1
    [finding] = findings_of(scope, "n_plus_one")
    assert finding["count"] == 10
    assert finding["callsite"]["file"] == __file__ and finding["callsite"]["line"] == loop_line
    assert finding["callsite"]["function"].endswith("at_the_loop_line")
    assert sql_section(scope)["similar_groups"] == 1


def test_a_batched_in_list_is_not_an_n_plus_one(library_db):
    with reqscope.profile() as scope:
        for start in range(1, 10, 3):
            ids = (start, start + 1, start + 2)
            library_db.execute("SELECT name FROM author WHERE id IN (?, ?, ?)", ids).fetchall()
    assert findings_of(scope, "n_plus_one") == []


def test_the_same_lookup_from_two_lines_is_not_one_n_plus_one(library_db):
    with reqscope.profile() as scope:
        for author_id in (1, 2):
            library_db.execute("SELECT name FROM author WHERE id = ?", (author_id,))
        for author_id in (3, 4):
            library_db.execute("SELECT name FROM author WHERE id = ?", (author_id,))
    assert findings_of(scope, "n_plus_one") == []


def test_slow_read_is_found_with_its_query_plan(library_db):
    library_db.create_function("pause", 1, lambda ms: time.sleep(ms / 1000) or 1)
    with reqscope.profile(slow_ms=30) as scope:
        library_db.execute("SELECT title FROM book WHERE pause(40) = 1 AND id = 1").fetchall()
        library_db.execute("SELECT title FROM book WHERE id = 2").fetchall()
    [slow] = findings_of(scope, "slow")
    assert slow["count"] == 1 and slow["time_ms"] >= 40
    assert "book" in slow["explain"].lower() and "search" in slow["explain"].lower()
    assert sql_section(scope)["count"] == 2  # The EXPLAIN is not counted.


def test_slow_write_is_never_explained(library_db):
    library_db.create_function("pause", 1, lambda ms: time.sleep(ms / 1000) or 1)
    with reqscope.profile(slow_ms=20) as scope:
        library_db.execute("UPDATE book SET title = 'x' WHERE pause(30) = 1 AND id = 1")
    [slow] = findings_of(scope, "slow")
    assert "explain" not in slow


def test_share_of_wall_time_rule_needs_the_floor(library_db):
    library_db.create_function("pause", 1, lambda ms: time.sleep(ms / 1000) or 1)
    with reqscope.profile(slow_ms=1000, slow_min_ms=10) as scope:
        library_db.execute("SELECT pause(15)").fetchall()  # Most of the scope's wall time.
    assert len(findings_of(scope, "slow")) == 1
    with reqscope.profile(slow_ms=1000, slow_min_ms=50) as scope:
        library_db.execute("SELECT pause(15)").fetchall()
    assert findings_of(scope, "slow") == []


def test_parameter_values_are_not_stored_by_default(library_db):
    secret = "hunter2-secret-value"
    with reqscope.profile() as scope:
        library_db.execute("SELECT id FROM author WHERE name = ?", (secret,)).fetchall()
    assert secret not in json.dumps(scope.report.to_dict())
    assert secret not in scope.report.render("console", color=False)


def test_show_params_keeps_a_repr_of_the_first_parameters(library_db):
    with reqscope.profile(show_params=True) as scope:
        library_db.execute("SELECT id FROM author WHERE name = ?", ("visible",)).fetchall()
    assert query_named(scope, "from author")["params"] == "('visible',)"


def test_nested_scopes_both_see_the_inner_statements(library_db):
    with reqscope.profile(name="outer") as outer:
        library_db.execute("SELECT 1").fetchall()
        with reqscope.profile(name="inner") as inner:
            library_db.execute("SELECT 2 AS two").fetchall()
        assert _core.current_scope() is outer
    assert sql_section(inner)["count"] == 1
    assert sql_section(outer)["count"] == 2
    assert _core.current_scope() is None and _core.thread_scope() is None


def test_console_summary_counts_every_kind(library_db):
    with reqscope.profile(name="summary") as scope:
        for author_id in (1, 2, 3, 1):
            library_db.execute("SELECT name FROM author WHERE id = ?", (author_id,)).fetchone()
    text = scope.report.render("console", color=False)
    summary = text.splitlines()[1]
    assert summary.startswith("[SQL] 4 queries (1 duplicate, 1 similar, 1 N+1), ")
    assert summary.endswith(" ms total")
    assert "N+1" in text and "select name from author where id = ?" in text
    assert "\033[" not in text
    assert "\033[" in scope.report.render("console", color=True)


def test_console_escapes_control_characters(library_db):
    with reqscope.profile(name="evil\033[2J") as scope:
        for _ in range(2):
            library_db.execute('SELECT 1 AS "x\033[2Jy"').fetchall()
    assert "\033[2J" not in scope.report.render("console", color=False)


def _current_line():
    import sys
    return sys._getframe(1).f_lineno


def test_a_read_slow_in_its_fetches_is_slow_and_explained(library_db):
    library_db.create_function("pause", 1, lambda ms: time.sleep(ms / 1000) or 1)
    with reqscope.profile(slow_ms=30) as scope:
        # SQLite computes rows while they are fetched: 10 rows of 4 ms each.
        rows = library_db.execute("SELECT title FROM book WHERE pause(4) = 1").fetchall()
    assert len(rows) == 10
    [slow] = findings_of(scope, "slow")
    assert slow["time_ms"] >= 40
    assert "scan book" in slow["explain"].lower()
    assert query_named(scope, "pause")["max_ms"] >= 40


class Unhashable:
    """A parameter type with an adapter but no hash (equal by value, like many value objects)."""

    __hash__ = None

    def __init__(self, value):
        self.value = value

    def __eq__(self, other):
        return isinstance(other, Unhashable) and other.value == self.value


sqlite3.register_adapter(Unhashable, lambda item: item.value)


def test_parameters_by_content_for_mutable_bytes_and_never_falsely_for_unhashable_ones(library_db):
    with reqscope.profile() as scope:
        for _ in range(2):
            library_db.execute("SELECT ? AS blob", (bytearray(b"same bytes"),)).fetchall()
        library_db.execute("SELECT ? AS view", (memoryview(b"one"),)).fetchall()
        library_db.execute("SELECT ? AS view", (memoryview(b"two"),)).fetchall()
        for value in ("a", "b", "c"):
            # Each object is freed before the next is made, often at the same address.
            library_db.execute("SELECT ? AS value", (Unhashable(value),)).fetchall()
    assert query_named(scope, "as blob")["duplicates"] == 1
    assert query_named(scope, "as view")["distinct_params"] == 2
    assert query_named(scope, "as value")["duplicates"] == 0
    assert query_named(scope, "as value")["distinct_params"] == 3


def test_a_scope_after_a_busy_one_starts_from_empty_tables(library_db, tmp_path):
    """A scope's SQL state is reused by the next one, which clears only what a scope starts
    from: nothing of the first scope (its statements, cursors, aliases, writes) may show."""
    other = sqlite3.connect(str(tmp_path / "other.db"))
    other.execute("CREATE TABLE t (x)")
    with reqscope.profile(on_report=None):
        for book_id in range(1, 11):
            library_db.execute("SELECT title FROM book WHERE id = ?", (book_id,)).fetchall()
            other.execute("INSERT INTO t VALUES (?)", (book_id,))
        open_cursor = library_db.execute("SELECT id FROM book")  # Its rows are never fetched.
    with reqscope.profile() as scope:
        library_db.execute("SELECT count(*) FROM author").fetchall()
        library_db.execute("SELECT count(*) FROM author").fetchall()
        open_cursor.fetchall()  # A cursor of the first scope: charged to no statement here.
    sql = sql_section(scope)
    assert sql["count"] == 2 and sql["duplicates"] == 1
    assert [query["text"] for query in sql["queries"]] == ["select count(*) from author"]
    assert [finding["kind"] for finding in sql["findings"]] == ["duplicate"]
    other.close()
