"""A FastAPI app on a SQLite file, profiled by reqscope's ASGI middleware; served by uvicorn in
test_servers.py. ``/authors`` has an N+1 loop, ``/authors/{author_id}`` a duplicate read, and
``/spin/a`` and ``/spin/b`` burn CPU in turns with other requests on the one event loop. Each
report is written to stderr as one JSON line, for the test to read."""

import asyncio
import json
import os
import sqlite3
import sys
import time

from fastapi import FastAPI

import reqscope
from reqscope.asgi import ReqscopeASGIMiddleware

reqscope.install(only=["sqlite3"])


def write_report(scope):
    report = scope.report.to_dict()
    cpu = report.get("cpu") or {}
    print("REPORT " + json.dumps({
        "name": report["name"], "request": report["request"],
        "queries": report["sql"]["count"],
        "findings": sorted(f["kind"] for f in report["sql"]["findings"]),
        "functions": sorted(f["function"] for f in cpu.get("functions", [])),
    }), file=sys.stderr, flush=True)


app = FastAPI()
app.add_middleware(ReqscopeASGIMiddleware, on_report=write_report)


def connect():
    return sqlite3.connect(os.environ["FASTAPIAPP_DATABASE"])


@app.get("/authors")
async def author_names():
    connection = connect()
    ids = [row[0] for row in connection.execute("SELECT id FROM author").fetchall()]
    names = [connection.execute("SELECT name FROM author WHERE id = ?", (author_id,)).fetchone()[0]
             for author_id in ids]
    connection.close()
    return names


@app.get("/authors/{author_id}")
async def author_twice(author_id: int):
    connection = connect()
    first = connection.execute("SELECT name FROM author WHERE id = ?", (author_id,)).fetchone()
    second = connection.execute("SELECT name FROM author WHERE id = ?", (author_id,)).fetchone()
    connection.close()
    return [first[0], second[0]]


def burn(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def spin_in_a():
    burn(0.005)


def spin_in_b():
    burn(0.005)


@app.get("/spin/{which}")
async def spin(which: str):
    work = spin_in_a if which == "a" else spin_in_b
    for _ in range(40):
        work()
        await asyncio.sleep(0.001)  # Lets the other request run on the loop.
    return which
