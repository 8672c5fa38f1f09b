"""EXPLAIN for slow reads: run once per fingerprint per scope, on the statement's connection.

The C core decides when (a read at least as slow as the slow thresholds allow, the first time
in the scope) and the driver hook calls ``explain_sync`` with a raw, unhooked cursor on the same
connection, so the plan is the one the statement got and the EXPLAIN itself is never recorded.
Rules: never for writes (the core only asks for reads); never inside a failed transaction (the
hook checks before calling); inside a transaction, PostgreSQL EXPLAIN runs under a SAVEPOINT so
that an EXPLAIN error cannot abort the application's transaction; EXPLAIN ANALYZE executes the
statement, so it only runs when enabled and is always rolled back. Nothing here raises into the
application: a failed EXPLAIN leaves the finding without a plan.
"""

from .. import _core

SAVEPOINT = "reqscope_explain"


def _sqlite_plan(cursor, sql, params) -> str:
    cursor.execute("EXPLAIN QUERY PLAN " + sql, params if params is not None else ())
    rows = cursor.fetchall()
    depth = {0: -1}
    lines = []
    for node, parent, _unused, detail in rows:
        depth[node] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node] + str(detail))
    return "\n".join(lines)


class PostgresqlExplain:
    """The statements that EXPLAIN one PostgreSQL statement safely, for a sync or async runner.

    Inside a transaction the EXPLAIN runs under a SAVEPOINT, so its failure cannot abort the
    application's transaction; ANALYZE executes the statement, so it is always rolled back.
    """

    def __init__(self, sql, in_transaction, analyze):
        if isinstance(sql, bytes):
            sql = sql.decode("utf-8", "replace")
        self.explain = ("EXPLAIN (ANALYZE, BUFFERS) " if analyze else "EXPLAIN ") + sql
        undo = f"ROLLBACK TO SAVEPOINT {SAVEPOINT}" if in_transaction else "ROLLBACK"
        guarded = in_transaction or analyze
        self.before = [f"SAVEPOINT {SAVEPOINT}" if in_transaction else "BEGIN"] if guarded else []
        self.on_failure = [undo] if guarded else []
        if analyze:
            self.on_success = [undo]
        elif in_transaction:
            self.on_success = [f"RELEASE SAVEPOINT {SAVEPOINT}"]
        else:
            self.on_success = []

    @staticmethod
    def text(rows) -> str:
        return "\n".join(str(row[0]) for row in rows)


def _postgresql_plan(cursor, sql, params, in_transaction, analyze) -> str:
    steps = PostgresqlExplain(sql, in_transaction, analyze)
    for statement in steps.before:
        cursor.execute(statement)
    try:
        cursor.execute(steps.explain, params)
        rows = cursor.fetchall()
    except BaseException:
        for statement in steps.on_failure:
            cursor.execute(statement)
        raise
    for statement in steps.on_success:
        cursor.execute(statement)
    return steps.text(rows)


def plan_text(dialect, cursor, sql, params, in_transaction, analyze) -> str:
    """The plan of ``sql`` as text; raises what the driver raises."""
    if dialect == "sqlite":
        if isinstance(sql, bytes):
            sql = sql.decode("utf-8", "replace")
        return _sqlite_plan(cursor, sql, params)
    if dialect == "postgresql":
        return _postgresql_plan(cursor, sql, params, in_transaction, analyze)
    raise ValueError(f"no EXPLAIN for dialect {dialect!r}")


# Cursor class -> function(cursor, fingerprint, sql, params) that explains a statement of it.
_explainers = {}


def register_explainer(cursor_class, explainer):
    """Says how to EXPLAIN statements run on cursors of ``cursor_class`` (or a subclass)."""
    _explainers[cursor_class] = explainer


def explain_statement(cursor, fingerprint, sql, params):
    """EXPLAINs a statement of ``cursor`` with the explainer of its nearest registered class.

    Called by the hooks when ``sql_end`` asks, and by the core when a read turns slow while its
    rows are fetched. Never raises.
    """
    for cursor_class in type(cursor).__mro__:
        explainer = _explainers.get(cursor_class)
        if explainer is not None:
            explainer(cursor, fingerprint, sql, params)
            return


_core.set_fetch_explainer(explain_statement)


def explain_sync(fingerprint, dialect, cursor, sql, params, in_transaction, analyze=None):
    """Runs EXPLAIN on ``cursor`` and attaches the plan to ``fingerprint``; never raises."""
    try:
        if analyze is None:
            scope = _core.current_scope()
            analyze = bool(scope is not None and scope.explain_analyze)
        text = plan_text(dialect, cursor, sql, params, in_transaction, analyze)
    except Exception as error:  # The application must never see reqscope's EXPLAIN fail.
        text = f"(EXPLAIN failed: {type(error).__name__}: {error})"
    finally:
        try:
            cursor.close()
        except Exception:
            pass
    _core.sql_explained(fingerprint, text)

