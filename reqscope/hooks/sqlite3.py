"""The sqlite3 hook: ``sqlite3.connect`` wrapped to hand out recording connections and cursors.

A recording connection is a subclass of the connection class asked for (``factory=``), whose
``cursor()`` returns a recording subclass of the cursor class asked for, and whose ``execute``,
``executemany`` and ``executescript`` shortcuts go through such a cursor (the C shortcuts would
bypass Python-level methods). A recording cursor times ``execute`` / ``executemany`` /
``executescript`` and charges ``fetchone`` / ``fetchmany`` / ``fetchall`` to the statement;
iterating a cursor with ``for row in cursor`` is not timed (wrapping ``__next__`` would slow
every row). With no scope active each method costs one call that returns None.
Connections opened before ``install()`` are not recorded.
"""

import functools
import sqlite3

from .. import _core
from . import _explain

_sql_begin = _core.sql_begin
_sql_end = _core.sql_end
_sql_fetch = _core.sql_fetch
_MANY = _core.SQL_MANY
_SCRIPT = _core.SQL_SCRIPT

_original_connects = {}

# sqlite3.connect's parameters after ``database``, in order, for positional calls.
_CONNECT_PARAMETERS = ("timeout", "detect_types", "isolation_level", "check_same_thread",
                       "factory", "cached_statements", "uri")


def _explain_statement(cursor, fingerprint, sql, params):
    """EXPLAIN QUERY PLAN on an unrecorded cursor of the same connection."""
    connection = cursor.connection
    _explain.explain_sync(fingerprint, "sqlite", sqlite3.Connection.cursor(connection), sql,
                          params, connection.in_transaction, analyze=False)


_explain.register_explainer(sqlite3.Cursor, _explain_statement)


@functools.cache
def recording_cursor_class(base):
    """A subclass of cursor class ``base`` that records what it runs."""
    if getattr(base, "_reqscope_recording", False):
        return base
    base_execute, base_executemany = base.execute, base.executemany
    base_executescript = base.executescript
    base_fetchone, base_fetchmany, base_fetchall = base.fetchone, base.fetchmany, base.fetchall

    def execute(self, sql, *parameters):
        # Parameters are passed on only when given: cursor subclasses such as Django's treat
        # "no parameters" differently from "()" (no placeholder rewriting).
        connection = self.connection
        token = _sql_begin(connection, self, getattr(connection, "_reqscope_alias", "sqlite"),
                           sql, parameters[0] if parameters else None, 0)
        if token is None:
            return base_execute(self, sql, *parameters)
        try:
            result = base_execute(self, sql, *parameters)
        except BaseException:
            _sql_end(token, -1, True)
            raise
        fingerprint = _sql_end(token, self.rowcount, False)
        if fingerprint is not None:
            _explain.explain_statement(self, fingerprint, sql, parameters[0] if parameters else None)
        return result

    def executemany(self, sql, seq_of_parameters, /):
        connection = self.connection
        token = _sql_begin(connection, self, getattr(connection, "_reqscope_alias", "sqlite"),
                           sql, seq_of_parameters, _MANY)
        if token is None:
            return base_executemany(self, sql, seq_of_parameters)
        try:
            result = base_executemany(self, sql, seq_of_parameters)
        except BaseException:
            _sql_end(token, -1, True)
            raise
        _sql_end(token, self.rowcount, False)
        return result

    def executescript(self, sql_script, /):
        connection = self.connection
        token = _sql_begin(connection, self, getattr(connection, "_reqscope_alias", "sqlite"),
                           sql_script, None, _SCRIPT)
        if token is None:
            return base_executescript(self, sql_script)
        try:
            result = base_executescript(self, sql_script)
        except BaseException:
            _sql_end(token, -1, True)
            raise
        _sql_end(token, -1, False)
        return result

    def fetchone(self):
        return _sql_fetch(base_fetchone, self)

    def fetchmany(self, *args, **kwargs):
        if kwargs:
            return base_fetchmany(self, *args, **kwargs)
        return _sql_fetch(base_fetchmany, self, *args)

    def fetchall(self):
        return _sql_fetch(base_fetchall, self)

    namespace = {
        "_reqscope_recording": True,
        "execute": execute,
        "executemany": executemany,
        "executescript": executescript,
        "fetchone": fetchone,
        "fetchmany": fetchmany,
        "fetchall": fetchall,
        "__module__": __name__,
        "__doc__": f"{base.__qualname__} recorded by reqscope.",
    }
    return type(base.__name__, (base,), namespace)


@functools.cache
def recording_connection_class(base):
    """A subclass of connection class ``base`` whose cursors record."""
    if getattr(base, "_reqscope_recording", False):
        return base
    base_cursor = base.cursor

    def cursor(self, factory=None):
        if factory is None:
            return base_cursor(self, recording_cursor_class(sqlite3.Cursor))
        if isinstance(factory, type) and issubclass(factory, sqlite3.Cursor):
            return base_cursor(self, recording_cursor_class(factory))
        return base_cursor(self, factory)

    def execute(self, sql, *parameters):
        return self.cursor().execute(sql, *parameters)

    def executemany(self, sql, seq_of_parameters, /):
        return self.cursor().executemany(sql, seq_of_parameters)

    def executescript(self, sql_script, /):
        return self.cursor().executescript(sql_script)

    namespace = {
        "_reqscope_recording": True,
        "cursor": cursor,
        "execute": execute,
        "executemany": executemany,
        "executescript": executescript,
        "__module__": __name__,
        "__doc__": f"{base.__qualname__} recorded by reqscope.",
    }
    return type(base.__name__, (base,), namespace)


def _wrap_connect(original):
    @functools.wraps(original)
    def connect(database, *args, **kwargs):
        kwargs.update(zip(_CONNECT_PARAMETERS, args))
        factory = kwargs.pop("factory", sqlite3.Connection)
        connection = original(database, factory=recording_connection_class(factory), **kwargs)
        try:
            connection._reqscope_alias = str(database)
        except AttributeError:  # A factory with __slots__: fall back to a generic alias.
            pass
        return connection
    connect._reqscope_original = original
    return connect


def install():
    """Wraps ``sqlite3.connect`` (and ``sqlite3.dbapi2.connect``). Idempotent."""
    import sqlite3.dbapi2 as dbapi2
    wrappers = {}  # One wrapper per distinct original, so both modules keep one function.
    for module in (sqlite3, dbapi2):
        original = module.connect
        if not hasattr(original, "_reqscope_original"):
            _original_connects[module] = original
            module.connect = wrappers.setdefault(id(original), _wrap_connect(original))


def uninstall():
    """Restores the original ``connect`` functions."""
    for module, original in _original_connects.items():
        module.connect = original
    _original_connects.clear()
