/*
 * report.h: the merged report, built once in C, and its renderers.
 *
 * rs_report_build turns a finished (or running) scope into the dict of DESIGN.md's schema;
 * renderers turn that dict into text. The Python layer never re-formats report data.
 */
#ifndef RS_REPORT_H
#define RS_REPORT_H

#include "reqscope.h"

#define RS_REPORT_VERSION 1

/* The report dict of `scope` (new reference), or NULL with an exception set. */
PyObject *rs_report_build(rs_scope *scope);

/* The "memory" section of the report (new reference), or NULL with an exception set. */
PyObject *rs_report_memory(rs_scope *scope, PyObject *dropped);

/* The "cpu" section of the report (new reference), or NULL with an exception set. */
PyObject *rs_report_cpu(rs_scope *scope, PyObject *dropped);

/* The "sql" section of the report (new reference), or NULL with an exception set. */
PyObject *rs_report_sql(rs_scope *scope, PyObject *dropped);

/* The console text of `report`: a summary line and one line per finding. `color` adds ANSI
 * colours. Returns a new str, or NULL with an exception set. */
PyObject *rs_render_console(PyObject *report, int color);

/* The speedscope document (a dict) of a report with a CPU section, or NULL with an exception
 * set. */
PyObject *rs_render_speedscope(PyObject *report);

/* Sorts `list` (of dicts) in place by item `key`, then by `then` when not NULL, largest first.
 * Returns 0, or -1 with an exception set. */
int rs_sort_descending(PyObject *list, const char *key, const char *then);

/* Sets report[key] = value and releases value. Returns 0, or -1 (value NULL or set failed). */
static inline int
rs_dict_put(PyObject *dict, const char *key, PyObject *value)
{
    if (value == NULL) {
        return -1;
    }
    int result = PyDict_SetItemString(dict, key, value);
    Py_DECREF(value);
    return result;
}

/* A str from UTF-8 that may be cut mid-character or hold stale bytes (text copied by the
 * sampler, statements cut at the fingerprint's limit): bad bytes become U+FFFD, never an
 * error that would lose the whole report. */
static inline PyObject *
rs_text(const char *utf8)
{
    return PyUnicode_DecodeUTF8(utf8, (Py_ssize_t)strlen(utf8), "replace");
}

/* The 16-hex-digit text of a 64-bit fingerprint id (JSON cannot carry 64-bit integers). */
static inline PyObject *
rs_fingerprint_hex(uint64_t id)
{
    char text[17];
    snprintf(text, sizeof(text), "%016llx", (unsigned long long)id);
    return PyUnicode_FromString(text);
}

#endif /* RS_REPORT_H */
