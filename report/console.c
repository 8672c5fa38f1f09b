/*
 * console.c: the console renderer, a summary a developer reads in the server's terminal.
 *
 *   [SQL] 17 queries (4 duplicates, 2 similar, 1 N+1), 34 ms SQL / 243 ms total
 *     N+1        12x   8.1 ms  app/views.py:42 in book_list [app.Book.author]: select ...
 *
 * With CPU samples, a [CPU] line (samples, achieved rate, on-CPU and waiting time), the
 * hottest path and the top functions by self time follow; with memory samples, the [MEM]
 * lines of console_memory.c.
 *
 * One line per finding (N+1, duplicate, slow), then one per similar group not already shown,
 * each with its call site (relative to the working directory when under it) and its normalized
 * SQL cut at CONSOLE_SQL_WIDTH characters. Colour is ANSI and only when asked for; the Python
 * layer decides (a terminal, and NO_COLOR unset). Text from the report is printed as is: it is
 * normalized SQL and file names, and control characters are replaced so a crafted statement
 * cannot move the cursor.
 */
#include "console.h"

#include <unistd.h>

#define CONSOLE_SQL_WIDTH 160

const rs_palette rs_colours = {"\033[1m",  "\033[31m", "\033[33m", "\033[35m",
                               "\033[36m", "\033[2m",  "\033[0m"};
const rs_palette rs_plain = {"", "", "", "", "", "", ""};

PyObject *
rs_printable(PyObject *text, Py_ssize_t width)
{
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    Py_ssize_t kept = length > width ? width : length;
    PyObject *result = PyUnicode_New(kept + (length > width ? 3 : 0), 0x10ffff);
    if (result == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < kept; i++) {
        Py_UCS4 point = PyUnicode_READ_CHAR(text, i);
        if (point < 0x20 || point == 0x7f || (point >= 0x80 && point < 0xa0)) {
            point = '?';
        }
        PyUnicode_WriteChar(result, i, point);
    }
    for (Py_ssize_t i = kept; i < PyUnicode_GET_LENGTH(result); i++) {
        PyUnicode_WriteChar(result, i, '.');
    }
    return result;
}

PyObject *
rs_short_path(PyObject *file)
{
    char cwd[4096];
    if (getcwd(cwd, sizeof(cwd)) != NULL) {
        PyObject *prefix = PyUnicode_FromFormat("%s/", cwd);
        if (prefix == NULL) {
            return NULL;
        }
        Py_ssize_t match = PyUnicode_Tailmatch(file, prefix, 0, PY_SSIZE_T_MAX, -1);
        Py_ssize_t skip = PyUnicode_GET_LENGTH(prefix);
        Py_DECREF(prefix);
        if (match == 1) {
            return PyUnicode_Substring(file, skip, PyUnicode_GET_LENGTH(file));
        }
    }
    return rs_printable(file, 200);
}

static PyObject *
finding_line(PyObject *item, const rs_palette *p)
{
    PyObject *kind = PyDict_GetItemString(item, "kind");
    PyObject *callsite = PyDict_GetItemString(item, "callsite");
    PyObject *text = PyDict_GetItemString(item, "text");
    PyObject *label = PyDict_GetItemString(item, "label");
    if (kind == NULL || callsite == NULL || text == NULL) {
        PyErr_SetString(PyExc_ValueError, "malformed SQL finding in report");
        return NULL;
    }
    const char *name = "similar", *colour = p->cyan;
    if (PyUnicode_CompareWithASCIIString(kind, "n_plus_one") == 0) {
        name = "N+1", colour = p->red;
    }
    else if (PyUnicode_CompareWithASCIIString(kind, "duplicate") == 0) {
        name = "duplicate", colour = p->yellow;
    }
    else if (PyUnicode_CompareWithASCIIString(kind, "slow") == 0) {
        name = "slow", colour = p->magenta;
    }
    long count = PyLong_AsLong(PyDict_GetItemString(item, "count"));
    double time_ms = PyFloat_AsDouble(PyDict_GetItemString(item, "time_ms"));
    PyObject *file = rs_short_path(PyDict_GetItemString(callsite, "file"));
    PyObject *function = rs_printable(PyDict_GetItemString(callsite, "function"), 80);
    PyObject *sql = rs_printable(text, CONSOLE_SQL_WIDTH);
    PyObject *label_text = label ? PyUnicode_FromFormat(" [%U]", label) : PyUnicode_FromString("");
    PyObject *line = NULL;
    if (file && function && sql && label_text && !PyErr_Occurred()) {
        char head[128];
        snprintf(head, sizeof(head), "  %s%-9s%s %5ldx %7.1f ms  ", colour, name, p->reset, count,
                 time_ms);
        line = PyUnicode_FromFormat("%s%s%U:%S%s in %U%U: %s%U%s", head, p->bold, file,
                                    PyDict_GetItemString(callsite, "line"), p->reset, function,
                                    label_text, p->dim, sql, p->reset);
    }
    Py_XDECREF(file);
    Py_XDECREF(function);
    Py_XDECREF(sql);
    Py_XDECREF(label_text);
    return line;
}

/* Whether `findings` already has an N+1 finding for `fingerprint`. */
static int
has_n_plus_one(PyObject *findings, PyObject *fingerprint)
{
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(findings); i++) {
        PyObject *item = PyList_GET_ITEM(findings, i);
        PyObject *kind = PyDict_GetItemString(item, "kind");
        PyObject *other = PyDict_GetItemString(item, "fingerprint");
        if (kind && other && PyUnicode_CompareWithASCIIString(kind, "n_plus_one") == 0 &&
            PyUnicode_Compare(other, fingerprint) == 0) {
            return 1;
        }
    }
    return 0;
}

/* A "similar" pseudo-finding for a query run with several parameter sets. */
static PyObject *
similar_item(PyObject *query)
{
    PyObject *callsites = PyDict_GetItemString(query, "callsites");
    PyObject *callsite =
        callsites && PyList_GET_SIZE(callsites) > 0 ? PyList_GET_ITEM(callsites, 0) : NULL;
    if (callsite == NULL) {
        return NULL;
    }
    return Py_BuildValue("{s:s,s:O,s:O,s:O,s:O}", "kind", "similar", "count",
                         PyDict_GetItemString(query, "count"), "time_ms",
                         PyDict_GetItemString(query, "time_ms"), "callsite", callsite, "text",
                         PyDict_GetItemString(query, "text"));
}

PyObject *
rs_join_lines(PyObject *lines)
{
    PyObject *separator = PyUnicode_FromString("\n");
    PyObject *text = separator ? PyUnicode_Join(separator, lines) : NULL;
    Py_XDECREF(separator);
    return text;
}

int
rs_append_line(PyObject *lines, PyObject *line)
{
    if (line == NULL) {
        return -1;
    }
    int status = PyList_Append(lines, line);
    Py_DECREF(line);
    return status;
}

static int
sql_lines(PyObject *sql, double wall_ms, const rs_palette *p, PyObject *lines)
{
    PyObject *findings = PyDict_GetItemString(sql, "findings");
    PyObject *queries = PyDict_GetItemString(sql, "queries");
    if (findings == NULL || queries == NULL) {
        PyErr_SetString(PyExc_ValueError, "malformed sql section in report");
        return -1;
    }
    long n_plus_one = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(findings); i++) {
        PyObject *kind = PyDict_GetItemString(PyList_GET_ITEM(findings, i), "kind");
        n_plus_one += kind && PyUnicode_CompareWithASCIIString(kind, "n_plus_one") == 0;
    }
    char summary[256];
    snprintf(summary, sizeof(summary),
             "%s[SQL]%s %ld quer%s (%ld duplicate%s, %ld similar, %ld N+1), %.0f ms SQL / %.0f ms "
             "total",
             p->bold, p->reset, PyLong_AsLong(PyDict_GetItemString(sql, "count")),
             PyLong_AsLong(PyDict_GetItemString(sql, "count")) == 1 ? "y" : "ies",
             PyLong_AsLong(PyDict_GetItemString(sql, "duplicates")),
             PyLong_AsLong(PyDict_GetItemString(sql, "duplicates")) == 1 ? "" : "s",
             PyLong_AsLong(PyDict_GetItemString(sql, "similar_groups")), n_plus_one,
             PyFloat_AsDouble(PyDict_GetItemString(sql, "time_ms")), wall_ms);
    if (PyErr_Occurred() || rs_append_line(lines, PyUnicode_FromString(summary)) < 0) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(findings); i++) {
        if (rs_append_line(lines, finding_line(PyList_GET_ITEM(findings, i), p)) < 0) {
            return -1;
        }
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(queries); i++) {
        PyObject *query = PyList_GET_ITEM(queries, i);
        PyObject *distinct = PyDict_GetItemString(query, "distinct_params");
        PyObject *kind = PyDict_GetItemString(query, "kind");
        if (distinct == NULL || kind == NULL || PyLong_AsLong(distinct) < 2 ||
            PyUnicode_CompareWithASCIIString(kind, "read") != 0 ||
            has_n_plus_one(findings, PyDict_GetItemString(query, "fingerprint"))) {
            continue;
        }
        PyObject *item = similar_item(query);
        if (item == NULL) {
            continue;
        }
        int status = rs_append_line(lines, finding_line(item, p));
        Py_DECREF(item);
        if (status < 0) {
            return -1;
        }
    }
    return PyErr_Occurred() ? -1 : 0;
}

/* "a > b > c" for the heaviest stack, root first, at most CONSOLE_PATH_FRAMES innermost. */
#define CONSOLE_PATH_FRAMES 8
#define CONSOLE_TOP_FUNCTIONS 5

static PyObject *
hottest_path(PyObject *cpu)
{
    PyObject *stacks = PyDict_GetItemString(cpu, "stacks");
    PyObject *frames = PyDict_GetItemString(cpu, "frames");
    if (stacks == NULL || frames == NULL || PyList_GET_SIZE(stacks) == 0) {
        return PyUnicode_FromString("(no samples)");
    }
    PyObject *heaviest = PyDict_GetItemString(PyList_GET_ITEM(stacks, 0), "frames");
    Py_ssize_t depth = PyList_GET_SIZE(heaviest);
    Py_ssize_t first = depth > CONSOLE_PATH_FRAMES ? depth - CONSOLE_PATH_FRAMES : 0;
    PyObject *names = PyList_New(0);
    if (names == NULL) {
        return NULL;
    }
    if (first > 0 && rs_append_line(names, PyUnicode_FromString("...")) < 0) {
        Py_DECREF(names);
        return NULL;
    }
    for (Py_ssize_t i = first; i < depth; i++) {
        Py_ssize_t number = PyLong_AsSsize_t(PyList_GET_ITEM(heaviest, i));
        PyObject *frame = number >= 0 && number < PyList_GET_SIZE(frames)
                              ? PyList_GET_ITEM(frames, number)
                              : NULL;
        PyObject *function = frame ? PyDict_GetItemString(frame, "function") : NULL;
        if (function == NULL || rs_append_line(names, rs_printable(function, 80)) < 0) {
            Py_DECREF(names);
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_ValueError, "malformed CPU stack in report");
            }
            return NULL;
        }
    }
    PyObject *separator = PyUnicode_FromString(" > ");
    PyObject *path = separator ? PyUnicode_Join(separator, names) : NULL;
    Py_XDECREF(separator);
    Py_DECREF(names);
    return path;
}

static int
cpu_lines(PyObject *cpu, const rs_palette *p, PyObject *lines)
{
    double sampled = PyFloat_AsDouble(PyDict_GetItemString(cpu, "sampled_ms"));
    char summary[256];
    snprintf(summary, sizeof(summary),
             "%s[CPU]%s %ld samples at %.1f ms (%.0f Hz, %ld missed): %.0f ms on CPU, %.0f ms "
             "waiting",
             p->bold, p->reset, PyLong_AsLong(PyDict_GetItemString(cpu, "samples")),
             PyFloat_AsDouble(PyDict_GetItemString(cpu, "interval_ms")),
             PyFloat_AsDouble(PyDict_GetItemString(cpu, "rate_hz")),
             PyLong_AsLong(PyDict_GetItemString(cpu, "missed")),
             PyFloat_AsDouble(PyDict_GetItemString(cpu, "on_cpu_ms")),
             PyFloat_AsDouble(PyDict_GetItemString(cpu, "off_cpu_ms")));
    if (PyErr_Occurred() || rs_append_line(lines, PyUnicode_FromString(summary)) < 0) {
        return -1;
    }
    PyObject *path = hottest_path(cpu);
    if (rs_append_line(lines, path ? PyUnicode_FromFormat("  hottest: %U", path) : NULL) < 0) {
        Py_XDECREF(path);
        return -1;
    }
    Py_DECREF(path);
    PyObject *functions = PyDict_GetItemString(cpu, "functions");
    Py_ssize_t shown = functions ? PyList_GET_SIZE(functions) : 0;
    shown = shown > CONSOLE_TOP_FUNCTIONS ? CONSOLE_TOP_FUNCTIONS : shown;
    for (Py_ssize_t i = 0; i < shown; i++) {
        PyObject *function = PyList_GET_ITEM(functions, i);
        double self_ms = PyFloat_AsDouble(PyDict_GetItemString(function, "self_ms"));
        double total_ms = PyFloat_AsDouble(PyDict_GetItemString(function, "total_ms"));
        char shares[96];
        snprintf(shares, sizeof(shares), "  self %5.1f%%  total %5.1f%%  ",
                 sampled > 0 ? 100.0 * self_ms / sampled : 0.0,
                 sampled > 0 ? 100.0 * total_ms / sampled : 0.0);
        PyObject *file = rs_short_path(PyDict_GetItemString(function, "file"));
        PyObject *name = rs_printable(PyDict_GetItemString(function, "function"), 80);
        PyObject *line = file && name ? PyUnicode_FromFormat("%s%U:%S %s%U%s", shares, file,
                                                             PyDict_GetItemString(function, "line"),
                                                             p->bold, name, p->reset)
                                      : NULL;
        Py_XDECREF(file);
        Py_XDECREF(name);
        if (rs_append_line(lines, line) < 0) {
            return -1;
        }
    }
    return PyErr_Occurred() ? -1 : 0;
}

PyObject *
rs_render_console(PyObject *report, int color)
{
    const rs_palette *p = color ? &rs_colours : &rs_plain;
    PyObject *lines = PyList_New(0);
    PyObject *result = NULL;
    if (lines == NULL) {
        return NULL;
    }
    PyObject *wall = PyDict_GetItemString(report, "wall_ms");
    PyObject *name = PyDict_GetItemString(report, "name");
    PyObject *sql = PyDict_GetItemString(report, "sql");
    if (wall == NULL || name == NULL) {
        PyErr_SetString(PyExc_ValueError, "not a reqscope report");
        goto done;
    }
    PyObject *shown_name = rs_printable(name, 120);
    char wall_text[32];
    snprintf(wall_text, sizeof(wall_text), "%.0f ms", PyFloat_AsDouble(wall));
    if (rs_append_line(lines, shown_name ? PyUnicode_FromFormat("%sreqscope%s %U: %s", p->bold,
                                                                p->reset, shown_name, wall_text)
                                         : NULL) < 0) {
        Py_XDECREF(shown_name);
        goto done;
    }
    Py_DECREF(shown_name);
    if (sql != NULL && sql != Py_None && sql_lines(sql, PyFloat_AsDouble(wall), p, lines) < 0) {
        goto done;
    }
    PyObject *cpu = PyDict_GetItemString(report, "cpu");
    if (cpu != NULL && cpu != Py_None && cpu_lines(cpu, p, lines) < 0) {
        goto done;
    }
    PyObject *memory = PyDict_GetItemString(report, "memory");
    if (memory != NULL && memory != Py_None && rs_console_memory_lines(memory, p, lines) < 0) {
        goto done;
    }
    result = rs_join_lines(lines);
done:
    Py_DECREF(lines);
    return result;
}
