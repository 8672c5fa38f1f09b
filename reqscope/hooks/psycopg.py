"""The psycopg 3 hook: connections from ``connect`` hand out recording cursors, sync and async.

``install()`` wraps ``psycopg.Connection.connect``, ``psycopg.AsyncConnection.connect`` and
``psycopg.connect`` (which subclasses and connection pools go through) so that they build a
recording subclass of the connection class asked for. That subclass keeps its
``cursor_factory`` and ``server_cursor_factory`` as recording subclasses of whatever is assigned
to them, when connecting or later (Django's psycopg backend passes its own cursor class), so a
user's cursor class is honoured and still recorded; the subclasses are made once per class.
The recording classes sit just above psycopg's own cursor classes in the method resolution
order: they time what psycopg runs, after any cursor subclass has rewritten the SQL.

Recorded: ``execute`` (also through ``conn.execute()``), ``executemany`` (one statement) on
client, client-binding and raw cursors; ``execute`` on server-side cursors
(``conn.cursor(name=...)``); ``fetchone`` / ``fetchmany`` / ``fetchall`` rows, and their time
on sync cursors. ``psycopg.sql`` objects are rendered to text only while a scope is active.
A slow read is EXPLAINed once per scope on a plain cursor of the same connection, never for a
server-side cursor, inside a failed transaction or in pipeline mode.

Not recorded: iteration (``for row in cursor``, ``async for``), ``stream()``, ``copy()``,
``scroll()``, connections opened before ``install()`` or built without ``connect``, and cursors
made by calling a cursor class directly (``psycopg.Cursor(conn)``; Django builds its server-side
cursors so, and its own hook records them). Async fetches are charged their rows but not their
time: the core times a fetch by calling it, and an async fetch only returns a coroutine (this
matters for server-side cursors, whose fetches do I/O). In pipeline mode ``execute`` returns
before the server answers, so durations are send times.
With no scope active each method costs one call that returns None.
"""

import functools

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row

from .. import _core
from . import _explain

_sql_begin = _core.sql_begin
_sql_end = _core.sql_end
_sql_fetch = _core.sql_fetch
_is_active = _core.is_active
_MANY = _core.SQL_MANY
_DEFAULT_ALIAS = "postgresql"

# (owner, attribute) -> the original attribute, while installed.
_originals = {}


def _statement_text(query, connection):
    """The text of a ``psycopg.sql`` object, rendered only while a scope is active."""
    if isinstance(query, (str, bytes)) or not _is_active():
        return query
    try:
        return query.as_string(connection)
    except Exception:  # psycopg will say what is wrong with it; reqscope drops it.
        return query


def _rows_changed(cursor):
    """The rowcount to record: rows a write changed, or -1 when the statement returned rows
    (those are counted as they are fetched)."""
    try:
        return cursor.rowcount if cursor.description is None else -1
    except Exception:
        return -1


def _alias(connection):
    return getattr(connection, "_reqscope_alias", _DEFAULT_ALIAS)


def _rows_given(cursor, rows):
    """A stand-in fetch for ``sql_fetch`` once an async fetch has returned its rows."""
    return rows


# ---------------------------------------------------------------- EXPLAIN


def _explain_cursor_class(cursor, asynchronous):
    """The plain cursor class that binds parameters the way ``cursor`` does."""
    if isinstance(cursor, (psycopg.RawCursor, psycopg.AsyncRawCursor)):
        return psycopg.AsyncRawCursor if asynchronous else psycopg.RawCursor
    if isinstance(cursor, (psycopg.ClientCursor, psycopg.AsyncClientCursor)):
        return psycopg.AsyncClientCursor if asynchronous else psycopg.ClientCursor
    return psycopg.AsyncCursor if asynchronous else psycopg.Cursor


def _may_explain(connection):
    """Whether an EXPLAIN may run now: not in a failed transaction, not in pipeline mode.
    Returns (allowed, in_transaction)."""
    status = connection.info.transaction_status
    allowed = (not connection.closed and status != TransactionStatus.INERROR
               and not connection.pgconn.pipeline_status)
    return allowed, status == TransactionStatus.INTRANS


def explain_statement(cursor, fingerprint, sql, params):
    """EXPLAINs what sync ``cursor`` ran on a plain cursor of its connection; never raises."""
    try:
        connection = cursor.connection
        allowed, in_transaction = _may_explain(connection)
        if not allowed:
            return
        plain = _explain_cursor_class(cursor, False)(connection, row_factory=tuple_row)
    except Exception:
        return
    _explain.explain_sync(fingerprint, "postgresql", plain, sql, params, in_transaction)


async def _plan_text_async(cursor, sql, params, in_transaction, analyze):
    """The async runner of ``_explain.PostgresqlExplain``; raises what psycopg raises."""
    steps = _explain.PostgresqlExplain(sql, in_transaction, analyze)
    for statement in steps.before:
        await cursor.execute(statement)
    try:
        await cursor.execute(steps.explain, params)
        rows = await cursor.fetchall()
    except BaseException:
        for statement in steps.on_failure:
            await cursor.execute(statement)
        raise
    for statement in steps.on_success:
        await cursor.execute(statement)
    return steps.text(rows)


async def explain_statement_async(cursor, fingerprint, sql, params):
    """EXPLAINs what async ``cursor`` ran on a plain cursor of its connection; never raises."""
    try:
        connection = cursor.connection
        allowed, in_transaction = _may_explain(connection)
        if not allowed:
            return
        plain = _explain_cursor_class(cursor, True)(connection, row_factory=tuple_row)
        scope = _core.current_scope()
        analyze = bool(scope is not None and scope.explain_analyze)
    except Exception:
        return
    try:
        text = await _plan_text_async(plain, sql, params, in_transaction, analyze)
    except Exception as error:  # The application must never see reqscope's EXPLAIN fail.
        text = f"(EXPLAIN failed: {type(error).__name__}: {error})"
    finally:
        try:
            await plain.close()
        except Exception:
            pass
    _core.sql_explained(fingerprint, text)


def _explain_client_cursor(cursor, fingerprint, sql, params):
    if not isinstance(cursor, psycopg.ServerCursor):
        explain_statement(cursor, fingerprint, sql, params)


# ---------------------------------------------------------------- recording cursors


def _sync_recording_methods(base, with_executemany):
    """execute (and executemany), fetchone, fetchmany and fetchall for sync cursor class
    ``base``, recorded; ``base``'s own methods do the work."""
    base_execute, base_executemany = base.execute, base.executemany
    base_fetchone, base_fetchmany, base_fetchall = base.fetchone, base.fetchmany, base.fetchall
    explains = not issubclass(base, psycopg.ServerCursor)

    def execute(self, query, params=None, **kwargs):
        connection = self.connection
        sql = query if query.__class__ is str else _statement_text(query, connection)
        token = _sql_begin(connection, self, _alias(connection), sql, params, 0)
        if token is None:
            return base_execute(self, query, params, **kwargs)
        try:
            result = base_execute(self, query, params, **kwargs)
        except BaseException:
            _sql_end(token, -1, True)
            raise
        fingerprint = _sql_end(token, _rows_changed(self), False)
        if fingerprint is not None and explains:
            explain_statement(self, fingerprint, sql, params)
        return result

    def executemany(self, query, params_seq, **kwargs):
        connection = self.connection
        sql = query if query.__class__ is str else _statement_text(query, connection)
        token = _sql_begin(connection, self, _alias(connection), sql, params_seq, _MANY)
        if token is None:
            return base_executemany(self, query, params_seq, **kwargs)
        try:
            result = base_executemany(self, query, params_seq, **kwargs)
        except BaseException:
            _sql_end(token, -1, True)
            raise
        _sql_end(token, _rows_changed(self), False)
        return result

    fetch = _core.CURSOR_FETCH  # The fetches in C (_core.CursorMethod): no frame of ours.
    methods = {"execute": execute, "fetchone": _core.CursorMethod(base_fetchone, fetch),
               "fetchmany": _core.CursorMethod(base_fetchmany, fetch),
               "fetchall": _core.CursorMethod(base_fetchall, fetch)}
    if with_executemany:
        methods["executemany"] = executemany
    return methods


def _async_recording_methods(base, with_executemany):
    """The async twins of ``_sync_recording_methods`` for async cursor class ``base``."""
    base_execute, base_executemany = base.execute, base.executemany
    base_fetchone, base_fetchmany, base_fetchall = base.fetchone, base.fetchmany, base.fetchall
    explains = not issubclass(base, psycopg.AsyncServerCursor)

    async def execute(self, query, params=None, **kwargs):
        connection = self.connection
        sql = query if query.__class__ is str else _statement_text(query, connection)
        token = _sql_begin(connection, self, _alias(connection), sql, params, 0)
        if token is None:
            return await base_execute(self, query, params, **kwargs)
        try:
            result = await base_execute(self, query, params, **kwargs)
        except BaseException:
            _sql_end(token, -1, True)
            raise
        fingerprint = _sql_end(token, _rows_changed(self), False)
        if fingerprint is not None and explains:
            await explain_statement_async(self, fingerprint, sql, params)
        return result

    async def executemany(self, query, params_seq, **kwargs):
        connection = self.connection
        sql = query if query.__class__ is str else _statement_text(query, connection)
        token = _sql_begin(connection, self, _alias(connection), sql, params_seq, _MANY)
        if token is None:
            return await base_executemany(self, query, params_seq, **kwargs)
        try:
            result = await base_executemany(self, query, params_seq, **kwargs)
        except BaseException:
            _sql_end(token, -1, True)
            raise
        _sql_end(token, _rows_changed(self), False)
        return result

    async def fetchone(self):
        return _sql_fetch(_rows_given, self, await base_fetchone(self))

    async def fetchmany(self, size=0):
        return _sql_fetch(_rows_given, self, await base_fetchmany(self, size))

    async def fetchall(self):
        return _sql_fetch(_rows_given, self, await base_fetchall(self))

    methods = {"execute": execute, "fetchone": fetchone, "fetchmany": fetchmany,
               "fetchall": fetchall}
    if with_executemany:
        methods["executemany"] = executemany
    return methods


def _recording_class(base, methods):
    namespace = {"__slots__": (), "__module__": __name__, "_reqscope_recording": True,
                 "__doc__": f"{base.__qualname__} recorded by reqscope.", **methods}
    return type(base.__name__, (base,), namespace)


# Checked in this order: the server cursors derive from the client ones.
RecordingAsyncServerCursor = _recording_class(
    psycopg.AsyncServerCursor, _async_recording_methods(psycopg.AsyncServerCursor, False))
RecordingServerCursor = _recording_class(
    psycopg.ServerCursor, _sync_recording_methods(psycopg.ServerCursor, False))
RecordingAsyncCursor = _recording_class(
    psycopg.AsyncCursor, _async_recording_methods(psycopg.AsyncCursor, True))
RecordingCursor = _recording_class(psycopg.Cursor, _sync_recording_methods(psycopg.Cursor, True))
_RECORDING_BASES = ((psycopg.AsyncServerCursor, RecordingAsyncServerCursor),
                    (psycopg.ServerCursor, RecordingServerCursor),
                    (psycopg.AsyncCursor, RecordingAsyncCursor),
                    (psycopg.Cursor, RecordingCursor))

_explain.register_explainer(RecordingCursor, _explain_client_cursor)


@functools.cache
def recording_cursor_class(base):
    """A class that runs as cursor class ``base`` and records what it runs; ``base`` itself
    when it is not a psycopg cursor class (it cannot be recorded) or already records."""
    if not isinstance(base, type) or getattr(base, "_reqscope_recording", False):
        return base
    for psycopg_class, recording in _RECORDING_BASES:
        if base is psycopg_class:
            return recording
        if issubclass(base, psycopg_class):
            namespace = {"__slots__": (), "__module__": __name__,
                         "__doc__": f"{base.__qualname__} recorded by reqscope."}
            return type(base.__name__, (base, recording), namespace)
    return base


# ---------------------------------------------------------------- recording connections


def _recorded_factory(attribute):
    """A property storing a recording version of the cursor class assigned to it."""
    key = "_reqscope_" + attribute

    def get(self):
        try:
            return self.__dict__[key]
        except KeyError:
            raise AttributeError(attribute) from None

    def set(self, factory):
        self.__dict__[key] = recording_cursor_class(factory)

    return property(get, set, doc=f"The {attribute}, recorded by reqscope.")


@functools.cache
def recording_connection_class(base):
    """A subclass of connection class ``base`` whose cursor factories record."""
    if getattr(base, "_reqscope_recording", False):
        return base
    namespace = {
        "__module__": __name__,
        "__doc__": f"{base.__qualname__} recorded by reqscope.",
        "_reqscope_recording": True,
        "_reqscope_alias": _DEFAULT_ALIAS,
        "cursor_factory": _recorded_factory("cursor_factory"),
        "server_cursor_factory": _recorded_factory("server_cursor_factory"),
    }
    return type(base.__name__, (base,), namespace)


def _name_alias(connection):
    try:
        connection._reqscope_alias = connection.info.dbname
    except Exception:  # No dbname to read: keep the generic alias.
        pass
    return connection


def _wrap_connect(original):
    connect_function = original.__func__

    @functools.wraps(connect_function)
    def connect(cls, *args, **kwargs):
        return _name_alias(connect_function(recording_connection_class(cls), *args, **kwargs))

    connect._reqscope_original = original
    return classmethod(connect)


def _wrap_async_connect(original):
    connect_function = original.__func__

    @functools.wraps(connect_function)
    async def connect(cls, *args, **kwargs):
        connection = await connect_function(recording_connection_class(cls), *args, **kwargs)
        return _name_alias(connection)

    connect._reqscope_original = original
    return classmethod(connect)


def install():
    """Wraps ``Connection.connect``, ``AsyncConnection.connect`` and ``psycopg.connect``.
    Idempotent."""
    if _originals:
        return
    for owner, wrap in ((psycopg.Connection, _wrap_connect),
                        (psycopg.AsyncConnection, _wrap_async_connect)):
        original = owner.__dict__["connect"]
        _originals[owner, "connect"] = original
        owner.connect = wrap(original)
    _originals[psycopg, "connect"] = psycopg.connect
    psycopg.connect = psycopg.Connection.connect


def uninstall():
    """Restores what ``install()`` replaced."""
    for (owner, attribute), original in _originals.items():
        setattr(owner, attribute, original)
    _originals.clear()
