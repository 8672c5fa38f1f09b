"""The psycopg2 hook: ``psycopg2.connect`` wrapped to hand out recording connections and cursors.

``connect`` passes a ``connection_factory`` that subclasses the one asked for (default
``psycopg2.extensions.connection``). Its ``cursor()`` hands out a recording subclass of whichever
cursor class is in effect: the per-call ``cursor_factory=``, the connection's ``cursor_factory``
attribute, or the factory a connection class of psycopg2.extras picks (DictConnection and
friends), so RealDictCursor rows stay dicts and are still recorded. The recording classes sit
*below* the application's classes in the method resolution order, just above psycopg2's C
types: they time what psycopg2 itself runs, after any cursor subclass has rewritten the SQL.

Recorded: ``execute``, ``executemany`` (one statement), ``callproc`` (as the SELECT psycopg2
sends), on client and named (server-side) cursors, with ``fetchone`` / ``fetchmany`` /
``fetchall`` time and rows charged to the statement. Not recorded: iterating a cursor with
``for row in cursor`` (wrapping ``__next__`` would slow every row; a named cursor's FETCHes
while iterating go unseen), ``copy_*``, ``scroll``, connections opened before ``install()``,
connections built without ``psycopg2.connect`` and asynchronous (``async_=True``) connections,
whose execute returns before the statement ran. A slow read is EXPLAINed once per scope on a
plain cursor of the same connection, never for a named cursor nor inside a failed transaction.
With no scope active each method costs one call that returns None.
"""

import functools

import psycopg2
import psycopg2.extensions as extensions

from .. import _core
from . import _explain

_sql_begin = _core.sql_begin
_sql_end = _core.sql_end
_sql_fetch = _core.sql_fetch
_is_active = _core.is_active
_MANY = _core.SQL_MANY

_IN_TRANSACTION = extensions.TRANSACTION_STATUS_INTRANS
_FAILED_TRANSACTION = extensions.TRANSACTION_STATUS_INERROR
_DEFAULT_ALIAS = "postgresql"

_c_cursor = extensions.cursor
_c_connection = extensions.connection
_execute, _executemany, _callproc = _c_cursor.execute, _c_cursor.executemany, _c_cursor.callproc
_fetchone, _fetchmany, _fetchall = _c_cursor.fetchone, _c_cursor.fetchmany, _c_cursor.fetchall
_c_connection_cursor = _c_connection.cursor

# psycopg2.connect before install(), while installed; None otherwise.
_original_connect = None


def _statement_text(query, connection):
    """The text of a ``psycopg2.sql`` object, rendered only while a scope is active."""
    if isinstance(query, (str, bytes)) or not _is_active():
        return query
    try:
        return query.as_string(connection)
    except Exception:  # The driver will say what is wrong with it; reqscope drops it.
        return query


def _rows_changed(cursor):
    """The rowcount to record: rows a write changed, or -1 when the statement returned rows
    (those are counted as they are fetched)."""
    try:
        return cursor.rowcount if cursor.description is None else -1
    except Exception:
        return -1


def explain_statement(connection, fingerprint, sql, params):
    """EXPLAINs ``sql`` on a plain, unrecorded cursor of ``connection``; never raises.

    Skipped when the connection's transaction has failed (any statement would be refused)."""
    try:
        status = connection.info.transaction_status
        if status == _FAILED_TRANSACTION or connection.closed:
            return
        cursor = _c_connection_cursor(connection, cursor_factory=_c_cursor)
    except Exception:
        return
    _explain.explain_sync(fingerprint, "postgresql", cursor, sql, params,
                          status == _IN_TRANSACTION)


def _explain_unnamed_cursor(cursor, fingerprint, sql, params):
    if cursor.name is None:
        explain_statement(cursor.connection, fingerprint, sql, params)


def _finish(token, cursor, sql, params):
    """Ends a statement that succeeded; runs EXPLAIN when the core asks for it."""
    fingerprint = _sql_end(token, _rows_changed(cursor), False)
    if fingerprint is not None and cursor.name is None:
        explain_statement(cursor.connection, fingerprint, sql, params)


def _callproc_text(procname, parameters):
    """The statement psycopg2 sends for ``callproc``."""
    if isinstance(parameters, dict):
        arguments = ", ".join(f"{name} := %({name})s" for name in parameters)
    else:
        arguments = ", ".join(["%s"] * len(parameters or ()))
    return f"SELECT * FROM {procname}({arguments})"


class RecordingCursor(_c_cursor):
    """Records what a psycopg2 cursor runs; every recording cursor class derives from it."""

    __slots__ = ()
    _reqscope_recording = True

    def execute(self, query, vars=None):
        connection = self.connection
        sql = query if query.__class__ is str else _statement_text(query, connection)
        token = _sql_begin(connection, self, getattr(connection, "_reqscope_alias",
                                                     _DEFAULT_ALIAS), sql, vars, 0)
        if token is None:
            return _execute(self, query, vars)
        try:
            result = _execute(self, query, vars)
        except BaseException:
            _sql_end(token, -1, True)
            raise
        _finish(token, self, sql, vars)
        return result

    def executemany(self, query, vars_list):
        connection = self.connection
        sql = query if query.__class__ is str else _statement_text(query, connection)
        token = _sql_begin(connection, self, getattr(connection, "_reqscope_alias",
                                                     _DEFAULT_ALIAS), sql, vars_list, _MANY)
        if token is None:
            return _executemany(self, query, vars_list)
        try:
            result = _executemany(self, query, vars_list)
        except BaseException:
            _sql_end(token, -1, True)
            raise
        _sql_end(token, _rows_changed(self), False)
        return result

    def callproc(self, procname, parameters=None):
        connection = self.connection
        token = None
        if _is_active():
            try:
                sql = _callproc_text(procname, parameters)
            except Exception:  # Parameters psycopg2 itself will refuse.
                sql = None
            if sql is not None:
                token = _sql_begin(connection, self, getattr(
                    connection, "_reqscope_alias", _DEFAULT_ALIAS), sql, parameters, 0)
        if token is None:
            return _callproc(self, procname, parameters)
        try:
            result = _callproc(self, procname, parameters)
        except BaseException:
            _sql_end(token, -1, True)
            raise
        _sql_end(token, _rows_changed(self), False)  # A procedure may write: never EXPLAINed.
        return result

    fetchone = _core.CursorMethod(_fetchone, _core.CURSOR_FETCH)  # In C: no frame of ours.

    def fetchmany(self, size=None):
        if size is None:
            return _sql_fetch(_fetchmany, self)
        return _sql_fetch(_fetchmany, self, size)

    fetchall = _core.CursorMethod(_fetchall, _core.CURSOR_FETCH)


_explain.register_explainer(RecordingCursor, _explain_unnamed_cursor)


@functools.cache
def recording_cursor_class(base):
    """A class that runs as cursor class ``base`` and records what it runs."""
    if issubclass(base, RecordingCursor):
        return base
    if base is _c_cursor:
        return RecordingCursor
    namespace = {"__slots__": (), "__module__": __name__,
                 "__doc__": f"{base.__qualname__} recorded by reqscope."}
    return type(base.__name__, (base, RecordingCursor), namespace)


class RecordingConnection(_c_connection):
    """Hands out recording cursors; every recording connection class derives from it."""

    _reqscope_recording = True
    _reqscope_alias = _DEFAULT_ALIAS

    def cursor(self, *args, **kwargs):
        # Called last in the chain, after any connection subclass picked its cursor_factory.
        if len(args) >= 2:
            args = list(args)
            factory = args[1] = _recording_factory(args[1] or self.cursor_factory)
        else:
            factory = kwargs.get("cursor_factory") or self.cursor_factory
            kwargs["cursor_factory"] = _recording_factory(factory)
        return _c_connection_cursor(self, *args, **kwargs)


def _recording_factory(factory):
    """The recording version of a cursor factory; a factory that is not a cursor class (any
    callable) is left as it is, unrecorded."""
    if factory is None:
        return RecordingCursor
    if isinstance(factory, type) and issubclass(factory, _c_cursor):
        return recording_cursor_class(factory)
    return factory


@functools.cache
def recording_connection_class(base):
    """A class that runs as connection class ``base`` and hands out recording cursors."""
    if issubclass(base, RecordingConnection):
        return base
    if base is _c_connection:
        return RecordingConnection
    namespace = {"__module__": __name__, "__doc__": f"{base.__qualname__} recorded by reqscope."}
    return type(base.__name__, (base, RecordingConnection), namespace)


def _wrap_connect(original):
    @functools.wraps(original)
    def connect(dsn=None, connection_factory=None, cursor_factory=None, **kwargs):
        factory = connection_factory or _c_connection
        asynchronous = kwargs.get("async") or kwargs.get("async_")
        if asynchronous or not (isinstance(factory, type) and issubclass(factory, _c_connection)):
            return original(dsn, connection_factory=connection_factory,
                            cursor_factory=cursor_factory, **kwargs)
        connection = original(dsn, connection_factory=recording_connection_class(factory),
                              cursor_factory=cursor_factory, **kwargs)
        try:
            connection._reqscope_alias = connection.info.dbname
        except Exception:  # A factory with __slots__, or no dbname: keep the generic alias.
            pass
        return connection
    connect._reqscope_original = original
    return connect


def install():
    """Wraps ``psycopg2.connect``. Idempotent."""
    global _original_connect
    if _original_connect is None:
        _original_connect = psycopg2.connect
        psycopg2.connect = _wrap_connect(_original_connect)


def uninstall():
    """Restores the original ``psycopg2.connect``."""
    global _original_connect
    if _original_connect is not None:
        psycopg2.connect = _original_connect
        _original_connect = None
