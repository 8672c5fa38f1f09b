"""The Django hook: an execute wrapper on every database connection, and Django's lazy loaders.

Django offers one hook for SQL, ``connection.execute_wrappers`` (DESIGN.md, decision 3), so a
single wrapper is put on every ``DatabaseWrapper``: those that connect later through the
``connection_created`` signal, and those this thread already holds when ``install()`` runs.
Connections already open in *other* threads at that moment are not reachable from here and are
recorded only after they reconnect. The wrapper goes first in the list, so it times every other
wrapper too and never becomes the one a ``with connection.execute_wrapper(...)`` block pops.

Statements are keyed on the raw DB-API connection, so when the sqlite3 or psycopg driver hook is
also installed the driver layer sees that this wrapper already records the statement and the
statement counts once; the driver layer still charges fetch time to it. Without a driver hook,
Django's fetches are not timed (Django has no hook for them). Slow reads are EXPLAINed on a raw,
unrecorded cursor of the same connection for SQLite and PostgreSQL; other vendors get no plan.

The descriptors that load a relation or a deferred field on attribute access are registered as
lazy loaders, so an N+1 finding is labelled with the field that caused it ("library.Book.author").
"""

import sqlite3
import sys
import weakref

from django.db import connections
from django.db.backends.signals import connection_created
from django.db.models.fields.related_descriptors import (
    ForwardManyToOneDescriptor,
    ReverseOneToOneDescriptor,
)
from django.db.models.query_utils import DeferredAttribute

from .. import _core
from . import _explain

DISPATCH_UID = "reqscope.hooks.django"


def _label_field(descriptor) -> str:
    """``book.author``, or a deferred ``book.title``: the field the descriptor loads."""
    field = descriptor.field
    return f"{field.model._meta.label}.{field.name}"


def _label_reverse_one_to_one(descriptor) -> str:
    """``place.restaurant``: the model that owns the accessor, and the accessor's name."""
    related = descriptor.related
    return f"{related.model._meta.label}.{related.get_accessor_name()}"


LAZY_LOADERS = (
    (ForwardManyToOneDescriptor.__get__, _label_field),  # Also forward one-to-one fields.
    (ReverseOneToOneDescriptor.__get__, _label_reverse_one_to_one),
    (DeferredAttribute.__get__, _label_field),  # Fields left out by only() and defer().
)


def _in_transaction(connection) -> bool:
    return connection.in_atomic_block or not connection.get_autocommit()


def _sqlite_explain_cursor(raw_connection, params):
    """A cursor that runs Django-style SQL ("%s") the way Django's own SQLite cursor does.

    Django converts placeholders only when it passes parameters, so a statement run without
    them goes to a plain cursor untouched. Either way the cursor comes from
    ``sqlite3.Connection.cursor`` itself, so a recording connection cannot record the EXPLAIN.
    """
    from django.db.backends.sqlite3.base import SQLiteCursorWrapper

    cursor_class = sqlite3.Cursor if params is None else SQLiteCursorWrapper
    return sqlite3.Connection.cursor(raw_connection, cursor_class)


def _postgresql_explain_cursor(raw_connection, raw_cursor):
    """A cursor of the driver's own base class on the same connection (psycopg 3 or psycopg2).

    The connection may be a driver hook's subclass; the driver's module is loaded if it is.
    """
    psycopg2_extensions = sys.modules.get("psycopg2.extensions")
    if psycopg2_extensions is not None and isinstance(raw_connection,
                                                      psycopg2_extensions.connection):
        return psycopg2_extensions.connection.cursor(
            raw_connection, cursor_factory=psycopg2_extensions.cursor)
    import psycopg

    # Django binds parameters on the client unless told otherwise; EXPLAIN the same way.
    if isinstance(raw_cursor, psycopg.ClientCursor):
        return psycopg.ClientCursor(raw_connection)
    return psycopg.Cursor(raw_connection)


def _explain_statement(fingerprint, connection, raw_cursor, sql, params):
    """Runs EXPLAIN for a slow read the core asked about; never raises."""
    if connection.vendor not in ("sqlite", "postgresql") or connection.needs_rollback:
        return  # No EXPLAIN runner, or a broken atomic block that refuses queries.
    try:
        in_transaction = _in_transaction(connection)
        if connection.vendor == "sqlite":
            cursor = _sqlite_explain_cursor(connection.connection, params)
        else:
            cursor = _postgresql_explain_cursor(connection.connection, raw_cursor)
    except Exception:  # The application must never see reqscope fail.
        return
    _explain.explain_sync(fingerprint, connection.vendor, cursor, sql, params, in_transaction)


def _explain_sqlite_statement(raw_cursor, fingerprint, sql, params):
    """For reads of Django's SQLite cursor recorded by the sqlite3 driver hook (for example a
    read that turns slow while its rows are fetched).

    The statement's text is Django's ("%s" placeholders) whichever layer recorded it, because
    Django's SQLite cursor converts placeholders inside its own ``execute``.
    """
    raw_connection = raw_cursor.connection
    _explain.explain_sync(fingerprint, "sqlite", _sqlite_explain_cursor(raw_connection, params),
                          sql, params, raw_connection.in_transaction, analyze=False)


# The execute wrapper, in C (dbhooks/hook_calls.c): records each statement in the current
# scope, if any, and calls _explain_statement for a read slow enough to EXPLAIN. Only what
# Django's execute raises reaches the application: reqscope's own work never raises. In Python
# it was a frame and four lookups per statement, idle or not.
recording_execute_wrapper = _core.ExecuteWrapper(_explain_statement)

# Every DatabaseWrapper the wrapper was added to, so that uninstall() can take it off again
# (connections are per thread; other threads' are reachable only through this set). Weak, so
# the connections of threads that ended are not kept alive.
_wrapped_connections = weakref.WeakSet()


def _is_wrapped(connection) -> bool:
    return any(wrapper is recording_execute_wrapper for wrapper in connection.execute_wrappers)


def wrap_connection(connection) -> None:
    """Puts the recording wrapper first on ``connection`` (a DatabaseWrapper), at most once."""
    if not _is_wrapped(connection):
        connection.execute_wrappers.insert(0, recording_execute_wrapper)
        _wrapped_connections.add(connection)


def unwrap_connection(connection) -> None:
    """Takes the recording wrapper off ``connection``."""
    connection.execute_wrappers[:] = [
        wrapper for wrapper in connection.execute_wrappers
        if wrapper is not recording_execute_wrapper
    ]


def _on_connection_created(sender, connection, **kwargs):
    wrap_connection(connection)


def _register_lazy_loaders():
    for function, labeler in LAZY_LOADERS:
        _core.register_lazy_loader(function.__code__, labeler)


def _register_explainer():
    from django.db.backends.sqlite3.base import SQLiteCursorWrapper

    _explain.register_explainer(SQLiteCursorWrapper, _explain_sqlite_statement)


def install():
    """Wraps every Django connection, present and future, and registers the lazy loaders.

    Idempotent. Works before or after settings are configured; before, there is nothing open
    to wrap yet.
    """
    from django.conf import settings

    _register_lazy_loaders()
    _register_explainer()
    connection_created.connect(_on_connection_created, weak=False, dispatch_uid=DISPATCH_UID)
    if settings.configured:
        for connection in connections.all(initialized_only=True):
            wrap_connection(connection)


def uninstall():
    """Stops wrapping new connections and takes the wrapper off every connection it is on.

    The lazy-loader registrations stay: they only label statements that a scope records.
    """
    connection_created.disconnect(dispatch_uid=DISPATCH_UID)
    for connection in list(_wrapped_connections):
        unwrap_connection(connection)
    _wrapped_connections.clear()
