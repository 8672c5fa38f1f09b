/*
 * hook_calls.c: what the SQL hooks call for each statement: _core's sql_begin, sql_end and
 * sql_fetch, and CursorMethod, a driver cursor's execute or fetch method written in C.
 *
 * Every entry point returns after one test when no scope is active (rs_active_scopes is 0):
 * None, or a straight call of the method it wraps. None of them raises for the profiled
 * program's sake: a statement reqscope cannot record is counted as dropped, and what the
 * program's own call raises is all that reaches it.
 *
 * CursorMethod puts a hooked cursor's execute, executemany, executescript and fetch methods in
 * C (the sqlite3 hook's), and ExecuteWrapper Django's execute wrapper (the Django hook's). Written
 * in Python, each was a frame of its own around the driver's method on every statement and every
 * fetch, run cold after a request's own work: a Python call was about 3 µs there on the development
 * VM. It is a method descriptor (Py_TPFLAGS_METHOD_DESCRIPTOR), so `cursor.execute(...)` calls it
 * with the cursor first and makes no bound method.
 */
#include "hook_calls.h"

#include <structmember.h>

#include "clock.h"
#include "queries.h"

/* Called as fetch_explainer(cursor, fingerprint, sql, params) when a read is slow enough to
 * EXPLAIN after its execute or a fetch; set once by reqscope.hooks._explain. Protected by the
 * GIL. */
static PyObject *fetch_explainer;

/* Interned, made at init. */
static PyObject *str_connection, *str_alias, *str_rowcount, *str_cursor, *str_alias_attribute;

/* Starts timing a statement in the current scope: its token, or -1 when no scope records it. */
static int
begin_statement(PyObject *connection, PyObject *cursor, PyObject *alias, PyObject *sql,
                PyObject *params, int flags)
{
    rs_scope *scope = rs_scope_current();
    if (scope == NULL) {
        return -1;
    }
    int token = -1;
    if (scope->state == RS_SCOPE_ACTIVE && scope->sql != NULL) {
        token = rs_sql_begin(scope, (uintptr_t)connection, (uintptr_t)cursor, alias, sql, params,
                             flags);
    }
    Py_DECREF(scope);
    return token;
}

/* Records the statement of `token`; 1 with its fingerprint in `*fingerprint` when it should be
 * EXPLAINed, else 0. */
static int
end_statement(long token, long long rowcount, int failed, uint64_t *fingerprint)
{
    rs_scope *scope = rs_scope_current();
    if (scope == NULL) {
        return 0;
    }
    int explain = 0;
    int slot_index = rs_sql_token_slot(scope, (int)token);
    if (slot_index >= 0) {
        explain = rs_sql_end(scope, slot_index, rowcount, failed, fingerprint);
    }
    Py_DECREF(scope);
    return explain;
}

/* The cursor's rowcount after a statement, or -1. */
static long long
rowcount_of(PyObject *cursor)
{
    PyObject *rowcount = PyObject_GetAttr(cursor, str_rowcount);
    long long value = rowcount != NULL && PyLong_Check(rowcount) ? PyLong_AsLongLong(rowcount) : -1;
    Py_XDECREF(rowcount);
    PyErr_Clear();
    return value;
}

/* Records the statement of `token` after its call returned `result`: NULL when the call
 * failed (its exception is kept), else with the rowcount of `cursor` (-1 when `cursor` is NULL).
 * Returns 1 with the fingerprint in `*fingerprint` when the statement should be EXPLAINed. */
static int
finish_statement(int token, PyObject *result, PyObject *cursor, uint64_t *fingerprint)
{
    if (result == NULL) {
        rs_saved_error error = rs_error_save();
        end_statement(token, -1, 1, fingerprint);
        rs_error_restore(error);
        return 0;
    }
    return end_statement(token, cursor != NULL ? rowcount_of(cursor) : -1, 0, fingerprint);
}

/* Runs the explainer for a read of `cursor`; a failure is swallowed (the finding has no plan). */
static void
explain(PyObject *cursor, uint64_t fingerprint, PyObject *sql, PyObject *params)
{
    if (fetch_explainer == NULL) {
        return;
    }
    PyObject *outcome =
        PyObject_CallFunction(fetch_explainer, "OKOO", cursor, (unsigned long long)fingerprint, sql,
                              params != NULL ? params : Py_None);
    if (outcome == NULL) {
        PyErr_Clear();
    }
    Py_XDECREF(outcome);
}

/* Rows in a fetch result: a list's length, 1 for one row, 0 for None. */
static int64_t
fetched_rows(PyObject *result)
{
    if (result == Py_None) {
        return 0;
    }
    if (PyList_Check(result)) {
        return PyList_GET_SIZE(result);
    }
    return 1;
}

/* method(cursor, *rest), its time and rows charged to the statement last run on the cursor:
 * args[0] is the cursor. */
static PyObject *
fetch(PyObject *method, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    if (rs_is_idle() || PyVectorcall_NARGS(nargsf) < 1) {
        return PyObject_Vectorcall(method, args, nargsf, kwnames);
    }
    uint64_t start = rs_now_ns();
    PyObject *result = PyObject_Vectorcall(method, args, nargsf, kwnames);
    uint64_t duration = rs_now_ns() - start;
    if (result == NULL) {
        return NULL;
    }
    rs_scope *scope = rs_scope_current();
    rs_sql_explain_request request;
    if (scope != NULL && scope->state == RS_SCOPE_ACTIVE && scope->sql != NULL &&
        rs_sql_fetched(scope, (uintptr_t)args[0], duration, fetched_rows(result), &request)) {
        PyObject *sql = Py_NewRef(request.sql);
        PyObject *params = Py_XNewRef(request.params);
        explain(args[0], request.fingerprint, sql, params);
        Py_DECREF(sql);
        Py_XDECREF(params);
    }
    Py_XDECREF(scope);
    return result;
}

/* ---------------- _core functions ---------------- */

PyDoc_STRVAR(sql_begin_doc,
             "sql_begin(conn, cursor, alias, sql, params, flags) -> token or None\n\nStarts "
             "timing a statement in the current scope. None when no scope records it.");

static PyObject *
sql_begin(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (rs_is_idle()) {
        Py_RETURN_NONE;
    }
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "sql_begin takes 6 arguments");
        return NULL;
    }
    long flags = PyLong_AsLong(args[5]);
    if (flags == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        flags = 0;
    }
    int token = begin_statement(args[0], args[1], args[2], args[3], args[4], (int)flags);
    if (token < 0) {
        Py_RETURN_NONE;
    }
    return PyLong_FromLong(token);
}

PyDoc_STRVAR(sql_end_doc,
             "sql_end(token, rowcount, failed) -> fingerprint id or None\n\nStops timing and "
             "records the statement; returns its fingerprint id when it should be EXPLAINed.");

static PyObject *
sql_end(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "sql_end takes 3 arguments");
        return NULL;
    }
    if (args[0] == Py_None) {
        Py_RETURN_NONE;
    }
    long token = PyLong_AsLong(args[0]);
    long long rowcount = args[1] == Py_None ? -1 : PyLong_AsLongLong(args[1]);
    PyErr_Clear();
    int failed = PyObject_IsTrue(args[2]);
    PyErr_Clear();
    uint64_t fingerprint = 0;
    if (!end_statement(token, rowcount, failed > 0, &fingerprint)) {
        Py_RETURN_NONE;
    }
    return PyLong_FromUnsignedLongLong(fingerprint);
}

PyDoc_STRVAR(sql_fetch_doc,
             "sql_fetch(method, cursor, *args) -> method(cursor, *args)\n\nCalls a fetch method "
             "and charges its time and rows to the statement last run on the cursor.");

static PyObject *
sql_fetch(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 2) {
        PyErr_SetString(PyExc_TypeError, "sql_fetch(method, cursor, *args)");
        return NULL;
    }
    return fetch(args[0], args + 1, (size_t)(nargs - 1), NULL);
}

PyDoc_STRVAR(set_fetch_explainer_doc,
             "set_fetch_explainer(callable)\n\nexplainer(cursor, fingerprint, sql, params) runs "
             "EXPLAIN for a read that became slow while its rows were fetched.");

static PyObject *
set_fetch_explainer(PyObject *module, PyObject *explainer)
{
    if (!PyCallable_Check(explainer)) {
        PyErr_SetString(PyExc_TypeError, "set_fetch_explainer needs a callable");
        return NULL;
    }
    Py_XSETREF(fetch_explainer, Py_NewRef(explainer));
    Py_RETURN_NONE;
}

PyMethodDef rs_hook_call_functions[] = {
    {"sql_begin", (PyCFunction)(void (*)(void))sql_begin, METH_FASTCALL, sql_begin_doc},
    {"sql_end", (PyCFunction)(void (*)(void))sql_end, METH_FASTCALL, sql_end_doc},
    {"sql_fetch", (PyCFunction)(void (*)(void))sql_fetch, METH_FASTCALL, sql_fetch_doc},
    {"set_fetch_explainer", set_fetch_explainer, METH_O, set_fetch_explainer_doc},
    {NULL, NULL, 0, NULL},
};

/* ---------------- CursorMethod ---------------- */

typedef struct {
    PyObject_HEAD
    PyObject *method;          /* The driver's own method: method(cursor, *args). */
    PyObject *alias;           /* The alias when the connection has no _reqscope_alias. */
    int kind;                  /* RS_CURSOR_*. */
    vectorcallfunc vectorcall; /* cursor_method_call. */
} cursor_method;

/* The connection's _reqscope_alias, or the method's default (a new reference). */
static PyObject *
alias_of(cursor_method *self, PyObject *connection)
{
    PyObject *alias = PyObject_GetAttr(connection, str_alias);
    if (alias == NULL) {
        PyErr_Clear();
        alias = Py_NewRef(self->alias);
    }
    return alias;
}

/* execute(cursor, sql, *params), executemany(cursor, sql, seq) or executescript(cursor, sql),
 * timed and recorded; what the driver raises propagates, after the statement is recorded as
 * failed. */
static PyObject *
execute(cursor_method *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (rs_is_idle() || nargs < 2 || kwnames != NULL) {
        return PyObject_Vectorcall(self->method, args, nargsf, kwnames);
    }
    PyObject *cursor = args[0], *sql = args[1];
    PyObject *params = self->kind != RS_CURSOR_EXECUTESCRIPT && nargs > 2 ? args[2] : Py_None;
    int flags = self->kind == RS_CURSOR_EXECUTEMANY     ? RS_SQL_MANY
                : self->kind == RS_CURSOR_EXECUTESCRIPT ? RS_SQL_SCRIPT
                                                        : 0;
    PyObject *connection = PyObject_GetAttr(cursor, str_connection);
    int token = -1;
    if (connection != NULL) {
        PyObject *alias = alias_of(self, connection);
        token = begin_statement(connection, cursor, alias, sql, params, flags);
        Py_DECREF(alias);
        Py_DECREF(connection);
    }
    PyErr_Clear();
    if (token < 0) {
        return PyObject_Vectorcall(self->method, args, nargsf, kwnames);
    }
    PyObject *result = PyObject_Vectorcall(self->method, args, nargsf, kwnames);
    uint64_t fingerprint = 0;
    PyObject *counted = self->kind == RS_CURSOR_EXECUTESCRIPT ? NULL : cursor;
    if (finish_statement(token, result, counted, &fingerprint) && self->kind == RS_CURSOR_EXECUTE) {
        explain(cursor, fingerprint, sql, nargs > 2 ? args[2] : NULL);
    }
    return result;
}

static PyObject *
cursor_method_call(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    cursor_method *self = (cursor_method *)callable;
    if (self->kind == RS_CURSOR_FETCH) {
        return fetch(self->method, args, nargsf, kwnames);
    }
    return execute(self, args, nargsf, kwnames);
}

static PyObject *
cursor_method_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"method", "kind", "alias", NULL};
    PyObject *method, *alias = NULL;
    int kind;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "Oi|U:CursorMethod", keywords, &method, &kind,
                                     &alias)) {
        return NULL;
    }
    if (!PyCallable_Check(method) || kind < RS_CURSOR_FETCH || kind > RS_CURSOR_EXECUTESCRIPT) {
        PyErr_SetString(PyExc_ValueError,
                        "CursorMethod(method, kind[, alias]) needs a callable "
                        "method and a CURSOR_* kind");
        return NULL;
    }
    cursor_method *self = (cursor_method *)type->tp_alloc(type, 0);
    if (self != NULL) {
        self->method = Py_NewRef(method);
        self->alias = alias != NULL ? Py_NewRef(alias) : PyUnicode_FromString("sql");
        self->kind = kind;
        self->vectorcall = cursor_method_call;
        if (self->alias == NULL) {
            Py_CLEAR(self);
        }
    }
    return (PyObject *)self;
}

static int
cursor_method_traverse(cursor_method *self, visitproc visit, void *arg)
{
    Py_VISIT(self->method);
    Py_VISIT(self->alias);
    return 0;
}

static int
cursor_method_clear(cursor_method *self)
{
    Py_CLEAR(self->method);
    Py_CLEAR(self->alias);
    return 0;
}

static void
cursor_method_dealloc(cursor_method *self)
{
    PyObject_GC_UnTrack(self);
    cursor_method_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

PyObject *
rs__bind_like_a_function(PyObject *self, PyObject *instance, PyObject *owner)
{
    if (instance == NULL || instance == Py_None) {
        return Py_NewRef(self);
    }
    return PyMethod_New(self, instance);
}

static PyObject *
cursor_method_repr(cursor_method *self)
{
    return PyUnicode_FromFormat("<reqscope cursor method %R>", self->method);
}

static PyMemberDef cursor_method_members[] = {
    {"method", T_OBJECT_EX, offsetof(cursor_method, method), READONLY, "The driver's method."},
    {NULL, 0, 0, 0, NULL},
};

PyTypeObject rs_CursorMethodType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "reqscope._core.CursorMethod",
    .tp_doc = PyDoc_STR("CursorMethod(method, kind, alias='sql')\n\nA driver cursor's method, "
                        "recorded: kind CURSOR_FETCH charges a fetch to the statement last run on "
                        "the cursor; CURSOR_EXECUTE, CURSOR_EXECUTEMANY and CURSOR_EXECUTESCRIPT "
                        "time and record the statement under the connection's _reqscope_alias, "
                        "or `alias`."),
    .tp_basicsize = sizeof(cursor_method),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_METHOD_DESCRIPTOR |
                Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_new = cursor_method_new,
    .tp_traverse = (traverseproc)cursor_method_traverse,
    .tp_clear = (inquiry)cursor_method_clear,
    .tp_dealloc = (destructor)cursor_method_dealloc,
    .tp_vectorcall_offset = offsetof(cursor_method, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_descr_get = rs__bind_like_a_function,
    .tp_repr = (reprfunc)cursor_method_repr,
    .tp_members = cursor_method_members,
};

/* ---------------- ExecuteWrapper ---------------- */

typedef struct {
    PyObject_HEAD
    PyObject *explain;         /* explain(fingerprint, connection, raw_cursor, sql, params). */
    vectorcallfunc vectorcall; /* execute_wrapper_call. */
} execute_wrapper;

/* Starts the statement of Django's call (connection, raw cursor and alias from `context`): its
 * token, or -1. The raw cursor (a new reference) in `*raw_cursor` when it is not -1. */
static int
begin_django_statement(PyObject *context, PyObject *sql, PyObject *params, PyObject *many,
                       PyObject **raw_cursor)
{
    *raw_cursor = NULL;
    PyObject *connection =
        PyDict_Check(context) ? PyDict_GetItemWithError(context, str_connection) : NULL;
    PyObject *wrapped = PyDict_Check(context) ? PyDict_GetItemWithError(context, str_cursor) : NULL;
    PyObject *cursor = wrapped != NULL ? PyObject_GetAttr(wrapped, str_cursor) : NULL;
    PyObject *raw_connection =
        connection != NULL && cursor != NULL ? PyObject_GetAttr(connection, str_connection) : NULL;
    PyObject *alias =
        raw_connection != NULL ? PyObject_GetAttr(connection, str_alias_attribute) : NULL;
    int token = -1;
    if (alias != NULL) {
        int truth = PyObject_IsTrue(many);
        token = begin_statement(raw_connection, cursor, alias, sql, params,
                                truth > 0 ? RS_SQL_MANY : 0);
    }
    PyErr_Clear();
    Py_XDECREF(raw_connection);
    Py_XDECREF(alias);
    if (token < 0) {
        Py_XDECREF(cursor);
        return -1;
    }
    *raw_cursor = cursor;
    return token;
}

/* wrapper(execute, sql, params, many, context): Django's execute wrapper protocol. */
static PyObject *
execute_wrapper_call(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    execute_wrapper *self = (execute_wrapper *)callable;
    if (PyVectorcall_NARGS(nargsf) != 5 || kwnames != NULL) {
        PyErr_SetString(PyExc_TypeError,
                        "the execute wrapper takes (execute, sql, params, many, context)");
        return NULL;
    }
    PyObject *execute = args[0], *sql = args[1], *params = args[2], *context = args[4];
    PyObject *raw_cursor;
    int token =
        rs_is_idle() ? -1 : begin_django_statement(context, sql, params, args[3], &raw_cursor);
    PyObject *result = PyObject_Vectorcall(execute, args + 1, 4, NULL);
    if (token < 0) {
        return result;
    }
    uint64_t fingerprint = 0;
    if (finish_statement(token, result, raw_cursor, &fingerprint)) {
        PyObject *connection = PyDict_GetItemWithError(context, str_connection);
        PyObject *outcome =
            connection != NULL
                ? PyObject_CallFunction(self->explain, "KOOOO", (unsigned long long)fingerprint,
                                        connection, raw_cursor, sql, params)
                : NULL;
        if (outcome == NULL) {
            PyErr_Clear(); /* The explainer swallows its errors; the plan is missing. */
        }
        Py_XDECREF(outcome);
    }
    Py_DECREF(raw_cursor);
    return result;
}

static PyObject *
execute_wrapper_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"explain", NULL};
    PyObject *explain;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O:ExecuteWrapper", keywords, &explain)) {
        return NULL;
    }
    if (!PyCallable_Check(explain)) {
        PyErr_SetString(PyExc_TypeError, "ExecuteWrapper(explain) needs a callable");
        return NULL;
    }
    execute_wrapper *self = (execute_wrapper *)type->tp_alloc(type, 0);
    if (self != NULL) {
        self->explain = Py_NewRef(explain);
        self->vectorcall = execute_wrapper_call;
    }
    return (PyObject *)self;
}

static int
execute_wrapper_traverse(execute_wrapper *self, visitproc visit, void *arg)
{
    Py_VISIT(self->explain);
    return 0;
}

static int
execute_wrapper_clear(execute_wrapper *self)
{
    Py_CLEAR(self->explain);
    return 0;
}

static void
execute_wrapper_dealloc(execute_wrapper *self)
{
    PyObject_GC_UnTrack(self);
    execute_wrapper_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
execute_wrapper_repr(execute_wrapper *self)
{
    return PyUnicode_FromString("<reqscope execute wrapper>");
}

PyTypeObject rs_ExecuteWrapperType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "reqscope._core.ExecuteWrapper",
    .tp_doc = PyDoc_STR("ExecuteWrapper(explain)\n\nA Django execute wrapper that records each "
                        "statement in the current scope; explain(fingerprint, connection, "
                        "raw_cursor, sql, params) runs for a read slow enough to EXPLAIN. Only "
                        "what Django's execute raises reaches the caller."),
    .tp_basicsize = sizeof(execute_wrapper),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_new = execute_wrapper_new,
    .tp_traverse = (traverseproc)execute_wrapper_traverse,
    .tp_clear = (inquiry)execute_wrapper_clear,
    .tp_dealloc = (destructor)execute_wrapper_dealloc,
    .tp_vectorcall_offset = offsetof(execute_wrapper, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_repr = (reprfunc)execute_wrapper_repr,
};

int
rs_hook_calls_init(void)
{
    str_connection = PyUnicode_InternFromString("connection");
    str_alias = PyUnicode_InternFromString("_reqscope_alias");
    str_rowcount = PyUnicode_InternFromString("rowcount");
    str_cursor = PyUnicode_InternFromString("cursor");
    str_alias_attribute = PyUnicode_InternFromString("alias");
    if (str_connection == NULL || str_alias == NULL || str_rowcount == NULL || str_cursor == NULL ||
        str_alias_attribute == NULL) {
        return -1;
    }
    return PyType_Ready(&rs_CursorMethodType) < 0 ? -1 : PyType_Ready(&rs_ExecuteWrapperType);
}
