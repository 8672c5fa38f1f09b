/*
 * detectors.c: what is wrong with a scope's SQL, decided at report time.
 *
 * - N+1: a read fingerprint run at least n_plus_one_min times, with as many distinct parameter
 *   sets, from one call site (the resolved user frame, so the different ORM stacks under one
 *   line of a view count together). A statement whose IN list was collapsed is already batched
 *   and never an N+1. When a registered lazy loader was on the stack, its labeler names the
 *   relation.
 * - duplicate: the same read with the same parameters on the same alias, with no write on that
 *   alias in between (counted as statements run, see queries.c).
 * - slow: a statement of at least slow_ms, or of at least slow_share of the scope's wall time
 *   and at least slow_min_ms; one finding per fingerprint, with its EXPLAIN text if any.
 * Each runs over the scope's tables once; grouping by resolved call site uses a dict.
 */
#include "detectors.h"

#include "report.h"

/* A {file, line, function} dict for a resolved call site, or for none. */
static PyObject *
callsite_dict(const rs_sql_callsite *callsite)
{
    if (callsite == NULL || callsite->file == NULL) {
        return Py_BuildValue("{s:s,s:i,s:s}", "file", "<unknown>", "line", 0, "function",
                             "<unknown>");
    }
    return Py_BuildValue("{s:O,s:i,s:O}", "file", callsite->file, "line", callsite->line,
                         "function", callsite->function);
}

static PyObject *
finding(const char *kind, const rs_sql_query *query, uint64_t count, uint64_t time_ns,
        const rs_sql_callsite *callsite)
{
    PyObject *result = PyDict_New();
    if (result == NULL || rs_dict_put(result, "kind", PyUnicode_FromString(kind)) < 0 ||
        rs_dict_put(result, "fingerprint", rs_fingerprint_hex(query->fingerprint)) < 0 ||
        rs_dict_put(result, "text", rs_text(query->text)) < 0 ||
        rs_dict_put(result, "count", PyLong_FromUnsignedLongLong(count)) < 0 ||
        rs_dict_put(result, "time_ms", PyFloat_FromDouble((double)time_ns / 1e6)) < 0 ||
        rs_dict_put(result, "callsite", callsite_dict(callsite)) < 0) {
        Py_XDECREF(result);
        return NULL;
    }
    return result;
}

/* The label a lazy loader gives its relation, or NULL (never an error: a labeler that fails
 * leaves the finding unlabelled). */
static PyObject *
lazy_label(const rs_sql_callsite *callsite)
{
    if (callsite->lazy_labeler == NULL) {
        return NULL;
    }
    PyObject *label = PyObject_CallOneArg(callsite->lazy_labeler, callsite->lazy_owner);
    if (label == NULL || !PyUnicode_Check(label)) {
        PyErr_Clear();
        Py_XDECREF(label);
        return NULL;
    }
    return label;
}

/* Orders site uses by query, then resolved file and line, so one user frame's uses are
 * adjacent. */
static int
compare_uses(const void *left, const void *right)
{
    const rs_sql_site_use *a = *(rs_sql_site_use *const *)left;
    const rs_sql_site_use *b = *(rs_sql_site_use *const *)right;
    if (a->query != b->query) {
        return a->query < b->query ? -1 : 1;
    }
    if (a->callsite->file != b->callsite->file) {
        int order = PyUnicode_Compare(a->callsite->file, b->callsite->file);
        if (order != 0) {
            return order;
        }
    }
    return (a->callsite->line > b->callsite->line) - (a->callsite->line < b->callsite->line);
}

static int
same_user_frame(const rs_sql_site_use *a, const rs_sql_site_use *b)
{
    return compare_uses(&a, &b) == 0;
}

/* Appends one N+1 finding for the uses [first, last) when they make one. */
static int
report_n_plus_one(rs_sql_site_use **first, rs_sql_site_use **last, long minimum, PyObject *findings)
{
    uint64_t count = 0, time_ns = 0, distinct = 0;
    PyObject *label = NULL;
    for (rs_sql_site_use **use = first; use < last; use++) {
        count += (*use)->count;
        time_ns += (*use)->time_ns;
        distinct += (*use)->distinct_params;
    }
    if (count < (uint64_t)minimum || distinct < (uint64_t)minimum) {
        return 0;
    }
    for (rs_sql_site_use **use = first; use < last && label == NULL; use++) {
        label = lazy_label((*use)->callsite);
    }
    PyObject *item = finding("n_plus_one", (*first)->query, count, time_ns, (*first)->callsite);
    if (item == NULL || (label != NULL && rs_dict_put(item, "label", label) < 0) ||
        PyList_Append(findings, item) < 0) {
        Py_XDECREF(item);
        return -1;
    }
    Py_DECREF(item);
    return 0;
}

static int
detect_n_plus_one(rs_sql_state *state, long minimum, PyObject *findings)
{
    rs_sql_site_use **uses =
        (rs_sql_site_use **)rs_raw_malloc(sizeof(*uses) * (state->site_use_count + 1));
    size_t count = 0; /* Candidate uses: reads that were not batched. */
    if (uses == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    rs_sql_site_use *use, *next;
    HASH_ITER(hh, state->site_uses, use, next) {
        if (use->query->kind == RS_STMT_READ && !(use->query->fp_flags & RS_FP_HAS_LIST)) {
            uses[count++] = use;
        }
    }
    qsort(uses, count, sizeof(*uses), compare_uses);
    int status = 0;
    for (size_t start = 0, end; start < count && status == 0; start = end) {
        for (end = start + 1; end < count && same_user_frame(uses[start], uses[end]); end++) {
        }
        status = report_n_plus_one(uses + start, uses + end, minimum, findings);
    }
    rs_raw_free(uses);
    return status;
}

/* The call site most of a query's executions came from. */
static rs_sql_callsite *
main_callsite(rs_sql_state *state, const rs_sql_query *query)
{
    rs_sql_site_use *use, *next, *best = NULL;
    HASH_ITER(hh, state->site_uses, use, next) {
        if (use->query == query && (best == NULL || use->count > best->count)) {
            best = use;
        }
    }
    return best ? best->callsite : NULL;
}

static int
detect_duplicates(rs_sql_state *state, PyObject *findings)
{
    rs_sql_query *query, *next;
    HASH_ITER(hh, state->queries, query, next) {
        if (query->duplicates == 0) {
            continue;
        }
        uint64_t share_ns = query->time_ns / query->count * query->duplicates;
        PyObject *item =
            finding("duplicate", query, query->duplicates, share_ns, main_callsite(state, query));
        if (item == NULL || PyList_Append(findings, item) < 0) {
            Py_XDECREF(item);
            return -1;
        }
        Py_DECREF(item);
    }
    return 0;
}

static int
is_slow(const rs_scope_options *options, double duration_ms, double wall_ms)
{
    return duration_ms >= options->slow_ms ||
           (duration_ms >= options->slow_min_ms && duration_ms >= options->slow_share * wall_ms);
}

static int
detect_slow(rs_scope *scope, double wall_ms, PyObject *findings)
{
    rs_sql_state *state = scope->sql;
    /* One finding per query: the slow log is short (RS_SQL_MAX_SLOW), so a quadratic scan
     * for the first entry of each query is cheaper than a table. */
    for (int i = 0; i < state->slow_count; i++) {
        rs_sql_slow *entry = &state->slow[i];
        double duration_ms = (double)entry->duration_ns / 1e6;
        int first = 1;
        for (int j = 0; j < i && first; j++) {
            first = !(state->slow[j].query == entry->query &&
                      is_slow(&scope->options, (double)state->slow[j].duration_ns / 1e6, wall_ms));
        }
        if (!first || !is_slow(&scope->options, duration_ms, wall_ms)) {
            continue;
        }
        uint64_t count = 0, time_ns = 0;
        rs_sql_slow *slowest = entry;
        for (int j = i; j < state->slow_count; j++) {
            rs_sql_slow *other = &state->slow[j];
            if (other->query == entry->query &&
                is_slow(&scope->options, (double)other->duration_ns / 1e6, wall_ms)) {
                count++;
                time_ns += other->duration_ns;
                slowest = other->duration_ns > slowest->duration_ns ? other : slowest;
            }
        }
        PyObject *item = finding("slow", entry->query, count, time_ns, slowest->callsite);
        if (item == NULL ||
            rs_dict_put(item, "max_ms", PyFloat_FromDouble((double)slowest->duration_ns / 1e6)) <
                0 ||
            (entry->query->explain != NULL &&
             PyDict_SetItemString(item, "explain", entry->query->explain) < 0) ||
            PyList_Append(findings, item) < 0) {
            Py_XDECREF(item);
            return -1;
        }
        Py_DECREF(item);
    }
    return 0;
}

/* Sorts findings[start:] by time_ms, largest first. */
static int
sort_by_time(PyObject *findings, Py_ssize_t start)
{
    PyObject *tail = PyList_GetSlice(findings, start, PyList_GET_SIZE(findings));
    if (tail == NULL) {
        return -1;
    }
    PyObject *result = NULL;
    PyObject *operator_module = PyImport_ImportModule("operator");
    PyObject *key =
        operator_module ? PyObject_CallMethod(operator_module, "itemgetter", "s", "time_ms") : NULL;
    PyObject *sort = key ? PyObject_GetAttrString(tail, "sort") : NULL;
    PyObject *kwargs = sort ? Py_BuildValue("{s:O,s:O}", "key", key, "reverse", Py_True) : NULL;
    PyObject *empty = kwargs ? PyTuple_New(0) : NULL;
    if (empty != NULL) {
        result = PyObject_Call(sort, empty, kwargs);
    }
    int status = result ? PyList_SetSlice(findings, start, PyList_GET_SIZE(findings), tail) : -1;
    Py_XDECREF(result);
    Py_XDECREF(empty);
    Py_XDECREF(kwargs);
    Py_XDECREF(sort);
    Py_XDECREF(key);
    Py_XDECREF(operator_module);
    Py_DECREF(tail);
    return status;
}

int
rs_sql_detect(rs_scope *scope, double wall_ms, PyObject *findings)
{
    rs_sql_state *state = scope->sql;
    Py_ssize_t start = PyList_GET_SIZE(findings);
    if (detect_n_plus_one(state, scope->options.n_plus_one_min, findings) < 0 ||
        sort_by_time(findings, start) < 0) {
        return -1;
    }
    start = PyList_GET_SIZE(findings);
    if (detect_duplicates(state, findings) < 0 || sort_by_time(findings, start) < 0) {
        return -1;
    }
    start = PyList_GET_SIZE(findings);
    if (detect_slow(scope, wall_ms, findings) < 0 || sort_by_time(findings, start) < 0) {
        return -1;
    }
    return 0;
}
