"""The demo `make demo` runs: a small library app on a real SQLite file, profiled by reqscope.

It shows what reqscope finds in one unit of work: an N+1 loop, a duplicate lookup, a slow read
with its query plan, and where the time went by Python stack, in the console summary. The full
demo app comes with a later issue.
"""

import pathlib
import sqlite3
import tempfile
import time

import reqscope

reqscope.install()


def make_library(path):
    connection = sqlite3.connect(path)
    connection.executescript(
        """
        CREATE TABLE author (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
        CREATE TABLE book (id INTEGER PRIMARY KEY, title TEXT, author_id INTEGER);
        """
    )
    connection.executemany("INSERT INTO author VALUES (?, ?)",
                           [(i, f"Author {i}") for i in range(1, 21)])
    connection.executemany("INSERT INTO book VALUES (?, ?, ?)",
                           [(i, f"Book {i}", (i % 20) + 1) for i in range(1, 41)])
    connection.commit()
    connection.create_function("pause_ms", 1, lambda ms: time.sleep(ms / 1000) or 1)
    return connection


def book_list(connection):
    """A view with the classic mistakes."""
    books = connection.execute("SELECT id, title, author_id FROM book").fetchall()
    page = []
    for _book_id, title, author_id in books:
        author = connection.execute("SELECT name FROM author WHERE id = ?", (author_id,))
        page.append((title, author.fetchone()[0]))
    connection.execute("SELECT count(*) FROM book").fetchone()
    connection.execute("SELECT count(*) FROM book").fetchone()
    connection.execute("SELECT pause_ms(120), count(*) FROM book WHERE title LIKE ?",
                       ("%7%",)).fetchall()
    return page


def main():
    with tempfile.TemporaryDirectory() as folder:
        connection = make_library(pathlib.Path(folder) / "library.db")
        with reqscope.profile(name="GET /books", cpu=True) as scope:
            book_list(connection)
        connection.close()
    print(scope.report.render("console"))
    slow = [f for f in scope.report.to_dict()["sql"]["findings"] if f["kind"] == "slow"]
    if slow and "explain" in slow[0]:
        print("\nPlan of the slow read:\n" + slow[0]["explain"])


if __name__ == "__main__":
    main()
