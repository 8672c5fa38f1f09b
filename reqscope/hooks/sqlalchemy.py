"""The SQLAlchemy hook: ``Engine`` cursor events, and names for the ORM's lazy loads.

``before_cursor_execute`` / ``after_cursor_execute`` / ``handle_error`` listeners on the
``Engine`` class see every statement of every engine, made before or after ``install()``. The
statement is timed from the first event to the second, as event-style (``SQL_CONN_SCOPED``): a
driver hook below (sqlite3, psycopg2, psycopg) sees the same statement on the same driver
connection and steps aside, so each statement counts once, while fetches through a hooked
driver cursor are still charged to it. The token lives on the ``ExecutionContext``. A slow
read is EXPLAINed once per scope on the same connection for sqlite3, psycopg2 and sync psycopg.

Asyncio engines run the events in a greenlet whose stack does not reach the application's
frames, so when the async driver is hooked too (psycopg) this hook steps aside and the driver
hook records the statement where the application awaited it; with an unhooked async driver
(asyncpg, aiosqlite) this hook records it, with call sites inside SQLAlchemy and no plan.

``install()`` also registers the ORM's lazy loader, so an N+1 caused by touching a relationship
in a loop is labelled ``Model.relationship`` (``Book.author``).

Not recorded: the few statements SQLAlchemy runs without an execution context (sequence and
column-default pre-execution); a driver hook records those when installed. If another
``before_cursor_execute`` listener registered after this one raises, the statement stays in
flight until its scope ends, and later statements on that connection in the scope are taken for
nested ones; the ``handle_error`` listener goes first so that errors raised by the driver always
end the statement.
"""

import sys

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.engine.interfaces import ExecuteStyle

from .. import _core
from . import _explain

_sql_begin = _core.sql_begin
_sql_end = _core.sql_end
_is_active = _core.is_active
_CONN_SCOPED = _core.SQL_CONN_SCOPED
_MANY = _core.SQL_MANY

_installed = False


def _alias(engine):
    """The database an engine talks to: its database name or SQLite file, else its backend."""
    url = engine.url
    return url.database or url.get_backend_name()


def _rows_changed(cursor):
    """The rowcount to record: rows a write changed; -1 when the statement returned rows that a
    recording driver cursor will count as they are fetched."""
    try:
        if cursor.description is not None and getattr(type(cursor), "_reqscope_recording", False):
            return -1
        return cursor.rowcount
    except Exception:
        return -1


def _explain_statement(driver_connection, cursor, fingerprint, statement, parameters):
    """EXPLAINs a slow read on ``driver_connection`` when its driver is one reqscope knows."""
    # A driver whose module is not imported cannot have made this connection.
    sqlite3 = sys.modules.get("sqlite3")
    psycopg2_extensions = sys.modules.get("psycopg2.extensions")
    psycopg = sys.modules.get("psycopg")
    if sqlite3 is not None and isinstance(driver_connection, sqlite3.Connection):
        _explain.explain_sync(fingerprint, "sqlite", sqlite3.Connection.cursor(driver_connection),
                              statement, parameters, driver_connection.in_transaction,
                              analyze=False)
    elif psycopg2_extensions is not None and isinstance(driver_connection,
                                                        psycopg2_extensions.connection):
        from . import psycopg2 as psycopg2_hook
        psycopg2_hook.explain_statement(driver_connection, fingerprint, statement, parameters)
    elif psycopg is not None and isinstance(driver_connection, psycopg.Connection):
        from . import psycopg as psycopg_hook
        psycopg_hook.explain_statement(cursor, fingerprint, statement, parameters)


def _before_cursor_execute(conn, cursor, statement, parameters, context, executemany):
    if context is None or not _is_active():
        return
    try:
        driver_connection = conn.connection.driver_connection
        if conn.dialect.is_async and getattr(type(driver_connection), "_reqscope_recording",
                                             False):
            return  # Left to the driver hook, which sees the application's frames.
        flags = _CONN_SCOPED
        if executemany and context.execute_style is ExecuteStyle.EXECUTEMANY:
            flags |= _MANY
        context._reqscope_token = _sql_begin(driver_connection, cursor, _alias(conn.engine),
                                             statement, parameters, flags)
    except Exception:  # Never raise into the application; the statement goes unrecorded.
        pass


def _after_cursor_execute(conn, cursor, statement, parameters, context, executemany):
    token = getattr(context, "_reqscope_token", None)
    if token is None:
        return
    context._reqscope_token = None
    fingerprint = _sql_end(token, _rows_changed(cursor), False)
    if fingerprint is None:
        return
    try:
        _explain_statement(conn.connection.driver_connection, cursor, fingerprint, statement,
                           parameters)
    except Exception:  # The finding goes without a plan.
        pass


def _handle_error(exception_context):
    context = exception_context.execution_context
    token = getattr(context, "_reqscope_token", None)
    if token is not None:
        context._reqscope_token = None
        _sql_end(token, -1, True)


def _relationship_label(lazy_loader):
    """``Model.relationship`` for the ORM lazy loader that ran an N+1's statements."""
    relationship = lazy_loader.parent_property
    return f"{relationship.parent.class_.__name__}.{relationship.key}"


def _register_lazy_loader():
    try:
        from sqlalchemy.orm.strategies import LazyLoader
    except ImportError:  # An SQLAlchemy without the ORM.
        return
    _core.register_lazy_loader(LazyLoader._load_for_state.__code__, _relationship_label)


def install():
    """Listens to every ``Engine``'s cursor events and labels lazy loads. Idempotent."""
    global _installed
    if _installed:
        return
    event.listen(Engine, "before_cursor_execute", _before_cursor_execute)
    event.listen(Engine, "after_cursor_execute", _after_cursor_execute)
    event.listen(Engine, "handle_error", _handle_error, insert=True)
    _register_lazy_loader()
    _installed = True


def uninstall():
    """Removes the listeners. The lazy-loader label stays registered; it only names findings."""
    global _installed
    if not _installed:
        return
    event.remove(Engine, "before_cursor_execute", _before_cursor_execute)
    event.remove(Engine, "after_cursor_execute", _after_cursor_execute)
    event.remove(Engine, "handle_error", _handle_error)
    _installed = False
