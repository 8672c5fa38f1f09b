"""The sqlite3 hook: ``sqlite3.connect`` wrapped to hand out recording connections and cursors.

A recording connection is a subclass of the connection class asked for (``factory=``), whose
``cursor()`` returns a recording subclass of the cursor class asked for, and whose ``execute``,
``executemany`` and ``executescript`` shortcuts go through such a cursor (the C shortcuts would
bypass Python-level methods). A recording cursor times ``execute`` / ``executemany`` /
``executescript`` and charges ``fetchone`` / ``fetchmany`` / ``fetchall`` to the statement;
iterating a cursor with ``for row in cursor`` is not timed (wrapping ``__next__`` would slow
every row). Those six methods are ``_core.CursorMethod`` objects, C around the driver's own
method (dbhooks/hook_calls.c): no Python frame per statement or fetch, and with no scope active
one test before the driver's call.
Connections opened before ``install()`` are not recorded.
"""

import functools
import sqlite3

from .. import _core
from . import _explain

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
    method = _core.CursorMethod
    namespace = {
        "_reqscope_recording": True,
        "execute": method(base.execute, _core.CURSOR_EXECUTE, "sqlite"),
        "executemany": method(base.executemany, _core.CURSOR_EXECUTEMANY, "sqlite"),
        "executescript": method(base.executescript, _core.CURSOR_EXECUTESCRIPT, "sqlite"),
        "fetchone": method(base.fetchone, _core.CURSOR_FETCH),
        "fetchmany": method(base.fetchmany, _core.CURSOR_FETCH),
        "fetchall": method(base.fetchall, _core.CURSOR_FETCH),
        "__module__": __name__,
        "__doc__": f"{base.__qualname__} recorded by reqscope.",
    }
    return type(base.__name__, (base,), namespace)


@functools.cache
def recording_connection_class(base):
    """A subclass of connection class ``base`` whose cursors record: its cursor(factory=None)
    is a ``_core.CursorFactory``, which hands out cursors of the recording subclass of the
    cursor class asked for (of a factory that is no cursor class, as asked)."""
    if getattr(base, "_reqscope_recording", False):
        return base

    def execute(self, sql, *parameters):
        return self.cursor().execute(sql, *parameters)

    def executemany(self, sql, seq_of_parameters, /):
        return self.cursor().executemany(sql, seq_of_parameters)

    def executescript(self, sql_script, /):
        return self.cursor().executescript(sql_script)

    namespace = {
        "_reqscope_recording": True,
        "cursor": _core.CursorFactory(base.cursor, recording_cursor_class, sqlite3.Cursor),
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
