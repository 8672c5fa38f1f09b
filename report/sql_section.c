/*
 * sql_section.c: the report's "sql" section.
 *
 * queries: one entry per fingerprint, slowest total first, with its call sites grouped by
 * resolved user frame; findings: from the detectors. Counts of what the tables dropped go into
 * the report's "dropped" section under sql_* names.
 */
#include "detectors.h"
#include "report.h"

/* {(file, line, function): count} of a query's call sites, as a list of dicts. */
static PyObject *
query_callsites(rs_sql_state *state, const rs_sql_query *query)
{
    PyObject *counts = PyDict_New();
    PyObject *result = NULL;
    if (counts == NULL) {
        return NULL;
    }
    rs_sql_site_use *use, *next;
    HASH_ITER(hh, state->site_uses, use, next) {
        if (use->query != query) {
            continue;
        }
        PyObject *key = Py_BuildValue("(OiO)", use->callsite->file, use->callsite->line,
                                      use->callsite->function);
        PyObject *previous = key ? PyDict_GetItemWithError(counts, key) : NULL;
        unsigned long long count =
            use->count + (previous ? PyLong_AsUnsignedLongLong(previous) : 0);
        PyObject *value = PyErr_Occurred() ? NULL : PyLong_FromUnsignedLongLong(count);
        if (key == NULL || value == NULL || PyDict_SetItem(counts, key, value) < 0) {
            Py_XDECREF(key);
            Py_XDECREF(value);
            goto done;
        }
        Py_DECREF(value);
        Py_DECREF(key);
    }
    result = PyList_New(0);
    Py_ssize_t position = 0;
    PyObject *key, *count;
    while (result != NULL && PyDict_Next(counts, &position, &key, &count)) {
        PyObject *item = Py_BuildValue("{s:O,s:O,s:O,s:O}", "file", PyTuple_GET_ITEM(key, 0),
                                       "line", PyTuple_GET_ITEM(key, 1), "function",
                                       PyTuple_GET_ITEM(key, 2), "count", count);
        if (item == NULL || PyList_Append(result, item) < 0) {
            Py_XDECREF(item);
            Py_CLEAR(result);
            break;
        }
        Py_DECREF(item);
    }
done:
    Py_DECREF(counts);
    return result;
}

static const char *
kind_name(rs_stmt_kind kind)
{
    switch (kind) {
        case RS_STMT_READ:
            return "read";
        case RS_STMT_WRITE:
            return "write";
        case RS_STMT_TRANSACTION:
            return "transaction";
        default:
            return "other";
    }
}

static PyObject *
query_dict(rs_sql_state *state, const rs_sql_query *query)
{
    PyObject *item = PyDict_New();
    if (item == NULL ||
        rs_dict_put(item, "fingerprint", rs_fingerprint_hex(query->fingerprint)) < 0 ||
        rs_dict_put(item, "text", rs_text(query->text)) < 0 ||
        rs_dict_put(item, "kind", PyUnicode_FromString(kind_name(query->kind))) < 0 ||
        rs_dict_put(item, "count", PyLong_FromUnsignedLongLong(query->count)) < 0 ||
        rs_dict_put(item, "time_ms", PyFloat_FromDouble((double)query->time_ns / 1e6)) < 0 ||
        rs_dict_put(item, "max_ms", PyFloat_FromDouble((double)query->max_ns / 1e6)) < 0 ||
        rs_dict_put(item, "rows", PyLong_FromUnsignedLongLong(query->rows)) < 0 ||
        rs_dict_put(item, "errors", PyLong_FromUnsignedLongLong(query->errors)) < 0 ||
        rs_dict_put(item, "distinct_params", PyLong_FromUnsignedLongLong(query->distinct_params)) <
            0 ||
        rs_dict_put(item, "duplicates", PyLong_FromUnsignedLongLong(query->duplicates)) < 0 ||
        rs_dict_put(item, "truncated", PyBool_FromLong(query->fp_flags & RS_FP_TRUNCATED)) < 0 ||
        rs_dict_put(item, "callsites", query_callsites(state, query)) < 0 ||
        (query->params_repr != NULL &&
         PyDict_SetItemString(item, "params", query->params_repr) < 0)) {
        Py_XDECREF(item);
        return NULL;
    }
    return item;
}

static int
compare_queries(const void *left, const void *right)
{
    const rs_sql_query *a = *(rs_sql_query *const *)left, *b = *(rs_sql_query *const *)right;
    return (a->time_ns < b->time_ns) - (a->time_ns > b->time_ns);
}

static PyObject *
queries_list(rs_sql_state *state, uint64_t *similar_groups)
{
    rs_sql_query **sorted =
        (rs_sql_query **)rs_raw_malloc(sizeof(*sorted) * (state->query_count + 1));
    size_t count = 0;
    PyObject *result = PyList_New(0);
    if (sorted == NULL || result == NULL) {
        rs_raw_free(sorted);
        Py_XDECREF(result);
        return PyErr_NoMemory();
    }
    rs_sql_query *query, *next;
    HASH_ITER(hh, state->queries, query, next) {
        sorted[count++] = query;
        *similar_groups += query->kind == RS_STMT_READ && query->distinct_params > 1;
    }
    qsort(sorted, count, sizeof(*sorted), compare_queries);
    for (size_t i = 0; i < count && result != NULL; i++) {
        PyObject *item = query_dict(state, sorted[i]);
        if (item == NULL || PyList_Append(result, item) < 0) {
            Py_CLEAR(result);
        }
        Py_XDECREF(item);
    }
    rs_raw_free(sorted);
    return result;
}

static int
put_dropped(PyObject *dropped, const rs_sql_state *state)
{
    const struct {
        const char *name;
        uint64_t count;
    } counters[] = {
        {"sql_queries", state->dropped.queries},
        {"sql_callsites", state->dropped.callsites},
        {"sql_params", state->dropped.params},
        {"sql_slow", state->dropped.slow},
        {"sql_inflight", state->dropped.inflight},
        {"sql_aliases", state->dropped.aliases},
        {"sql_memory", state->dropped.memory},
        {"sql_unsupported", state->dropped.unsupported},
        {"sql_abandoned", state->dropped.abandoned},
    };
    for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
        if (rs_dict_put(dropped, counters[i].name, PyLong_FromUnsignedLongLong(counters[i].count)) <
            0) {
            return -1;
        }
    }
    return 0;
}

PyObject *
rs_report_sql(rs_scope *scope, PyObject *dropped)
{
    rs_sql_state *state = scope->sql;
    uint64_t similar_groups = 0;
    PyObject *section = NULL, *queries = NULL, *findings = NULL;

    if (rs_sql_resolve_callsites(state, scope->options.exclude_paths, scope->options.own_paths) <
            0 ||
        (queries = queries_list(state, &similar_groups)) == NULL ||
        (findings = PyList_New(0)) == NULL ||
        rs_sql_detect(scope, rs_scope_wall_ms(scope), findings) < 0 ||
        put_dropped(dropped, state) < 0 || (section = PyDict_New()) == NULL) {
        goto fail;
    }
    if (rs_dict_put(section, "count", PyLong_FromUnsignedLongLong(state->count)) < 0 ||
        rs_dict_put(section, "time_ms", PyFloat_FromDouble((double)state->time_ns / 1e6)) < 0 ||
        rs_dict_put(section, "errors", PyLong_FromUnsignedLongLong(state->errors)) < 0 ||
        rs_dict_put(section, "duplicates", PyLong_FromUnsignedLongLong(state->duplicates)) < 0 ||
        rs_dict_put(section, "similar_groups", PyLong_FromUnsignedLongLong(similar_groups)) < 0 ||
        PyDict_SetItemString(section, "queries", queries) < 0 ||
        PyDict_SetItemString(section, "findings", findings) < 0) {
        goto fail;
    }
    Py_DECREF(queries);
    Py_DECREF(findings);
    return section;
fail:
    Py_XDECREF(section);
    Py_XDECREF(queries);
    Py_XDECREF(findings);
    return NULL;
}
