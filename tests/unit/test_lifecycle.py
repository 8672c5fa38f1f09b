"""The hooks survive fork, interpreter shutdown and scopes that are never exited."""

import os
import subprocess
import sys
import textwrap
import threading

import pytest

import reqscope
from reqscope import _core

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_python(code):
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [
        os.environ.get("PYTHONPATH"), ROOT])))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=60, env=environment)


def test_interpreter_shutdown_with_a_scope_left_open_is_clean():
    result = run_python("""
        import sqlite3, threading, reqscope
        reqscope.install()
        scope = reqscope.profile(name="left open").__enter__()
        connection = sqlite3.connect(":memory:")
        connection.execute("SELECT 1").fetchall()
        def worker():
            with reqscope.profile():
                sqlite3.connect(":memory:").execute("SELECT 2").fetchall()
        threading.Thread(target=worker, daemon=True).start()
        print("ok")
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
# CPython 3.12+ warns on any fork while another thread lives, such as the sampler thread an
# earlier test's CPU scope left idling for a second; the atfork handlers make this fork safe.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_child_forked_inside_a_scope_keeps_working(sqlite_hooked, tmp_path):
    import sqlite3
    with reqscope.profile() as scope:
        sqlite3.connect(":memory:").execute("SELECT 1").fetchall()
        pid = os.fork()
        if pid == 0:  # The child: record into its copy of the scope, then a new one.
            status = 1
            try:
                connection = sqlite3.connect(":memory:")
                connection.execute("SELECT 2").fetchall()
                with reqscope.profile() as child_scope:
                    connection.execute("SELECT 3").fetchall()
                if child_scope.report.to_dict()["sql"]["count"] == 1:
                    status = 0
            finally:
                os._exit(status)
        _, wait_status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(wait_status) == 0
    assert scope.report.to_dict()["sql"]["count"] == 1


def test_a_scope_entered_twice_or_exited_twice_raises_clearly():
    scope = _core.Scope("twice")
    scope._enter()
    with pytest.raises(RuntimeError, match="only once"):
        scope._enter()
    scope._exit()
    with pytest.raises(RuntimeError, match="not active"):
        scope._exit()


def test_report_of_a_running_scope_is_a_snapshot():
    with reqscope.profile() as scope:
        first = scope.report.to_dict()
        assert first["sql"]["count"] == 0
    assert scope.report.to_dict()["wall_ms"] >= first["wall_ms"]


def test_a_scope_handed_to_another_thread_and_exited_there_is_harmless(sqlite_hooked):
    import threading
    import sqlite3
    profile = reqscope.profile()
    scope = profile.__enter__()
    sqlite3.connect(":memory:").execute("SELECT 1").fetchall()
    errors = []

    def exit_elsewhere():
        try:
            scope._exit()
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    thread = threading.Thread(target=exit_elsewhere)
    thread.start()
    thread.join()
    assert errors == [] and not scope.active
    assert scope.report.to_dict()["sql"]["count"] == 1
    assert _core.thread_scope() is None  # Done scopes are never handed out.


def live_scopes():
    import gc
    gc.collect()
    return sum(1 for item in gc.get_objects() if type(item) is _core.Scope)


def test_scopes_exited_out_of_order_are_freed():
    before = live_scopes()
    for _ in range(200):  # Enter A, enter B, exit A, exit B: interleaved requests on a loop.
        first = _core.Scope("a")
        first._enter()
        second = _core.Scope("b")
        second._enter()
        first._exit()
        second._exit()
    del first, second
    assert live_scopes() - before <= 2


def test_a_statement_whose_parameters_run_sql_while_hashed_records_both(sqlite_hooked):
    import sqlite3

    connection = sqlite3.connect(":memory:")

    class Key:
        """A parameter whose __hash__ runs a query, as some ORM value types do."""

        def __hash__(self):
            connection.execute("SELECT 'inner'").fetchall()
            return 7

        def __conform__(self, protocol):
            return 7

    with reqscope.profile() as scope:
        connection.execute("SELECT ? AS outer_value", (Key(),)).fetchall()
    texts = sorted(q["text"] for q in scope.report.to_dict()["sql"]["queries"])
    assert texts == ["select ?", "select ? as outer_value"], texts


def test_a_statement_that_is_not_utf8_still_gets_a_report(sqlite_hooked):
    import sqlite3

    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE caf (x)")
    with reqscope.profile() as scope:
        for _ in range(3):
            token = _core.sql_begin(connection, None, "x", b"SELECT * FROM caf\xe9 WHERE x = 1",
                                    None, 0)
            _core.sql_end(token, -1, False)
    [query] = scope.report.to_dict()["sql"]["queries"]
    assert "\ufffd" in query["text"] and query["count"] == 3
    assert "caf" in scope.report.render("console", color=False)


def test_editing_the_dict_of_to_dict_leaves_the_report_intact(sqlite_hooked):
    import sqlite3

    connection = sqlite3.connect(":memory:")
    with reqscope.profile() as scope:
        for _ in range(2):
            connection.execute("SELECT 1").fetchall()
    scrubbed = scope.report.to_dict()
    scrubbed["sql"]["findings"][0]["callsite"]["function"] = None
    scrubbed["sql"]["findings"][0]["text"] = None
    assert "duplicate" in scope.report.render("console", color=False)
    assert scope.report.to_dict()["sql"]["findings"][0]["text"] == "select ?"


def test_a_shared_profile_object_ends_the_scope_its_own_block_began():
    shared = reqscope.profile(on_report=None)
    with reqscope.profile(on_report=None) as outer:
        with shared as inner:
            inner.close()  # Ended early, from inside the block.
        assert outer.active  # The block's exit must not end the enclosing scope.
    assert not outer.active


def test_profile_blocks_exited_out_of_order_each_end_their_own_scope():
    """The blocks entered inside one that exits first stay open, in their order, and the
    innermost still open stays the current scope (what the SQL hooks record into)."""
    first, second, third = (reqscope.profile(name=name, on_report=None) for name in "abc")
    scopes = [profile.__enter__() for profile in (first, second, third)]
    assert first.__exit__(None, None, None) is False  # The outermost first.
    assert [scope.active for scope in scopes] == [False, True, True]
    assert _core.current_scope() is scopes[2]
    third.__exit__(None, None, None)
    assert [scope.active for scope in scopes] == [False, True, False]
    assert _core.current_scope() is scopes[1]
    second.__exit__(None, None, None)
    assert not any(scope.active for scope in scopes)
    assert _core.current_scope() is None
    assert first.__exit__(None, None, None) is False  # No block of its own left: a no-op.


def test_cpu_time_of_a_scope_closed_on_another_thread_is_the_entering_threads():
    import threading

    scope = reqscope.profile(on_report=None).__enter__()
    thread = threading.Thread(target=scope.close)
    thread.start()
    thread.join()
    report = scope.report.to_dict()
    assert 0 <= report["cpu_ms"] <= report["wall_ms"] + 10


def fork_and_report(check):
    """Runs check() in a forked child; returns what it returned, as text."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        os.write(write_end, str(check()).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as reader:
        result = reader.read()
    os.waitpid(pid, 0)
    return result


# Forking with another thread alive is the point here (CPython 3.12+ warns about it).
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_ends_the_scopes_of_the_parents_other_threads():
    """Only the forking thread exists in a child: another thread's scope (memory, CPU and SQL
    on) must end there, so the hooks go back to idle, while the forking thread's goes on."""
    entered, release = threading.Event(), threading.Event()

    def other_thread():
        with reqscope.profile(name="other", memory=True, cpu=True, on_report=None):
            entered.set()
            release.wait(30)

    thread = threading.Thread(target=other_thread)
    thread.start()
    entered.wait(30)
    try:
        assert _core.is_active()
        alone = fork_and_report(_core.is_active)
        with reqscope.profile(name="forking", memory=True, on_report=None):
            own = fork_and_report(lambda: (_core.is_active(), _core.current_scope().name))
    finally:
        release.set()
        thread.join()
    assert alone == "False"
    assert own == "(True, 'forking')"
