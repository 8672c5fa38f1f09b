"""The SQLAlchemy hook over SQLite and PostgreSQL: each statement once, even with the driver
hooked too; EXPLAIN for slow reads; N+1 findings named after the relationship."""

import asyncio
import sqlite3
import time

import pytest
import sqlalchemy
from sqlalchemy import ForeignKey, String, create_engine, insert, select, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

import reqscope
from reqscope import _core
from reqscope.hooks import sqlalchemy as sqlalchemy_hook
from report_helpers import findings_of, query_named, sql_section


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "author"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


class Book(Base):
    __tablename__ = "book"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(50))
    author_id: Mapped[int] = mapped_column(ForeignKey("author.id"))
    author: Mapped[Author] = relationship()


def fill_library(engine):
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        for number in range(1, 6):
            author = Author(id=number, name=f"author {number}")
            session.add_all([author, Book(id=number, title=f"book {number}", author=author)])
        session.commit()


@pytest.fixture
def sqlite_engine(tmp_path, installed):
    engine = create_engine(f"sqlite:///{tmp_path / 'library.db'}")
    fill_library(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["psycopg2", "psycopg"])
def postgres_engine(request, postgres, installed):
    """An engine over PostgreSQL through each driver, both driver and SQLAlchemy hooked."""
    url = postgres["url"].replace("+psycopg2", f"+{request.param}")
    engine = create_engine(url)
    fill_library(engine)
    yield engine
    engine.dispose()


def test_install_listens_on_every_engine_and_uninstall_stops_listening(tmp_path):
    # Made before install(), on connections no driver hook can see (built without connect()).
    engine = create_engine("sqlite://", creator=lambda: sqlite3.Connection(tmp_path / "a.db"))
    sqlalchemy_hook.install()
    sqlalchemy_hook.install()  # Twice is harmless.
    try:
        with engine.connect() as connection, reqscope.profile() as scope:
            connection.execute(text("SELECT 1"))
        assert sql_section(scope)["count"] == 1
    finally:
        sqlalchemy_hook.uninstall()
    with engine.connect() as connection, reqscope.profile() as scope:
        connection.execute(text("SELECT 1"))
    assert sql_section(scope)["count"] == 0


def test_sqlite_counts_and_durations_match_what_ran_once_each(sqlite_engine):
    started = time.perf_counter()
    with sqlite_engine.connect() as connection, reqscope.profile() as scope:
        for book_id in range(1, 4):
            connection.execute(select(Book.title).where(Book.id == book_id)).all()
        connection.execute(sqlalchemy.update(Book).where(Book.id < 3).values(title="x"))
    wall_ms = (time.perf_counter() - started) * 1000
    sql = sql_section(scope)
    assert sql["count"] == 4
    lookup = query_named(scope, "from book where book.id = ?")
    assert lookup["count"] == 3 and lookup["rows"] == 3
    assert query_named(scope, "update book")["rows"] == 2
    assert 0 < sql["time_ms"] <= wall_ms


def test_executemany_counts_once(sqlite_engine):
    with sqlite_engine.begin() as connection, reqscope.profile() as scope:
        connection.execute(insert(Author), [{"id": 10 + n, "name": f"new {n}"} for n in range(3)])
    assert sql_section(scope)["count"] == 1
    assert query_named(scope, "insert into author")["rows"] == 3


def test_a_failing_statement_is_recorded_and_the_error_reaches_the_app(sqlite_engine):
    with sqlite_engine.connect() as connection, reqscope.profile() as scope:
        with pytest.raises(sqlalchemy.exc.OperationalError):
            connection.execute(text("SELECT * FROM no_such_table"))
        connection.execute(text("SELECT 1"))  # The connection is not left taken.
    sql = sql_section(scope)
    assert sql["count"] == 2 and sql["errors"] == 1


def test_an_orm_n_plus_one_is_labelled_with_the_relationship(sqlite_engine):
    with Session(sqlite_engine) as session, reqscope.profile() as scope:
        for book in session.scalars(select(Book)):
            assert book.author.name.startswith("author")
    [finding] = findings_of(scope, "n_plus_one")
    assert finding["count"] == 5 and finding["label"] == "Book.author"
    assert finding["callsite"]["file"] == __file__


def test_a_slow_sqlite_read_gets_its_query_plan(sqlite_engine):
    @sqlalchemy.event.listens_for(sqlite_engine, "connect")
    def add_sleep(dbapi_connection, _record):
        dbapi_connection.create_function("slow", 1, lambda value: time.sleep(0.03) or value)

    sqlite_engine.dispose()
    with sqlite_engine.connect() as connection:
        with reqscope.profile(slow_ms=20, slow_min_ms=20) as scope:
            connection.execute(text("SELECT slow(title) FROM book WHERE id = 1")).all()
    [finding] = findings_of(scope, "slow")
    assert "SEARCH book" in finding["explain"]


def test_postgres_statements_count_once_with_the_driver_hooked_too(postgres_engine):
    with postgres_engine.connect() as connection, reqscope.profile() as scope:
        for book_id in range(1, 4):
            connection.execute(select(Book.title).where(Book.id == book_id)).all()
        connection.execute(select(Book.id)).all()
        connection.execute(insert(Author), [{"id": 10 + n, "name": f"new {n}"} for n in range(3)])
        connection.rollback()
    sql = sql_section(scope)
    assert sql["count"] == 5
    assert query_named(scope, "where book.id = ")["count"] == 3
    assert query_named(scope, "select book.id from book")["rows"] == 5
    assert query_named(scope, "insert into author")["rows"] == 3


def test_fetch_time_through_the_hooked_driver_is_charged_to_the_statement(postgres_engine):
    with postgres_engine.connect() as connection, reqscope.profile() as scope:
        streamed = connection.execution_options(stream_results=True)
        rows = streamed.execute(text("SELECT pg_sleep(0.01), id FROM book")).all()
    assert len(rows) == 5
    query = query_named(scope, "pg_sleep")
    assert query["count"] == 1 and query["rows"] == 5
    assert query["time_ms"] >= 50  # Five rows at 10 ms each, computed while fetching.


def test_a_slow_postgres_read_gets_its_plan_and_a_write_does_not(postgres_engine):
    with postgres_engine.connect() as connection:
        with reqscope.profile(slow_ms=20, slow_min_ms=20) as scope:
            connection.execute(text("SELECT title, pg_sleep(0.03) FROM book WHERE id = :id"),
                               {"id": 1}).all()
            connection.execute(text(
                "UPDATE book SET title = 'slow' WHERE id = 1 AND pg_sleep(0.03) IS NOT NULL"))
        connection.rollback()
    assert sql_section(scope)["count"] == 2
    read, write = sorted(findings_of(scope, "slow"), key=lambda f: f["text"])
    assert "Scan" in read["explain"] and "explain" not in write


def test_a_failing_postgres_statement_is_recorded_once(postgres_engine):
    with postgres_engine.connect() as connection, reqscope.profile() as scope:
        with pytest.raises(sqlalchemy.exc.ProgrammingError):
            connection.execute(text("SELECT * FROM no_such_table"))
        connection.rollback()
        connection.execute(text("SELECT 1"))
    sql = sql_section(scope)
    assert sql["errors"] == 1
    assert query_named(scope, "no_such_table")["count"] == 1


def test_an_asyncio_engine_counts_each_statement_once_at_the_app_line(postgres, installed):
    async def run():
        engine = create_async_engine(postgres["url"].replace("+psycopg2", "+psycopg"))
        async with engine.connect() as connection:
            async with reqscope.profile() as scope:
                for number in range(3):
                    rows = await connection.execute(text("SELECT :number AS n"), {"number": number})
                    assert rows.all() == [(number,)]
                with pytest.raises(sqlalchemy.exc.ProgrammingError):
                    await connection.execute(text("SELECT * FROM no_such_table"))
        await engine.dispose()
        return scope

    scope = asyncio.run(run())
    sql = sql_section(scope)
    assert sql["count"] == 4 and sql["errors"] == 1
    lookup = query_named(scope, "select ? as n")
    assert lookup["count"] == 3 and lookup["callsites"][0]["file"] == __file__


def test_nothing_is_recorded_without_a_scope_and_results_are_unchanged(sqlite_engine):
    assert not _core.is_active()
    with sqlite_engine.connect() as connection:
        titles = connection.execute(select(Book.title).order_by(Book.id)).scalars().all()
    assert titles == [f"book {n}" for n in range(1, 6)]
