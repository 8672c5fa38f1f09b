"""Scopes running at once never mix: threads each with their own scope, and interleaved asyncio
tasks each in their own ``async with reqscope.profile()``.

Every worker runs statements only it runs: literals normalize to ``?``, so the statements differ
by their column aliases (``SELECT ? AS w3_first``). A report holding another worker's alias, or a
count off by one, means a statement went to the wrong scope.
"""

import asyncio
import sqlite3
import threading

import psycopg
import psycopg2

import reqscope

THREADS = 8
TASKS = 50
FIRST_RUNS, SECOND_RUNS = 6, 3


def queries_by_text(scope):
    return {q["text"]: q["count"] for q in scope.report.to_dict()["sql"]["queries"]}


def expected_queries(worker):
    return {f"select ? as w{worker}_first": FIRST_RUNS,
            f"select ? as w{worker}_second": SECOND_RUNS}


def test_threads_record_only_their_own_statements(postgres, installed, tmp_path):
    database = tmp_path / "threads.db"
    start_together = threading.Barrier(THREADS)
    scopes, errors = {}, []

    def work(worker):
        try:
            pg_connection = psycopg2.connect(**postgres["params"])
            sqlite_connection = sqlite3.connect(database)
            start_together.wait()
            with reqscope.profile(name=f"thread {worker}") as scope:
                for run in range(FIRST_RUNS):
                    cursor = pg_connection.cursor()
                    cursor.execute(f"SELECT %s AS w{worker}_first", (run,))
                    assert cursor.fetchone() == (run,)
                    sqlite_connection.execute(f"SELECT ? AS w{worker}_first", (run,)).fetchone()
                for run in range(SECOND_RUNS):
                    pg_connection.cursor().execute(f"SELECT %s AS w{worker}_second", (run,))
                    sqlite_connection.execute(f"SELECT ? AS w{worker}_second", (run,))
            scopes[worker] = scope
            pg_connection.close()
            sqlite_connection.close()
        except BaseException as error:  # Reported by the main thread.
            errors.append(error)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for worker, scope in scopes.items():
        # Each statement ran once on PostgreSQL and once on SQLite: same fingerprint, twice.
        doubled = {text: 2 * count for text, count in expected_queries(worker).items()}
        assert queries_by_text(scope) == doubled
        assert scope.report.to_dict()["sql"]["count"] == 2 * (FIRST_RUNS + SECOND_RUNS)


def test_interleaved_asyncio_tasks_record_only_their_own_statements(postgres, installed):
    async def task(worker, all_connected):
        async with await psycopg.AsyncConnection.connect(postgres["dsn"]) as connection:
            all_connected.append(worker)
            while len(all_connected) < TASKS:
                await asyncio.sleep(0)
            async with reqscope.profile(name=f"task {worker}") as scope:
                for run in range(FIRST_RUNS):
                    cursor = await connection.execute(f"SELECT %s AS w{worker}_first", (run,))
                    assert await cursor.fetchone() == (run,)
                    await asyncio.sleep(0)
                for run in range(SECOND_RUNS):
                    await connection.execute(f"SELECT %s AS w{worker}_second", (run,))
                    await asyncio.sleep(0)
        return scope

    async def run_all():
        all_connected = []
        return await asyncio.gather(*(task(worker, all_connected) for worker in range(TASKS)))

    scopes = asyncio.run(run_all())
    for worker, scope in enumerate(scopes):
        assert queries_by_text(scope) == expected_queries(worker)
        sql = scope.report.to_dict()["sql"]
        assert sql["count"] == FIRST_RUNS + SECOND_RUNS
        assert sql["time_ms"] <= scope.report.to_dict()["wall_ms"]
