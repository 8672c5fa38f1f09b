/*
 * build.c: the report dict of a scope (DESIGN.md, "Report dict").
 *
 * Built once, after the scope exits (or as a snapshot of a running scope), so every cost of
 * naming things (resolving call sites to file:line, labelling relations) is paid here and
 * never in a hook. The "dropped" section carries every table's overflow counter: a report that
 * lost events says so.
 */
#include "report.h"

static PyObject *
request_info(rs_scope *scope)
{
    if (scope->request == NULL || scope->request == Py_None) {
        Py_RETURN_NONE;
    }
    return PyDict_Copy(scope->request);
}

PyObject *
rs_report_build(rs_scope *scope)
{
    PyObject *report = PyDict_New();
    PyObject *dropped = PyDict_New();
    if (report == NULL || dropped == NULL) {
        goto fail;
    }
    if (rs_dict_put(report, "version", PyLong_FromLong(RS_REPORT_VERSION)) < 0 ||
        rs_dict_put(report, "id", PyLong_FromUnsignedLongLong(scope->id)) < 0 ||
        PyDict_SetItemString(report, "name", scope->name) < 0 ||
        rs_dict_put(report, "started_at", PyFloat_FromDouble(scope->started_at)) < 0 ||
        rs_dict_put(report, "wall_ms", PyFloat_FromDouble(rs_scope_wall_ms(scope))) < 0 ||
        rs_dict_put(report, "cpu_ms", PyFloat_FromDouble((double)scope->cpu_ns / 1e6)) < 0 ||
        rs_dict_put(report, "request", request_info(scope)) < 0) {
        goto fail;
    }
    if (scope->sql != NULL && rs_dict_put(report, "sql", rs_report_sql(scope, dropped)) < 0) {
        goto fail;
    }
    if (scope->cpu != NULL && rs_dict_put(report, "cpu", rs_report_cpu(scope, dropped)) < 0) {
        goto fail;
    }
    if (scope->memory != NULL &&
        rs_dict_put(report, "memory", rs_report_memory(scope, dropped)) < 0) {
        goto fail;
    }
    if (rs_dict_put(report, "dropped", dropped) < 0) {
        dropped = NULL;
        goto fail;
    }
    return report;
fail:
    Py_XDECREF(report);
    Py_XDECREF(dropped);
    return NULL;
}

int
rs_sort_descending(PyObject *list, const char *key, const char *then)
{
    PyObject *operator_module = PyImport_ImportModule("operator");
    PyObject *getter = operator_module == NULL ? NULL
                       : then != NULL
                           ? PyObject_CallMethod(operator_module, "itemgetter", "ss", key, then)
                           : PyObject_CallMethod(operator_module, "itemgetter", "s", key);
    PyObject *sort = getter ? PyObject_GetAttrString(list, "sort") : NULL;
    PyObject *arguments = sort ? PyTuple_New(0) : NULL;
    PyObject *keywords =
        arguments ? Py_BuildValue("{s:O,s:O}", "key", getter, "reverse", Py_True) : NULL;
    PyObject *sorted = keywords ? PyObject_Call(sort, arguments, keywords) : NULL;
    Py_XDECREF(sorted);
    Py_XDECREF(keywords);
    Py_XDECREF(arguments);
    Py_XDECREF(sort);
    Py_XDECREF(getter);
    Py_XDECREF(operator_module);
    return sorted != NULL ? 0 : -1;
}
