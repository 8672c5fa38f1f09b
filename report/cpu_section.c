/*
 * cpu_section.c: the report's "cpu" section, from the samples the sampler gave a scope.
 *
 * Stacks are kept by frame name (function, file, line of the instruction); this section groups
 * frames by function (function, file, first line): "functions" gives each one's self time
 * (samples where it was the innermost frame) and total time (samples where it was anywhere on
 * the stack, recursion counted once), both weighted by the elapsed time each sample stands
 * for; "frames" and "stacks" keep the sampled stacks root first for the flame-graph renderers;
 * "folded" is the same in the folded format flamegraph.pl and speedscope read, with weights in
 * microseconds. The counters are copied under the sampler's lock first, so no lock is held
 * while Python objects are made.
 */
#include "names.h"
#include "report.h"
#include "sampler.h"

typedef struct {
    PyObject *index;   /* (function, file, first line) -> function number. */
    PyObject *frames;  /* By function number: {function, file, line}. */
    uint64_t *self_ns; /* By function number. */
    uint64_t *total_ns;
    Py_ssize_t capacity;
} function_table;

/* The function number of name id `id`, adding the function when new; -1 on error. */
static Py_ssize_t
function_of(function_table *table, uint32_t id)
{
    const rs_name *name = rs_names_get(id);
    if (name == NULL) {
        name = rs_names_get(RS_NAME_UNKNOWN);
    }
    PyObject *key =
        Py_BuildValue("(NNi)", rs_text(name->function), rs_text(name->file), name->first_line);
    if (key == NULL) {
        return -1;
    }
    Py_ssize_t number = -1;
    PyObject *found = PyDict_GetItemWithError(table->index, key);
    if (found != NULL) {
        number = PyLong_AsSsize_t(found);
    }
    else if (!PyErr_Occurred()) {
        number = PyList_GET_SIZE(table->frames);
        PyObject *frame = Py_BuildValue("{s:O,s:O,s:i}", "function", PyTuple_GET_ITEM(key, 0),
                                        "file", PyTuple_GET_ITEM(key, 1), "line", name->first_line);
        PyObject *value = PyLong_FromSsize_t(number);
        if (frame == NULL || value == NULL || number >= table->capacity ||
            PyList_Append(table->frames, frame) < 0 ||
            PyDict_SetItem(table->index, key, value) < 0) {
            number = -1;
            if (!PyErr_Occurred()) {
                PyErr_NoMemory();
            }
        }
        Py_XDECREF(frame);
        Py_XDECREF(value);
    }
    Py_DECREF(key);
    return number;
}

/* The stack as function numbers, root first, into `out`; adds self and total time. Returns
 * the depth, or -1 on error. */
static int
stack_functions(function_table *table, const rs_cpu_stack *stack, Py_ssize_t *out)
{
    int depth = (int)stack->depth;
    for (int i = 0; i < depth; i++) {
        Py_ssize_t number = function_of(table, stack->names[depth - 1 - i]);
        if (number < 0) {
            return -1;
        }
        out[i] = number;
        int seen = 0; /* Recursion: a function's total counts once per sample. */
        for (int j = 0; j < i && !seen; j++) {
            seen = out[j] == number;
        }
        if (!seen) {
            table->total_ns[number] += stack->wall_ns;
        }
    }
    if (depth > 0) {
        table->self_ns[out[depth - 1]] += stack->wall_ns;
    }
    return depth;
}

/* Appends one folded line ("root;...;leaf microseconds") for a stack. */
static int
append_folded(PyObject *lines, PyObject *frames, const Py_ssize_t *numbers, int depth,
              uint64_t wall_ns)
{
    PyObject *parts = PyList_New(depth);
    if (parts == NULL) {
        return -1;
    }
    for (int i = 0; i < depth; i++) {
        PyObject *frame = PyList_GET_ITEM(frames, numbers[i]);
        PyObject *text = PyUnicode_FromFormat("%S (%S:%S)", PyDict_GetItemString(frame, "function"),
                                              PyDict_GetItemString(frame, "file"),
                                              PyDict_GetItemString(frame, "line"));
        PyObject *clean = text ? PyObject_CallMethod(text, "replace", "ss", ";", ",") : NULL;
        Py_XDECREF(text);
        if (clean == NULL) {
            Py_DECREF(parts);
            return -1;
        }
        PyList_SET_ITEM(parts, i, clean);
    }
    PyObject *separator = PyUnicode_FromString(";");
    PyObject *joined = separator ? PyUnicode_Join(separator, parts) : NULL;
    unsigned long long weight_us = wall_ns / 1000 ? wall_ns / 1000 : 1;
    PyObject *line = joined ? PyUnicode_FromFormat("%U %llu", joined, weight_us) : NULL;
    int status = line ? PyList_Append(lines, line) : -1;
    Py_XDECREF(separator);
    Py_XDECREF(joined);
    Py_XDECREF(line);
    Py_DECREF(parts);
    return status;
}

static PyObject *
stack_entry(const Py_ssize_t *numbers, int depth, const rs_cpu_stack *stack)
{
    PyObject *frames = PyList_New(depth);
    if (frames == NULL) {
        return NULL;
    }
    for (int i = 0; i < depth; i++) {
        PyObject *number = PyLong_FromSsize_t(numbers[i]);
        if (number == NULL) {
            Py_DECREF(frames);
            return NULL;
        }
        PyList_SET_ITEM(frames, i, number);
    }
    return Py_BuildValue("{s:N,s:K,s:d,s:d}", "frames", frames, "samples",
                         (unsigned long long)stack->samples, "wall_ms",
                         (double)stack->wall_ns / 1e6, "cpu_ms", (double)stack->cpu_ns / 1e6);
}

static int
compare_stacks(const void *left, const void *right)
{
    const rs_cpu_stack *a = *(rs_cpu_stack *const *)left, *b = *(rs_cpu_stack *const *)right;
    return (a->wall_ns < b->wall_ns) - (a->wall_ns > b->wall_ns);
}

/* The functions list, by self time then total time, largest first. */
static PyObject *
functions_list(const function_table *table)
{
    Py_ssize_t count = PyList_GET_SIZE(table->frames);
    PyObject *result = PyList_New(0);
    for (Py_ssize_t i = 0; result != NULL && i < count; i++) {
        PyObject *frame = PyList_GET_ITEM(table->frames, i);
        PyObject *item = Py_BuildValue(
            "{s:O,s:O,s:O,s:d,s:d}", "function", PyDict_GetItemString(frame, "function"), "file",
            PyDict_GetItemString(frame, "file"), "line", PyDict_GetItemString(frame, "line"),
            "self_ms", (double)table->self_ns[i] / 1e6, "total_ms",
            (double)table->total_ns[i] / 1e6);
        if (item == NULL || PyList_Append(result, item) < 0) {
            Py_CLEAR(result);
        }
        Py_XDECREF(item);
    }
    if (result == NULL) {
        return NULL;
    }
    if (rs_sort_descending(result, "self_ms", "total_ms") < 0) {
        Py_DECREF(result);
        return NULL;
    }
    return result;
}

static int
put_counters(PyObject *section, PyObject *dropped, const rs_cpu_state *copy)
{
    double span_s = (double)(copy->last_sample_ns - copy->first_sample_ns) / 1e9;
    double rate = span_s > 0 && copy->ticks > 1 ? (double)(copy->ticks - 1) / span_s : 0.0;
    uint64_t off_ns = copy->wall_ns > copy->cpu_ns ? copy->wall_ns - copy->cpu_ns : 0;
    /* Missed: the ticks the interval asked for over the time the ticks stand for, less those
     * made. Not the gaps of two intervals or more: a late tick moves the next deadline, so a
     * sampler that is always a little late has no such gaps and falls short all the same. */
    uint64_t asked = (copy->tick_wall_ns + copy->interval_ns / 2) / copy->interval_ns;
    uint64_t missed = asked > copy->ticks ? asked - copy->ticks : 0;
    if (rs_dict_put(section, "samples", PyLong_FromUnsignedLongLong(copy->samples)) < 0 ||
        rs_dict_put(section, "interval_ms", PyFloat_FromDouble(copy->interval_ns / 1e6)) < 0 ||
        rs_dict_put(section, "rate_hz", PyFloat_FromDouble(rate)) < 0 ||
        rs_dict_put(section, "missed", PyLong_FromUnsignedLongLong(missed)) < 0 ||
        rs_dict_put(section, "sampled_ms", PyFloat_FromDouble(copy->wall_ns / 1e6)) < 0 ||
        rs_dict_put(section, "on_cpu_ms", PyFloat_FromDouble(copy->cpu_ns / 1e6)) < 0 ||
        rs_dict_put(section, "off_cpu_ms", PyFloat_FromDouble(off_ns / 1e6)) < 0 ||
        rs_dict_put(dropped, "cpu_stacks", PyLong_FromUnsignedLongLong(copy->dropped_stacks)) < 0 ||
        rs_dict_put(dropped, "cpu_truncated_stacks",
                    PyLong_FromUnsignedLongLong(copy->truncated_stacks)) < 0 ||
        rs_dict_put(dropped, "cpu_unreadable", PyLong_FromUnsignedLongLong(copy->unreadable)) < 0 ||
        rs_dict_put(dropped, "cpu_names", PyLong_FromUnsignedLongLong(rs_names_dropped())) < 0) {
        return -1;
    }
    return 0;
}

PyObject *
rs_report_cpu(rs_scope *scope, PyObject *dropped)
{
    rs_cpu_state copy;
    rs_cpu_stack **stacks = NULL;
    int count = rs_cpu_state_copy_stacks(scope->cpu, &copy, &stacks);
    PyObject *section = NULL, *folded = NULL, *stack_list = NULL, *functions = NULL;
    function_table table = {PyDict_New(), PyList_New(0), NULL, NULL, 0};
    Py_ssize_t *numbers = (Py_ssize_t *)rs_raw_malloc(sizeof(Py_ssize_t) * RS_STACK_MAX_DEPTH);

    if (count < 0 || numbers == NULL || table.index == NULL || table.frames == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    /* No more functions than frames over all stacks. */
    table.capacity = 1;
    for (int i = 0; i < count; i++) {
        table.capacity += (Py_ssize_t)stacks[i]->depth;
    }
    table.self_ns = (uint64_t *)rs_raw_calloc((size_t)table.capacity, sizeof(uint64_t));
    table.total_ns = (uint64_t *)rs_raw_calloc((size_t)table.capacity, sizeof(uint64_t));
    folded = PyList_New(0);
    stack_list = PyList_New(0);
    if (table.self_ns == NULL || table.total_ns == NULL || folded == NULL || stack_list == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    qsort(stacks, (size_t)count, sizeof(*stacks), compare_stacks);
    for (int i = 0; i < count; i++) {
        int depth = stack_functions(&table, stacks[i], numbers);
        PyObject *entry = depth >= 0 ? stack_entry(numbers, depth, stacks[i]) : NULL;
        int failed = entry == NULL || PyList_Append(stack_list, entry) < 0 ||
                     append_folded(folded, table.frames, numbers, depth, stacks[i]->wall_ns) < 0;
        Py_XDECREF(entry);
        if (failed) {
            goto done;
        }
    }
    functions = functions_list(&table);
    PyObject *newline = PyUnicode_FromString("\n");
    PyObject *folded_text = newline ? PyUnicode_Join(newline, folded) : NULL;
    Py_XDECREF(newline);
    section = PyDict_New();
    if (functions == NULL || folded_text == NULL || section == NULL ||
        put_counters(section, dropped, &copy) < 0 ||
        PyDict_SetItemString(section, "functions", functions) < 0 ||
        PyDict_SetItemString(section, "frames", table.frames) < 0 ||
        PyDict_SetItemString(section, "stacks", stack_list) < 0 ||
        rs_dict_put(section, "folded", folded_text) < 0) {
        Py_CLEAR(section);
    }
done:
    for (int i = 0; i < count; i++) {
        rs_raw_free(stacks[i]);
    }
    rs_raw_free(stacks);
    rs_raw_free(numbers);
    rs_raw_free(table.self_ns);
    rs_raw_free(table.total_ns);
    Py_XDECREF(table.index);
    Py_XDECREF(table.frames);
    Py_XDECREF(folded);
    Py_XDECREF(stack_list);
    Py_XDECREF(functions);
    return section;
}
