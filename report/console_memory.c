/*
 * console_memory.c: the memory lines of the console report, and the growth view.
 *
 *   [MEM] +1.9 MiB net, 2.4 MiB allocated, 0.5 MiB freed, peak 2.0 MiB (1 in 512.0 KiB, 9 ...)
 *     net    1.9 MiB  alloc    2.0 MiB  app/views.py:42 in build_index
 *
 * Sites: the five that allocated most, then up to five more that kept most.
 *
 *   [MEM growth] 1 site grows across requests
 *     +10.0 KiB/request  confidence 0.99  app/views.py:12 in leak  [/leak/, requests 21-200]
 *
 * Sizes are estimates from byte sampling (exact at rate 1), printed in binary units. Names and
 * paths are printed through rs_printable, like every report text.
 */
#include "console.h"

#define CONSOLE_TOP_SITES 5

/* "512 B", "10.0 KiB", "1.9 MiB", "3.2 GiB". */
static void
format_bytes(double bytes, char *out, size_t size)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int unit = 0;
    while (bytes >= 1024.0 && unit < 4) {
        bytes /= 1024.0;
        unit++;
    }
    snprintf(out, size, unit == 0 ? "%.0f %s" : "%.1f %s", bytes, units[unit]);
}

/* "  <head>path:line in function<tail>" for an entry with file, line and function keys. */
static PyObject *
site_line(PyObject *entry, const char *head, PyObject *tail, const rs_palette *p)
{
    PyObject *file = PyDict_GetItemString(entry, "file");
    PyObject *function = PyDict_GetItemString(entry, "function");
    PyObject *line = PyDict_GetItemString(entry, "line");
    if (file == NULL || function == NULL || line == NULL) {
        PyErr_SetString(PyExc_ValueError, "malformed memory site");
        return NULL;
    }
    PyObject *path = rs_short_path(file);
    PyObject *name = rs_printable(function, 80);
    PyObject *text = path && name ? PyUnicode_FromFormat("  %s%s%U:%S%s in %U%U", head, p->bold,
                                                         path, line, p->reset, name, tail)
                                  : NULL;
    Py_XDECREF(path);
    Py_XDECREF(name);
    return text;
}

static double
number(PyObject *dict, const char *key)
{
    PyObject *value = PyDict_GetItemString(dict, key);
    return value != NULL ? PyFloat_AsDouble(value) : 0.0;
}

/* "  net ...  alloc ...  file:line in function" for one site. */
static int
append_site(PyObject *lines, PyObject *site, const rs_palette *p)
{
    char net[32], allocated[32], head[96];
    format_bytes(number(site, "net_bytes"), net, sizeof(net));
    format_bytes(number(site, "allocated_bytes"), allocated, sizeof(allocated));
    snprintf(head, sizeof(head), "net %10s  alloc %10s  ", net, allocated);
    PyObject *empty = PyUnicode_FromString("");
    int status = empty ? rs_append_line(lines, site_line(site, head, empty, p)) : -1;
    Py_XDECREF(empty);
    return status;
}

int
rs_console_memory_lines(PyObject *memory, const rs_palette *p, PyObject *lines)
{
    char net[32], allocated[32], freed[32], peak[32], rate[48];
    format_bytes(number(memory, "net_bytes"), net, sizeof(net));
    format_bytes(number(memory, "allocated_bytes"), allocated, sizeof(allocated));
    format_bytes(number(memory, "freed_bytes"), freed, sizeof(freed));
    format_bytes(number(memory, "peak_bytes"), peak, sizeof(peak));
    double sample_rate = number(memory, "sample_rate");
    if (sample_rate <= 1) {
        snprintf(rate, sizeof(rate), "exact");
    }
    else {
        char every[32];
        format_bytes(sample_rate, every, sizeof(every));
        snprintf(rate, sizeof(rate), "1 in %s", every);
    }
    PyObject *removed = PyDict_GetItemString(memory, "hooks_removed");
    char summary[320];
    snprintf(
        summary, sizeof(summary),
        "%s[MEM]%s +%s net, %s allocated, %s freed, peak %s (%s, %.0f samples)%s", p->bold,
        p->reset, net, allocated, freed, peak, rate, number(memory, "samples"),
        removed == Py_True ? "; incomplete: another tool took reqscope's allocator hooks out" : "");
    if (PyErr_Occurred() || rs_append_line(lines, PyUnicode_FromString(summary)) < 0) {
        return -1;
    }
    PyObject *sites = PyDict_GetItemString(memory, "sites");
    if (sites == NULL || !PyList_Check(sites)) {
        return 0;
    }
    /* The sites come largest allocation first: those first, then the ones that kept most and
     * are not shown yet, by a selection over the list. */
    Py_ssize_t count = PyList_GET_SIZE(sites);
    Py_ssize_t by_allocation = count < CONSOLE_TOP_SITES ? count : CONSOLE_TOP_SITES;
    for (Py_ssize_t i = 0; i < by_allocation; i++) {
        if (append_site(lines, PyList_GET_ITEM(sites, i), p) < 0) {
            return -1;
        }
    }
    double last_net = -1.0;
    for (int kept = 0; kept < CONSOLE_TOP_SITES; kept++) {
        Py_ssize_t best = -1;
        double best_net = 0.0;
        for (Py_ssize_t i = by_allocation; i < count; i++) {
            double net = number(PyList_GET_ITEM(sites, i), "net_bytes");
            if (net > best_net && (last_net < 0 || net < last_net)) {
                best = i, best_net = net;
            }
        }
        if (best < 0 || append_site(lines, PyList_GET_ITEM(sites, best), p) < 0) {
            return best < 0 && !PyErr_Occurred() ? 0 : -1;
        }
        last_net = best_net;
    }
    return PyErr_Occurred() ? -1 : 0;
}

/* The growth line of one site. */
static PyObject *
growth_line(PyObject *site, const rs_palette *p)
{
    char per_request[32], head[96];
    format_bytes(number(site, "bytes_per_request"), per_request, sizeof(per_request));
    snprintf(head, sizeof(head), "%s+%s/request%s  confidence %.2f  ", p->red, per_request,
             p->reset, number(site, "confidence"));
    PyObject *route = PyDict_GetItemString(site, "route");
    PyObject *first = PyDict_GetItemString(site, "first_request");
    PyObject *last = PyDict_GetItemString(site, "last_request");
    if (route == NULL || first == NULL || last == NULL || PyErr_Occurred()) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "malformed growth site");
        }
        return NULL;
    }
    PyObject *name = rs_printable(route, 80);
    PyObject *tail = name ? PyUnicode_FromFormat("  %s[%U, requests %S-%S]%s", p->dim, name, first,
                                                 last, p->reset)
                          : NULL;
    PyObject *line = tail ? site_line(site, head, tail, p) : NULL;
    Py_XDECREF(name);
    Py_XDECREF(tail);
    return line;
}

PyObject *
rs_render_growth(PyObject *sites, int color)
{
    const rs_palette *p = color ? &rs_colours : &rs_plain;
    if (!PyList_Check(sites)) {
        PyErr_SetString(PyExc_TypeError, "render_growth(sites: list, color: bool)");
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(sites);
    PyObject *lines = PyList_New(0);
    PyObject *result = NULL;
    if (lines == NULL) {
        return NULL;
    }
    PyObject *summary =
        count == 0
            ? PyUnicode_FromFormat("%s[MEM growth]%s nothing grows across requests", p->bold,
                                   p->reset)
            : PyUnicode_FromFormat("%s[MEM growth]%s %zd site%s grow%s across requests", p->bold,
                                   p->reset, count, count == 1 ? "" : "s", count == 1 ? "s" : "");
    if (rs_append_line(lines, summary) < 0) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *site = PyList_GET_ITEM(sites, i);
        if (!PyDict_Check(site)) {
            PyErr_SetString(PyExc_TypeError, "render_growth: sites must be dicts");
            goto done;
        }
        if (rs_append_line(lines, growth_line(site, p)) < 0) {
            goto done;
        }
    }
    result = rs_join_lines(lines);
done:
    Py_DECREF(lines);
    return result;
}
