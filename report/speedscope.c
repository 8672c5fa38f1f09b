/*
 * speedscope.c: the speedscope file format (https://www.speedscope.app/file-format-schema.json)
 * of a report: one "sampled" profile of the CPU section's stacks, weighted in milliseconds of
 * elapsed time, sharing one frame table. Built as a dict; the Python layer serializes it.
 */
#include "report.h"

#define SPEEDSCOPE_SCHEMA "https://www.speedscope.app/file-format-schema.json"

PyObject *
rs_render_speedscope(PyObject *report)
{
    PyObject *cpu = PyDict_GetItemString(report, "cpu");
    PyObject *name = PyDict_GetItemString(report, "name");
    PyObject *frames = cpu ? PyDict_GetItemString(cpu, "frames") : NULL;
    PyObject *stacks = cpu ? PyDict_GetItemString(cpu, "stacks") : NULL;
    if (name == NULL || frames == NULL || stacks == NULL || !PyList_Check(frames) ||
        !PyList_Check(stacks)) {
        PyErr_SetString(PyExc_ValueError, "the report has no CPU section");
        return NULL;
    }
    PyObject *shared_frames = PyList_New(0);
    PyObject *samples = PyList_New(0);
    PyObject *weights = PyList_New(0);
    PyObject *result = NULL;
    double total_ms = 0.0;
    if (shared_frames == NULL || samples == NULL || weights == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(frames); i++) {
        PyObject *frame = PyList_GET_ITEM(frames, i);
        PyObject *item = Py_BuildValue(
            "{s:O,s:O,s:O}", "name", PyDict_GetItemString(frame, "function"), "file",
            PyDict_GetItemString(frame, "file"), "line", PyDict_GetItemString(frame, "line"));
        if (item == NULL || PyList_Append(shared_frames, item) < 0) {
            Py_XDECREF(item);
            goto done;
        }
        Py_DECREF(item);
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(stacks); i++) {
        PyObject *stack = PyList_GET_ITEM(stacks, i);
        PyObject *weight = PyDict_GetItemString(stack, "wall_ms");
        PyObject *stack_frames = PyDict_GetItemString(stack, "frames");
        if (weight == NULL || stack_frames == NULL || PyList_Append(samples, stack_frames) < 0 ||
            PyList_Append(weights, weight) < 0) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_ValueError, "malformed CPU stack in report");
            }
            goto done;
        }
        total_ms += PyFloat_AsDouble(weight);
    }
    result = Py_BuildValue("{s:s,s:{s:O},s:[{s:s,s:O,s:s,s:d,s:d,s:O,s:O}],s:O,s:i,s:s}", "$schema",
                           SPEEDSCOPE_SCHEMA, "shared", "frames", shared_frames, "profiles", "type",
                           "sampled", "name", name, "unit", "milliseconds", "startValue", 0.0,
                           "endValue", total_ms, "samples", samples, "weights", weights, "name",
                           name, "activeProfileIndex", 0, "exporter", "reqscope");
done:
    Py_XDECREF(shared_frames);
    Py_XDECREF(samples);
    Py_XDECREF(weights);
    return result;
}
