/*
 * memory_section.c: the report's "memory" section, from a scope's allocation samples.
 *
 * Totals are estimates in bytes (each sample weighted by 1/p, exact at rate 1): allocated and
 * freed during the scope, net (allocated during the scope and still alive when it ended, or
 * now while it runs; the counts freeze at the end), and the peak of that. Sites group samples
 * by the line that allocated (the innermost frame, past reqscope's own), largest allocation
 * first; "frames" and
 * "stacks" keep each distinct allocation stack, root first, for speedscope.
 */
#include "memory.h"
#include "report.h"

/* The number of (file, line, function) in `frames`, added on first use through `numbers`
 * ({key: number}). -1 with an exception set on error. */
static Py_ssize_t
frame_number(PyObject *numbers, PyObject *frames, const rs_frame_ref *ref)
{
    PyCodeObject *code = ref->code;
    PyObject *key = Py_BuildValue("(OiO)", code->co_filename,
                                  PyCode_Addr2Line(code, ref->instruction), code->co_qualname);
    if (key == NULL) {
        return -1;
    }
    PyObject *known = PyDict_GetItemWithError(numbers, key);
    Py_ssize_t number = known ? PyLong_AsSsize_t(known) : -1;
    if (known == NULL && !PyErr_Occurred()) {
        number = PyList_GET_SIZE(frames);
        PyObject *frame =
            Py_BuildValue("{s:O,s:O,s:O}", "function", PyTuple_GET_ITEM(key, 2), "file",
                          PyTuple_GET_ITEM(key, 0), "line", PyTuple_GET_ITEM(key, 1));
        PyObject *value = frame ? PyLong_FromSsize_t(number) : NULL;
        if (value == NULL || PyList_Append(frames, frame) < 0 ||
            PyDict_SetItem(numbers, key, value) < 0) {
            number = -1;
        }
        Py_XDECREF(value);
        Py_XDECREF(frame);
    }
    Py_DECREF(key);
    return PyErr_Occurred() ? -1 : number;
}

/* The "frames" and "stacks" of the memory section: each distinct allocation stack root first,
 * as numbers into frames (by line), with its bytes: for speedscope's allocation profile. */
static int
add_stacks(const rs_mem_state *state, PyObject *section)
{
    PyObject *numbers = PyDict_New();
    PyObject *frames = PyList_New(0);
    PyObject *stacks = PyList_New(0);
    int status = -1;
    if (numbers == NULL || frames == NULL || stacks == NULL) {
        goto done;
    }
    rs_mem_site *site, *next;
    HASH_ITER(hh, state->sites, site, next) {
        PyObject *path = PyList_New(site->depth);
        for (int i = 0; path != NULL && i < site->depth; i++) {
            Py_ssize_t number = frame_number(numbers, frames, &site->frames[site->depth - 1 - i]);
            PyObject *value = number >= 0 ? PyLong_FromSsize_t(number) : NULL;
            if (value == NULL) {
                Py_CLEAR(path);
                break;
            }
            PyList_SET_ITEM(path, i, value);
        }
        PyObject *stack =
            path ? Py_BuildValue("{s:N,s:K,s:K,s:K}", "frames", path, "allocated_bytes",
                                 (unsigned long long)site->allocated_bytes, "net_bytes",
                                 (unsigned long long)(site->allocated_bytes - site->freed_bytes),
                                 "count", (unsigned long long)site->count)
                 : NULL;
        if (stack == NULL || PyList_Append(stacks, stack) < 0) {
            Py_XDECREF(stack);
            goto done;
        }
        Py_DECREF(stack);
    }
    status = PyDict_SetItemString(section, "frames", frames) < 0 ||
                     PyDict_SetItemString(section, "stacks", stacks) < 0
                 ? -1
                 : 0;
done:
    Py_XDECREF(numbers);
    Py_XDECREF(frames);
    Py_XDECREF(stacks);
    return status;
}

/* The innermost frame of `site` outside reqscope's own package (`own_paths`, a tuple of str
 * or NULL): what profile() itself allocates inside a scope is the caller's line, as in SQL
 * call sites. The innermost frame when every one is reqscope's. */
static int
innermost_outside(const rs_mem_site *site, PyObject *own_paths)
{
    for (int i = 0; own_paths != NULL && i < site->depth; i++) {
        PyObject *file = site->frames[i].code->co_filename;
        int own = 0;
        for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(own_paths) && !own; k++) {
            own = PyUnicode_Tailmatch(file, PyTuple_GET_ITEM(own_paths, k), 0, PY_SSIZE_T_MAX,
                                      -1) == 1;
        }
        if (!own) {
            return i;
        }
    }
    return 0;
}

/* {(file, line, function): [allocated, net, count]} of the sites, as the report's list. */
static PyObject *
site_list(const rs_mem_state *state, PyObject *own_paths)
{
    PyObject *totals = PyDict_New();
    PyObject *result = NULL;
    if (totals == NULL) {
        return NULL;
    }
    rs_mem_site *site, *next;
    HASH_ITER(hh, state->sites, site, next) {
        PyObject *key;
        if (site->depth > 0) {
            const rs_frame_ref *frame = &site->frames[innermost_outside(site, own_paths)];
            PyCodeObject *code = frame->code;
            key = Py_BuildValue("(OiO)", code->co_filename,
                                PyCode_Addr2Line(code, frame->instruction), code->co_qualname);
        }
        else {
            key = Py_BuildValue("(sis)", "<unknown>", 0, "<unknown>");
        }
        uint64_t net = site->allocated_bytes - site->freed_bytes;
        PyObject *entry = key ? PyDict_GetItemWithError(totals, key) : NULL;
        if (key == NULL || PyErr_Occurred()) {
            Py_XDECREF(key);
            goto done;
        }
        unsigned long long sums[3] = {site->allocated_bytes, net, site->count};
        if (entry != NULL) {
            for (int i = 0; i < 3; i++) {
                sums[i] += PyLong_AsUnsignedLongLong(PyList_GET_ITEM(entry, i));
            }
        }
        PyObject *value = Py_BuildValue("[KKK]", sums[0], sums[1], sums[2]);
        if (value == NULL || PyDict_SetItem(totals, key, value) < 0) {
            Py_XDECREF(value);
            Py_DECREF(key);
            goto done;
        }
        Py_DECREF(value);
        Py_DECREF(key);
    }
    result = PyList_New(0);
    Py_ssize_t position = 0;
    PyObject *key, *sums;
    while (result != NULL && PyDict_Next(totals, &position, &key, &sums)) {
        PyObject *item =
            Py_BuildValue("{s:O,s:O,s:O,s:O,s:O,s:O}", "function", PyTuple_GET_ITEM(key, 2), "file",
                          PyTuple_GET_ITEM(key, 0), "line", PyTuple_GET_ITEM(key, 1),
                          "allocated_bytes", PyList_GET_ITEM(sums, 0), "net_bytes",
                          PyList_GET_ITEM(sums, 1), "count", PyList_GET_ITEM(sums, 2));
        if (item == NULL || PyList_Append(result, item) < 0) {
            Py_CLEAR(result);
        }
        Py_XDECREF(item);
    }
done:
    Py_DECREF(totals);
    return result;
}

PyObject *
rs_report_memory(rs_scope *scope, PyObject *dropped)
{
    const rs_mem_state *state = scope->memory;
    uint64_t net = state->allocated_bytes - state->freed_bytes;
    PyObject *sites = site_list(state, scope->options.own_paths);
    if (sites == NULL) {
        return NULL;
    }
    if (rs_sort_descending(sites, "allocated_bytes", NULL) < 0) {
        Py_DECREF(sites);
        return NULL;
    }
    if (rs_dict_put(dropped, "memory_sites", PyLong_FromUnsignedLongLong(state->dropped_sites)) <
            0 ||
        rs_dict_put(dropped, "memory_live", PyLong_FromUnsignedLongLong(state->dropped_live)) < 0) {
        Py_DECREF(sites);
        return NULL;
    }
    PyObject *section = Py_BuildValue(
        "{s:K,s:K,s:K,s:K,s:K,s:K,s:O,s:N}", "sample_rate", (unsigned long long)state->rate,
        "allocated_bytes", (unsigned long long)state->allocated_bytes, "freed_bytes",
        (unsigned long long)state->freed_bytes, "net_bytes", (unsigned long long)net, "peak_bytes",
        (unsigned long long)state->peak_bytes, "samples", (unsigned long long)state->samples,
        "hooks_removed", state->hooks_removed ? Py_True : Py_False, "sites", sites);
    if (section != NULL && add_stacks(state, section) < 0) {
        Py_CLEAR(section);
    }
    return section;
}
