"""The public API: ``reqscope.profile`` as a block, a decorator and an async block; reports."""

import asyncio
import io
import json

import pytest

import reqscope
from reqscope import _core


def read_one_author(connection, author_id=1):
    return connection.execute("SELECT name FROM author WHERE id = ?", (author_id,)).fetchone()


def sql_count(scope):
    return scope.report.to_dict()["sql"]["count"]


def test_a_block_records_the_statements_run_inside_it_only(library_db):
    read_one_author(library_db)
    with reqscope.profile(name="block") as scope:
        read_one_author(library_db)
        read_one_author(library_db, 2)
    read_one_author(library_db)

    assert scope.name == "block"
    assert not scope.active
    assert sql_count(scope) == 2


def test_a_decorated_function_runs_in_a_fresh_scope_per_call(library_db):
    reports = []

    @reqscope.profile(on_report=reports.append)
    def lookup(author_id):
        return read_one_author(library_db, author_id)

    assert lookup(1) == ("author 1",)
    assert lookup(2) == ("author 2",)

    assert [sql_count(scope) for scope in reports] == [1, 1]
    assert reports[0].id != reports[1].id
    assert reports[0].name == f"{__name__}.{lookup.__qualname__}"
    assert lookup.__name__ == "lookup"


def test_a_decorated_coroutine_function_is_profiled_across_awaits(library_db):
    reports = []

    @reqscope.profile(name="task", on_report=reports.append)
    async def lookups():
        read_one_author(library_db)
        await asyncio.sleep(0)
        return read_one_author(library_db, 2)

    assert asyncio.run(lookups()) == ("author 2",)

    (scope,) = reports
    assert scope.name == "task"
    assert sql_count(scope) == 2


def test_a_decorated_function_that_raises_still_reports(library_db):
    reports = []

    @reqscope.profile(on_report=reports.append)
    def failing():
        read_one_author(library_db)
        raise KeyError("boom")

    with pytest.raises(KeyError):
        failing()

    assert sql_count(reports[0]) == 1
    assert _core.current_scope() is None


def test_async_with_records_what_the_task_runs(library_db):
    async def main():
        async with reqscope.profile(name="async block") as scope:
            read_one_author(library_db)
            await asyncio.sleep(0)
            read_one_author(library_db, 2)
        return scope

    scope = asyncio.run(main())

    assert sql_count(scope) == 2


def test_interleaved_tasks_keep_their_statements_apart(library_db):
    async def task(author_id, times):
        async with reqscope.profile(name=f"task {author_id}") as scope:
            for _ in range(times):
                read_one_author(library_db, author_id)
                await asyncio.sleep(0)
        return scope

    async def main():
        return await asyncio.gather(task(1, 2), task(2, 5))

    first, second = asyncio.run(main())

    assert (sql_count(first), sql_count(second)) == (2, 5)


def test_an_inner_scope_statements_also_appear_in_the_outer_report(library_db):
    with reqscope.profile(name="outer") as outer:
        read_one_author(library_db)
        with reqscope.profile(name="inner") as inner:
            read_one_author(library_db, 2)
            read_one_author(library_db, 3)

    assert sql_count(inner) == 2
    assert sql_count(outer) == 3


def test_current_and_thread_scope_are_restored_after_each_exit():
    assert _core.current_scope() is None and _core.thread_scope() is None
    with reqscope.profile(name="outer") as outer:
        assert _core.current_scope().id == outer.id
        with pytest.raises(ZeroDivisionError):
            with reqscope.profile(name="inner") as inner:
                assert _core.current_scope().id == inner.id
                assert _core.thread_scope().id == inner.id
                1 / 0
        assert _core.current_scope().id == outer.id
        assert _core.thread_scope().id == outer.id
    assert _core.current_scope() is None and _core.thread_scope() is None


def test_start_enters_a_scope_outside_any_block_until_close(library_db):
    job = reqscope.profile(name="callback", on_report=None)
    scope = job.start()
    assert scope.active and _core.current_scope() is scope
    read_one_author(library_db)
    with job as inner:  # The same profile's block ends its own scope, not the started one.
        read_one_author(library_db)
    assert not inner.active and scope.active and _core.current_scope() is scope
    scope.close()
    assert not scope.active and _core.current_scope() is None
    assert sql_count(scope) == 2 and sql_count(inner) == 1
    assert repr(scope) == f"<reqscope.Scope {scope.id} 'callback' done>"
    with pytest.raises(RuntimeError, match="not active"):
        scope.close()


@pytest.mark.parametrize("setting, value", [
    ("slow_ms", -1),
    ("slow_share", 2),
    ("slow_min_ms", "10"),
    ("n_plus_one_min", 1),
    ("sql", "yes"),
])
def test_bad_settings_raise_config_error_naming_the_setting(setting, value):
    with pytest.raises(reqscope.ConfigError, match=setting):
        reqscope.profile(**{setting: value})


def test_unknown_arguments_and_a_non_string_name_are_type_errors():
    with pytest.raises(TypeError, match="slowms"):
        reqscope.profile(slowms=5)
    with pytest.raises(TypeError, match="name"):
        reqscope.profile(name=42)


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_console_colour_only_on_a_terminal_without_no_color(library_db, monkeypatch):
    with reqscope.profile(name="colours") as scope:
        read_one_author(library_db)
    monkeypatch.delenv("NO_COLOR", raising=False)

    monkeypatch.setattr("sys.stderr", FakeTerminal())
    assert "\x1b[" in scope.report.render("console")

    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in scope.report.render("console")

    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert "\x1b[" not in scope.report.render("console")


def test_an_unknown_format_is_a_value_error_listing_the_formats():
    with reqscope.profile() as scope:
        pass

    with pytest.raises(ValueError, match="console"):
        scope.report.render("bogus")


def test_to_dict_is_json_serialisable_with_every_kind_of_finding(library_db):
    with reqscope.profile(name="json", slow_ms=0, slow_min_ms=0) as scope:
        scope.request = {"method": "GET", "path": "/authors", "route": None, "status": 200}
        for author_id in range(1, 5):
            read_one_author(library_db, author_id)
        read_one_author(library_db)

    report = scope.report.to_dict()

    assert json.loads(json.dumps(report)) == report
    assert report["request"]["path"] == "/authors"
    assert {finding["kind"] for finding in report["sql"]["findings"]} >= {
        "n_plus_one", "duplicate", "slow"}
    assert json.loads(scope.report.render("json")) == report
