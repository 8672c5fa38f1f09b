/*
 * speedscope.c: the speedscope file format (https://www.speedscope.app/file-format-schema.json)
 * of a report, built as a dict (the Python layer serializes it), with one "sampled" profile per
 * view, all sharing one frame table:
 *   - "CPU": the CPU section's stacks, weighted in milliseconds of elapsed time;
 *   - "allocated" and "retained": the memory section's allocation stacks, weighted in bytes
 *     allocated during the scope, and still alive at its end.
 * A report needs a CPU or a memory section; the profiles of the sections it has are present.
 */
#include "report.h"

#define SPEEDSCOPE_SCHEMA "https://www.speedscope.app/file-format-schema.json"

/* Appends the section's frames to `shared` as speedscope frames. */
static int
add_frames(PyObject *shared, PyObject *frames)
{
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(frames); i++) {
        PyObject *frame = PyList_GET_ITEM(frames, i);
        PyObject *item = Py_BuildValue(
            "{s:O,s:O,s:O}", "name", PyDict_GetItemString(frame, "function"), "file",
            PyDict_GetItemString(frame, "file"), "line", PyDict_GetItemString(frame, "line"));
        if (item == NULL || PyList_Append(shared, item) < 0) {
            Py_XDECREF(item);
            return -1;
        }
        Py_DECREF(item);
    }
    return 0;
}

/* A sampled profile of `stacks` weighted by each stack's `weight_key`, its frame numbers moved
 * by `offset` into the shared table. */
static PyObject *
profile_of(PyObject *name, PyObject *stacks, const char *weight_key, const char *unit,
           Py_ssize_t offset)
{
    PyObject *samples = PyList_New(0);
    PyObject *weights = PyList_New(0);
    PyObject *result = NULL;
    double total = 0.0;
    if (samples == NULL || weights == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(stacks); i++) {
        PyObject *stack = PyList_GET_ITEM(stacks, i);
        PyObject *weight = PyDict_GetItemString(stack, weight_key);
        PyObject *frames = PyDict_GetItemString(stack, "frames");
        if (weight == NULL || frames == NULL || !PyList_Check(frames)) {
            PyErr_SetString(PyExc_ValueError, "malformed stack in report");
            goto done;
        }
        double value = PyFloat_AsDouble(weight);
        if (value <= 0.0) {
            continue;
        }
        PyObject *moved = PyList_New(PyList_GET_SIZE(frames));
        for (Py_ssize_t j = 0; moved != NULL && j < PyList_GET_SIZE(frames); j++) {
            PyObject *number =
                PyLong_FromSsize_t(PyLong_AsSsize_t(PyList_GET_ITEM(frames, j)) + offset);
            if (number == NULL) {
                Py_CLEAR(moved);
                break;
            }
            PyList_SET_ITEM(moved, j, number);
        }
        if (moved == NULL || PyList_Append(samples, moved) < 0 ||
            PyList_Append(weights, weight) < 0) {
            Py_XDECREF(moved);
            goto done;
        }
        Py_DECREF(moved);
        total += value;
    }
    if (!PyErr_Occurred()) {
        result = Py_BuildValue("{s:s,s:O,s:s,s:d,s:d,s:O,s:O}", "type", "sampled", "name", name,
                               "unit", unit, "startValue", 0.0, "endValue", total, "samples",
                               samples, "weights", weights);
    }
done:
    Py_XDECREF(samples);
    Py_XDECREF(weights);
    return result;
}

/* Adds the section's frames and one profile per (weight, unit, label) to the document. */
static int
add_section(PyObject *section, PyObject *name, const char *const (*views)[3], int view_count,
            PyObject *shared, PyObject *profiles)
{
    PyObject *frames = PyDict_GetItemString(section, "frames");
    PyObject *stacks = PyDict_GetItemString(section, "stacks");
    if (frames == NULL || stacks == NULL || !PyList_Check(frames) || !PyList_Check(stacks)) {
        PyErr_SetString(PyExc_ValueError, "malformed report section: no frames or stacks");
        return -1;
    }
    Py_ssize_t offset = PyList_GET_SIZE(shared);
    if (add_frames(shared, frames) < 0) {
        return -1;
    }
    for (int i = 0; i < view_count; i++) {
        PyObject *label = PyUnicode_FromFormat("%U (%s)", name, views[i][2]);
        PyObject *profile =
            label ? profile_of(label, stacks, views[i][0], views[i][1], offset) : NULL;
        Py_XDECREF(label);
        if (profile == NULL || PyList_Append(profiles, profile) < 0) {
            Py_XDECREF(profile);
            return -1;
        }
        Py_DECREF(profile);
    }
    return 0;
}

PyObject *
rs_render_speedscope(PyObject *report)
{
    static const char *const cpu_views[][3] = {{"wall_ms", "milliseconds", "CPU"}};
    static const char *const memory_views[][3] = {{"allocated_bytes", "bytes", "allocated"},
                                                  {"net_bytes", "bytes", "retained"}};
    PyObject *name = PyDict_GetItemString(report, "name");
    PyObject *cpu = PyDict_GetItemString(report, "cpu");
    PyObject *memory = PyDict_GetItemString(report, "memory");
    if (name == NULL || !PyUnicode_Check(name) || (cpu == NULL && memory == NULL)) {
        PyErr_SetString(PyExc_ValueError, "the report has no CPU or memory section");
        return NULL;
    }
    PyObject *shared = PyList_New(0);
    PyObject *profiles = PyList_New(0);
    PyObject *result = NULL;
    if (shared == NULL || profiles == NULL ||
        (cpu != NULL && add_section(cpu, name, cpu_views, 1, shared, profiles) < 0) ||
        (memory != NULL && add_section(memory, name, memory_views, 2, shared, profiles) < 0)) {
        goto done;
    }
    result = Py_BuildValue("{s:s,s:{s:O},s:O,s:O,s:i,s:s}", "$schema", SPEEDSCOPE_SCHEMA, "shared",
                           "frames", shared, "profiles", profiles, "name", name,
                           "activeProfileIndex", 0, "exporter", "reqscope");
done:
    Py_XDECREF(shared);
    Py_XDECREF(profiles);
    return result;
}
