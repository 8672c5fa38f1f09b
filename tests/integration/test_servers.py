"""Real apps behind real servers: Django under gunicorn (WSGI) and uvicorn (ASGI), Flask under
gunicorn with the WSGI middleware, and FastAPI under uvicorn with the ASGI middleware. Each
request prints its summary to the server's stderr; the tests read it after stopping the
server."""

import concurrent.futures
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

INTEGRATION = Path(__file__).resolve().parent
ROOT = INTEGRATION.parent.parent
BIN = Path(sys.executable).parent


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_listening(port, server, errors, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            errors.seek(0)
            raise RuntimeError(f"server exited early: {errors.read()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start listening in time")


@contextmanager
def serve(command, environment):
    """Runs a server; yields (base URL, a list that receives its stderr once it stopped).

    stderr goes to a file, not a pipe: a server that prints more than a pipe holds would block
    on its next write until someone read it."""
    port = free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(INTEGRATION)]),
               **environment)
    env.pop("REQSCOPE_ENABLED", None)
    output = []
    with tempfile.TemporaryFile(mode="w+") as errors:
        server = subprocess.Popen([str(part).format(port=port) for part in command],
                                  cwd=INTEGRATION, env=env, stdout=subprocess.DEVNULL,
                                  stderr=errors, text=True)
        try:
            wait_until_listening(port, server, errors)
            yield f"http://127.0.0.1:{port}", output
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            errors.seek(0)
            output.append(errors.read())


def get(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200
        return response.read()


def summaries(stderr):
    return [line for line in stderr.splitlines() if line.startswith("[SQL]")]


@pytest.fixture(scope="module")
def django_database(tmp_path_factory):
    folder = tmp_path_factory.mktemp("served-djangoapp")
    environment = {"DJANGOAPP_DATABASE_DIR": str(folder),
                   "DJANGO_SETTINGS_MODULE": "djangoapp.settings"}
    setup = ("import django; django.setup(); "
             "from djangoapp.library.fixtures import setup_database; "
             "setup_database('default'); setup_database('other')")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(INTEGRATION)]),
               **environment)
    subprocess.run([sys.executable, "-c", setup], cwd=INTEGRATION, env=env, check=True,
                   timeout=120)
    return environment


def test_django_under_gunicorn_prints_each_requests_findings(django_database):
    command = [BIN / "gunicorn", "--workers", "2", "--bind", "127.0.0.1:{port}",
               "djangoapp.wsgi:application"]
    with serve(command, django_database) as (url, output):
        get(url + "/books/")
        get(url + "/authors/3/twice/")
    stderr = output[0]
    lines = summaries(stderr)
    assert len(lines) == 2, stderr
    assert any(line.startswith("[SQL] 11 queries (") and "1 N+1" in line for line in lines)
    assert any("1 duplicate" in line for line in lines)
    assert "library/views.py" in stderr and "[library.Book.author]" in stderr
    assert "GET /books/" in stderr and "GET /authors/<int:pk>/twice/" in stderr


def test_django_under_uvicorn_profiles_async_requests(django_database):
    command = [BIN / "uvicorn", "--host", "127.0.0.1", "--port", "{port}",
               "djangoapp.asgi:application"]
    with serve(command, django_database) as (url, output):
        get(url + "/books/async/")  # An async view on the async ORM.
        get(url + "/books/")  # A sync view, run by Django in a worker thread.
    stderr = output[0]
    lines = sorted(summaries(stderr))
    assert len(lines) == 2, stderr
    assert lines[0].startswith("[SQL] 1 query (0 duplicates, 0 similar, 0 N+1)"), stderr
    assert lines[1].startswith("[SQL] 11 queries (") and "1 N+1" in lines[1], stderr
    assert "GET /books/async/" in stderr and "[library.Book.author]" in stderr


def author_database(path):
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE author (id INTEGER PRIMARY KEY, name TEXT)")
    connection.executemany("INSERT INTO author VALUES (?, ?)",
                           [(i, f"author {i}") for i in range(1, 6)])
    connection.commit()
    connection.close()
    return path


def test_flask_under_gunicorn_with_the_wsgi_middleware(tmp_path):
    database = author_database(tmp_path / "flask.db")
    command = [BIN / "gunicorn", "--workers", "1", "--threads", "4", "--bind",
               "127.0.0.1:{port}", "flaskapp:app"]
    with serve(command, {"FLASKAPP_DATABASE": str(database)}) as (url, output):
        get(url + "/authors")
        get(url + "/authors/2")
    stderr = output[0]
    lines = sorted(summaries(stderr))  # Threads may finish the two responses in either order.
    assert len(lines) == 2, stderr
    assert lines[0].startswith("[SQL] 2 queries (1 duplicate, "), stderr
    assert lines[1].startswith("[SQL] 6 queries (0 duplicates, 1 similar, 1 N+1)"), stderr
    assert "flaskapp.py" in stderr and "GET /authors" in stderr
    assert "GET /authors/<int:author_id>" in stderr and "GET /authors/2" not in stderr


def test_fastapi_under_uvicorn_with_the_asgi_middleware(tmp_path):
    """Requests named by route template; SQL findings per request; and two requests burning
    CPU in turns on the one event loop each get only their own function."""
    database = author_database(tmp_path / "fastapi.db")
    command = [BIN / "uvicorn", "--host", "127.0.0.1", "--port", "{port}", "fastapiapp:app"]
    environment = {"FASTAPIAPP_DATABASE": str(database), "REQSCOPE_CPU": "1"}
    with serve(command, environment) as (url, output):
        get(url + "/authors")
        get(url + "/authors/2")
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            list(pool.map(get, [url + "/spin/a", url + "/spin/b"]))
    reports = {}
    for line in output[0].splitlines():
        if line.startswith("REPORT "):
            report = json.loads(line[len("REPORT "):])
            reports[report["request"]["path"]] = report
    assert set(reports) == {"/authors", "/authors/2", "/spin/a", "/spin/b"}, output[0]
    twice = reports["/authors/2"]
    assert twice["name"] == "GET /authors/{author_id}"
    assert twice["request"] == {"method": "GET", "path": "/authors/2",
                                "route": "/authors/{author_id}", "status": 200}
    assert twice["queries"] == 2 and "duplicate" in twice["findings"]
    assert reports["/authors"]["queries"] == 6 and "n_plus_one" in reports["/authors"]["findings"]
    a, b = reports["/spin/a"]["functions"], reports["/spin/b"]["functions"]
    assert "spin_in_a" in a and "spin_in_b" not in a, a
    assert "spin_in_b" in b and "spin_in_a" not in b, b


def test_a_leaking_django_view_under_gunicorn_is_found_and_a_bounded_cache_is_not(
        django_database):
    """One worker, memory traced at 64 KiB (a 10 KB leak is sampled once in ~7 requests: about
    25 samples in the 180 requests after the warm-up)."""
    command = [BIN / "gunicorn", "--workers", "1", "--bind", "127.0.0.1:{port}",
               "djangoapp.wsgi:application"]
    environment = dict(django_database, REQSCOPE_MEMORY="1", REQSCOPE_MEMORY_RATE="65536")
    with serve(command, environment) as (url, output):
        for number in range(200):
            get(url + "/leak/")
            get(url + f"/cached/{number % 64}/")
        sites = json.loads(get(url + "/reqscope/memory-growth/"))["sites"]
    growing = [site for site in sites if site["growing"] and site["confidence"] >= 0.9]
    assert [(site["route"], site["function"]) for site in growing] == [("GET /leak/", "leaky")]
    assert growing[0]["file"].endswith("library/views.py")
    assert 3_000 <= growing[0]["bytes_per_request"] <= 30_000
    assert any(site["route"] == "GET /cached/<int:key>/" and site["function"] == "rendered_page"
               for site in sites), sites  # Followed, and judged not growing.
    assert "[MEM] +" in output[0]
