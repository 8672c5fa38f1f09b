"""Fixtures for integration tests: a throwaway PostgreSQL cluster, and reqscope's hooks installed.

``postgres`` starts a private cluster once per test session from the newest server found under
/usr/lib/postgresql/*/bin: its own data directory, a Unix socket in a temporary directory, no
TCP listener and fsync off, so it never touches a system cluster and dies with the session. As
root the server runs as the ``postgres`` OS user (PostgreSQL refuses to run as root). When the
server binaries are missing the tests fail with the command that installs them: CI must never
skip the PostgreSQL tests silently.
"""

import glob
import os
import pwd
import shutil
import subprocess
import tempfile

import pytest

import reqscope

TEST_DATABASE = "reqscope_test"
PORT = 5432  # Only names the socket file; the socket directory is private to the session.
INSTALL_HINT = "sudo apt-get install -y postgresql   (or, as root: tools/setup-system)"


def _newest_server_bin() -> str:
    """The bin directory of the newest PostgreSQL server installed; fails the test if none."""
    candidates = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not candidates:
        pytest.fail(f"PostgreSQL server binaries not found under /usr/lib/postgresql. "
                    f"Install them with:\n  {INSTALL_HINT}", pytrace=False)
    newest = max(candidates, key=lambda path: int(path.split("/")[-3].split(".")[0]))
    return os.path.dirname(newest)


def _as_server_user(command):
    """``command`` run as the postgres OS user when we are root, else as ourselves."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def _server_environment():
    """Our environment without what `make asan` adds for Python: the sanitizer runtime must not
    be preloaded into PostgreSQL's own programs (initdb hangs under it)."""
    removed = {"LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS", "PYTHONMALLOC"}
    return {name: value for name, value in os.environ.items() if name not in removed}


def _run(command, what):
    completed = subprocess.run(_as_server_user(command), capture_output=True, text=True,
                               env=_server_environment())
    if completed.returncode != 0:
        pytest.fail(f"{what} failed ({completed.returncode}):\n{completed.stdout}"
                    f"{completed.stderr}", pytrace=False)


@pytest.fixture(scope="session")
def postgres():
    """A running private PostgreSQL cluster with an empty test database.

    Yields a dict: ``params`` (host = socket directory, port, user, dbname: keyword arguments
    for psycopg2.connect and psycopg.connect), ``dsn`` (a libpq conninfo string) and ``url``
    (an SQLAlchemy URL for psycopg2).
    """
    bin_dir = _newest_server_bin()
    root = tempfile.mkdtemp(prefix="reqscope-pg-")
    data_dir, socket_dir = os.path.join(root, "data"), os.path.join(root, "socket")
    os.mkdir(socket_dir)
    if os.geteuid() == 0:
        server_user = pwd.getpwnam("postgres")
        for path in (root, socket_dir):
            os.chown(path, server_user.pw_uid, server_user.pw_gid)
    os.chmod(socket_dir, 0o777)  # Any test process may connect through the socket.
    _run([f"{bin_dir}/initdb", "-D", data_dir, "-U", "postgres", "--auth=trust", "-E", "UTF8",
          "--no-sync"], "initdb")
    options = f"-k {socket_dir} -p {PORT} -c listen_addresses='' -c fsync=off"
    _run([f"{bin_dir}/pg_ctl", "-D", data_dir, "-o", options, "-l", f"{root}/server.log",
          "-w", "start"], "pg_ctl start")
    try:
        _run([f"{bin_dir}/createdb", "-h", socket_dir, "-p", str(PORT), "-U", "postgres",
              TEST_DATABASE], "createdb")
        params = {"host": socket_dir, "port": PORT, "user": "postgres", "dbname": TEST_DATABASE}
        yield {
            "params": params,
            "dsn": " ".join(f"{key}={value}" for key, value in params.items()),
            "url": f"postgresql+psycopg2://postgres@/{TEST_DATABASE}?host={socket_dir}"
                   f"&port={PORT}",
        }
    finally:
        subprocess.run(_as_server_user([f"{bin_dir}/pg_ctl", "-D", data_dir, "-m", "immediate",
                                        "stop"]), capture_output=True, env=_server_environment())
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def installed():
    """Every reqscope hook whose library is importable, installed for one test."""
    hooked = reqscope.install()
    yield hooked
    reqscope.uninstall()
