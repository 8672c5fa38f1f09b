/*
 * module.c: reqscope._core, the only place where Python callers meet the C engines.
 *
 * It parses arguments and turns the engines' C results into Python objects and back. The SQL
 * hooks' per-statement entry points (sql_begin, sql_end, sql_fetch, CursorMethod) are in
 * dbhooks/hook_calls.c.
 */
#include "reqscope.h"
#include "growth.h"
#include "memory.h"

#include "callsite.h"
#include "context_reader.h"
#include "clock.h"
#include "fingerprint.h"
#include "params.h"
#include "cursor_factory.h"
#include "hook_calls.h"
#include "queries.h"
#include "console.h"
#include "sampler.h"

#ifdef RS_PORTABLE
#define BUILT_PORTABLE 1 /* No internal CPython header (setup.py, README "Supported Pythons"). */
#else
#define BUILT_PORTABLE 0
#endif

/* Fingerprints a str or bytes argument; returns 0, or -1 with an exception set. */
static int
fingerprint_argument(PyObject *sql, rs_fingerprint *fp)
{
    const char *text;
    Py_ssize_t length;
    if (PyUnicode_Check(sql)) {
        text = PyUnicode_AsUTF8AndSize(sql, &length);
        if (text == NULL) {
            return -1;
        }
    }
    else if (PyBytes_Check(sql)) {
        text = PyBytes_AS_STRING(sql);
        length = PyBytes_GET_SIZE(sql);
    }
    else {
        PyErr_Format(PyExc_TypeError, "fingerprint() needs str or bytes, not %.100s",
                     Py_TYPE(sql)->tp_name);
        return -1;
    }
    if (rs_fp_normalize(text, (size_t)length, fp) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static PyObject *
fp_text(const rs_fingerprint *fp)
{
    return PyUnicode_DecodeUTF8(fp->text, (Py_ssize_t)fp->length, "surrogateescape");
}

PyDoc_STRVAR(fingerprint_doc,
             "fingerprint(sql) -> (id, text)\n\nThe 64-bit id and normalized text of a SQL "
             "statement: literals and placeholders become ?, lists collapse, comments vanish.");

static PyObject *
fingerprint(PyObject *module, PyObject *sql)
{
    rs_fingerprint fp;
    if (fingerprint_argument(sql, &fp) < 0) {
        return NULL;
    }
    PyObject *text = fp_text(&fp);
    PyObject *result = text ? Py_BuildValue("(KN)", (unsigned long long)fp.id, text) : NULL;
    rs_fp_release(&fp);
    return result;
}

static const char *
kind_name(rs_stmt_kind kind)
{
    static const char *names[] = {"other", "read", "write", "transaction"};
    return names[kind];
}

PyDoc_STRVAR(fingerprint_info_doc,
             "fingerprint_info(sql) -> dict\n\nid, text, kind (read/write/transaction/other), "
             "truncated, has_list and list_arity of a statement.");

static PyObject *
fingerprint_info(PyObject *module, PyObject *sql)
{
    rs_fingerprint fp;
    if (fingerprint_argument(sql, &fp) < 0) {
        return NULL;
    }
    PyObject *text = fp_text(&fp);
    PyObject *result =
        text ? Py_BuildValue("{s:K,s:N,s:s,s:O,s:O,s:I}", "id", (unsigned long long)fp.id, "text",
                             text, "kind", kind_name(fp.kind), "truncated",
                             (fp.flags & RS_FP_TRUNCATED) ? Py_True : Py_False, "has_list",
                             (fp.flags & RS_FP_HAS_LIST) ? Py_True : Py_False, "list_arity",
                             (unsigned int)fp.list_arity)
             : NULL;
    rs_fp_release(&fp);
    return result;
}

PyDoc_STRVAR(sql_explained_doc,
             "sql_explained(fingerprint, text)\n\nAttaches EXPLAIN output to a fingerprint of "
             "the current scope and its enclosing scopes.");

static PyObject *
sql_explained(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    unsigned long long fingerprint;
    if (nargs != 2 || !PyUnicode_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "sql_explained(fingerprint: int, text: str)");
        return NULL;
    }
    fingerprint = PyLong_AsUnsignedLongLong(args[0]);
    if (PyErr_Occurred()) {
        return NULL;
    }
    rs_scope *scope = rs_scope_current();
    if (scope != NULL) {
        rs_sql_set_explain(scope, fingerprint, args[1]);
        Py_DECREF(scope);
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(is_active_doc, "is_active() -> bool\n\nWhether any scope is active in the process.");

static PyObject *
is_active(PyObject *module, PyObject *unused)
{
    return PyBool_FromLong(!rs_is_idle());
}

PyDoc_STRVAR(enter_scope_doc,
             "enter_scope(name, options) -> Scope\n\nA new scope, entered: "
             "what each call of a function decorated with profile runs.");

static PyObject *
enter_scope(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyObject_TypeCheck(args[1], &rs_ScopeOptionsType)) {
        PyErr_SetString(PyExc_TypeError, "enter_scope(name, options): a name and a ScopeOptions");
        return NULL;
    }
    return (PyObject *)rs_profile_begin(args[0], args[1]);
}

PyDoc_STRVAR(current_scope_doc, "current_scope() -> Scope or None\n\nThe scope of this context.");

static PyObject *
current_scope(PyObject *module, PyObject *unused)
{
    rs_scope *scope = rs_scope_current();
    return scope ? (PyObject *)scope : Py_NewRef(Py_None);
}

PyDoc_STRVAR(thread_scope_doc,
             "thread_scope() -> Scope or None\n\nThe scope entered last on this thread (the "
             "C thread-local the native components read).");

static PyObject *
thread_scope(PyObject *module, PyObject *unused)
{
    rs_scope *scope = rs_thread_scope;
    return Py_NewRef(scope && scope->state == RS_SCOPE_ACTIVE ? (PyObject *)scope : Py_None);
}

PyDoc_STRVAR(register_lazy_loader_doc,
             "register_lazy_loader(code, labeler)\n\nNames the relation an N+1 loads when "
             "`code` (a lazy-loading function) is on the stack: labeler(self) -> str.");

static PyObject *
register_lazy_loader(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "register_lazy_loader(code, labeler)");
        return NULL;
    }
    if (rs_callsite_register_lazy_loader(args[0], args[1]) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(render_console_doc,
             "render_console(report, color) -> str\n\nThe console summary of a report dict.");

static PyObject *
render_console(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyDict_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "render_console(report: dict, color: bool)");
        return NULL;
    }
    int color = PyObject_IsTrue(args[1]);
    if (color < 0) {
        return NULL;
    }
    return rs_render_console(args[0], color);
}

PyDoc_STRVAR(sampler_stop_doc,
             "sampler_stop()\n\nStops the sampling thread and waits for it (registered with "
             "atexit); the next CPU scope starts it again.");

static PyObject *
sampler_stop(PyObject *module, PyObject *unused)
{
    rs_sampler_stop();
    Py_RETURN_NONE;
}

PyDoc_STRVAR(sampler_ticks_doc, "sampler_ticks() -> int\n\nTicks the sampler has run.");

static PyObject *
sampler_ticks(PyObject *module, PyObject *unused)
{
    return PyLong_FromUnsignedLongLong(rs_sampler_ticks());
}

PyDoc_STRVAR(speedscope_doc,
             "speedscope(report) -> dict\n\nThe speedscope document of a report dict with a CPU or "
             "memory section.");

static PyObject *
speedscope(PyObject *module, PyObject *report)
{
    if (!PyDict_Check(report)) {
        PyErr_SetString(PyExc_TypeError, "speedscope(report: dict)");
        return NULL;
    }
    return rs_render_speedscope(report);
}

PyDoc_STRVAR(memory_growth_doc,
             "memory_growth(min_confidence, everything, reset) -> list\n\nThe sites whose "
             "memory grows across finished scopes (see reqscope.memory_growth).");

static PyObject *
memory_growth(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"min_confidence", "everything", "reset", NULL};
    double min_confidence = 0.9;
    int everything = 0, reset = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$dpp", keywords, &min_confidence, &everything,
                                     &reset)) {
        return NULL;
    }
    PyObject *result = rs_growth_report(min_confidence, everything);
    if (result != NULL && reset) {
        rs_mem_growth_reset();
    }
    return result;
}

PyDoc_STRVAR(memory_growth_dropped_doc,
             "memory_growth_dropped() -> dict\n\nRoutes and lines the leak view could not "
             "follow (its tables were full).");

static PyObject *
memory_growth_dropped(PyObject *module, PyObject *unused)
{
    return rs_growth_dropped();
}

PyDoc_STRVAR(memory_hooks_chained_doc,
             "memory_hooks_chained() -> bool\n\nWhether reqscope put its allocator hooks in the "
             "chain and has not taken them out (another tool may have).");

static PyObject *
memory_hooks_chained(PyObject *module, PyObject *unused)
{
    return PyBool_FromLong(rs_mem_chained());
}

PyDoc_STRVAR(memory_uninstall_doc,
             "memory_uninstall() -> bool\n\nRemoves the allocator hooks if no memory scope "
             "records and none was chained above them; whether they are gone.");

static PyObject *
memory_uninstall(PyObject *module, PyObject *unused)
{
    return PyBool_FromLong(rs_mem_uninstall());
}

PyDoc_STRVAR(after_fork_in_child_doc,
             "after_fork_in_child()\n\nEnds, in a forked child, the scopes of the parent's "
             "other threads (registered with os.register_at_fork).");

static PyObject *
after_fork_in_child(PyObject *module, PyObject *unused)
{
    rs_scope_after_fork_in_child();
    Py_RETURN_NONE;
}

PyDoc_STRVAR(set_growth_warmup_doc,
             "set_growth_warmup(requests)\n\nRequests of each route not followed for growth.");

static PyObject *
set_growth_warmup(PyObject *module, PyObject *requests)
{
    unsigned long value = PyLong_AsUnsignedLong(requests);
    if (value == (unsigned long)-1 && PyErr_Occurred()) {
        return NULL;
    }
    if (value > UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "set_growth_warmup: too many requests");
        return NULL;
    }
    rs_growth_set_warmup((uint32_t)value);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(render_growth_doc,
             "render_growth(sites, color) -> str\n\nThe console text of memory_growth()'s list.");

static PyObject *
render_growth(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "render_growth(sites: list, color: bool)");
        return NULL;
    }
    int color = PyObject_IsTrue(args[1]);
    return color < 0 ? NULL : rs_render_growth(args[0], color);
}

static PyMethodDef module_methods[] = {
    {"render_growth", (PyCFunction)(void (*)(void))render_growth, METH_FASTCALL, render_growth_doc},
    {"memory_growth", (PyCFunction)(void (*)(void))memory_growth, METH_VARARGS | METH_KEYWORDS,
     memory_growth_doc},
    {"set_growth_warmup", set_growth_warmup, METH_O, set_growth_warmup_doc},
    {"memory_uninstall", memory_uninstall, METH_NOARGS, memory_uninstall_doc},
    {"memory_hooks_chained", memory_hooks_chained, METH_NOARGS, memory_hooks_chained_doc},
    {"memory_growth_dropped", memory_growth_dropped, METH_NOARGS, memory_growth_dropped_doc},
    {"after_fork_in_child", after_fork_in_child, METH_NOARGS, after_fork_in_child_doc},
    {"fingerprint", fingerprint, METH_O, fingerprint_doc},
    {"fingerprint_info", fingerprint_info, METH_O, fingerprint_info_doc},
    {"sql_explained", (PyCFunction)(void (*)(void))sql_explained, METH_FASTCALL, sql_explained_doc},
    {"speedscope", speedscope, METH_O, speedscope_doc},
    {"is_active", is_active, METH_NOARGS, is_active_doc},
    {"sampler_stop", sampler_stop, METH_NOARGS, sampler_stop_doc},
    {"sampler_ticks", sampler_ticks, METH_NOARGS, sampler_ticks_doc},
    {"enter_scope", (PyCFunction)(void (*)(void))enter_scope, METH_FASTCALL, enter_scope_doc},
    {"current_scope", current_scope, METH_NOARGS, current_scope_doc},
    {"thread_scope", thread_scope, METH_NOARGS, thread_scope_doc},
    {"register_lazy_loader", (PyCFunction)(void (*)(void))register_lazy_loader, METH_FASTCALL,
     register_lazy_loader_doc},
    {"render_console", (PyCFunction)(void (*)(void))render_console, METH_FASTCALL,
     render_console_doc},
    {NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "reqscope._core",
    .m_doc = "reqscope's C core: scopes, SQL recording, fingerprints and reports.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit__core(void)
{
#ifdef Py_GIL_DISABLED
    PyErr_SetString(PyExc_ImportError,
                    "reqscope does not support free-threaded CPython builds yet");
    return NULL;
#endif
    if (rs_params_init() < 0 || PyType_Ready(&rs_ScopeType) < 0 ||
        PyType_Ready(&rs_ScopeOptionsType) < 0 || rs_profile_init() < 0 ||
        rs_hook_calls_init() < 0 || rs_cursor_factory_init() < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) {
        return NULL;
    }
    if (rs_scope_var == NULL) {
        rs_scope_var = PyContextVar_New("reqscope.scope", NULL);
        if (rs_scope_var != NULL && rs_context_reader_init(rs_scope_var) < 0) {
            Py_CLEAR(rs_scope_var);
        }
    }
    if (rs_scope_var == NULL || PyModule_AddObjectRef(module, "scope_var", rs_scope_var) < 0 ||
        PyModule_AddObjectRef(module, "Scope", (PyObject *)&rs_ScopeType) < 0 ||
        PyModule_AddObjectRef(module, "ScopeOptions", (PyObject *)&rs_ScopeOptionsType) < 0 ||
        PyModule_AddObjectRef(module, "ProfileBase", (PyObject *)&rs_ProfileBaseType) < 0 ||
        PyModule_AddObjectRef(module, "CursorMethod", (PyObject *)&rs_CursorMethodType) < 0 ||
        PyModule_AddObjectRef(module, "ExecuteWrapper", (PyObject *)&rs_ExecuteWrapperType) < 0 ||
        PyModule_AddObjectRef(module, "CursorFactory", (PyObject *)&rs_CursorFactoryType) < 0 ||
        PyModule_AddFunctions(module, rs_hook_call_functions) < 0 ||
        PyModule_AddIntConstant(module, "CURSOR_FETCH", RS_CURSOR_FETCH) < 0 ||
        PyModule_AddIntConstant(module, "CURSOR_EXECUTE", RS_CURSOR_EXECUTE) < 0 ||
        PyModule_AddIntConstant(module, "CURSOR_EXECUTEMANY", RS_CURSOR_EXECUTEMANY) < 0 ||
        PyModule_AddIntConstant(module, "CURSOR_EXECUTESCRIPT", RS_CURSOR_EXECUTESCRIPT) < 0 ||
        PyModule_AddObjectRef(module, "PORTABLE", BUILT_PORTABLE ? Py_True : Py_False) < 0 ||
        PyModule_AddIntConstant(module, "SQL_MANY", RS_SQL_MANY) < 0 ||
        PyModule_AddIntConstant(module, "SQL_SCRIPT", RS_SQL_SCRIPT) < 0 ||
        PyModule_AddIntConstant(module, "SQL_CONN_SCOPED", RS_SQL_CONN_SCOPED) < 0 ||
        PyModule_AddIntConstant(module, "FP_MAX_INPUT", RS_FP_MAX_INPUT) < 0 ||
        PyModule_AddIntConstant(module, "REPORT_VERSION", RS_REPORT_VERSION) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
