"""Fixtures for unit tests: the sqlite3 hook installed for one test, and a SQLite file."""

import sqlite3

import pytest

from reqscope.hooks import sqlite3 as sqlite3_hook


@pytest.fixture
def sqlite_hooked():
    """The sqlite3 hook, installed for the test and removed after it."""
    sqlite3_hook.install()
    yield
    sqlite3_hook.uninstall()


@pytest.fixture
def library_db(tmp_path, sqlite_hooked):
    """A recording connection to a real SQLite file with authors and books."""
    connection = sqlite3.connect(tmp_path / "library.db")
    connection.executescript(
        """
        CREATE TABLE author (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
        CREATE TABLE book (id INTEGER PRIMARY KEY, title TEXT, author_id INTEGER);
        """
    )
    connection.executemany("INSERT INTO author (id, name) VALUES (?, ?)",
                           [(i, f"author {i}") for i in range(1, 11)])
    connection.executemany("INSERT INTO book (id, title, author_id) VALUES (?, ?, ?)",
                           [(i, f"book {i}", i) for i in range(1, 11)])
    connection.commit()
    yield connection
    connection.close()
