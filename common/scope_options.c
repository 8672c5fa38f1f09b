/*
 * scope_options.c: the ScopeOptions type, a checked and immutable set of a scope's options.
 *
 * A server opens a scope per request, usually with the same settings every time. Parsing and
 * checking sixteen keyword arguments at each entry cost a microsecond of the request's time
 * (more with cold caches, after the request's own code), so they are checked once: the Python
 * layer makes one ScopeOptions per distinct settings and every Scope copies its struct.
 */
#include "reqscope.h"

#include "sampler.h"
#include "callsite.h"

typedef struct {
    PyObject_HEAD
    rs_scope_options options; /* Its tuples are owned here; a Scope takes its own references. */
} rs_scope_options_object;

/* Whether `tuple` is NULL or holds only str. */
static int
all_str(PyObject *tuple)
{
    for (Py_ssize_t i = 0; tuple != NULL && i < PyTuple_GET_SIZE(tuple); i++) {
        if (!PyUnicode_Check(PyTuple_GET_ITEM(tuple, i))) {
            return 0;
        }
    }
    return 1;
}

/* Range checks of the values that the argument parser cannot check; -1 with ValueError. */
static int
check_ranges(const rs_scope_options *options)
{
    if (!(options->interval * 1e9 >= RS_SAMPLER_MIN_INTERVAL_NS - 1) ||
        !(options->interval * 1e9 <= RS_SAMPLER_MAX_INTERVAL_NS + 1)) {
        PyObject *interval = PyFloat_FromDouble(options->interval); /* No %g in PyErr_Format. */
        if (interval != NULL) {
            PyErr_Format(PyExc_ValueError, "interval must be within 0.0001 and 0.1 seconds, not %R",
                         interval);
            Py_DECREF(interval);
        }
        return -1;
    }
    if (options->memory_rate < 1 || options->memory_nframes < 1 ||
        options->memory_nframes > RS_CALLSITE_MAX_DEPTH) {
        PyErr_Format(PyExc_ValueError,
                     "memory_rate must be >= 1 and memory_nframes within 1 and %d",
                     RS_CALLSITE_MAX_DEPTH);
        return -1;
    }
    if (options->slow_ms < 0 || options->slow_min_ms < 0 || options->slow_share < 0 ||
        options->slow_share > 1 || options->n_plus_one_min < 2) {
        PyErr_SetString(PyExc_ValueError,
                        "slow_ms and slow_min_ms must be >= 0, slow_share "
                        "within [0, 1], n_plus_one_min >= 2");
        return -1;
    }
    return 0;
}

static PyObject *
options_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"memory",          "memory_rate",   "memory_nframes", "cpu",
                               "interval",        "sql",           "show_params",    "explain",
                               "explain_analyze", "slow_ms",       "slow_share",     "slow_min_ms",
                               "n_plus_one_min",  "exclude_paths", "own_paths",      NULL};
    PyObject *exclude_paths = NULL, *own_paths = NULL;
    rs_scope_options options = {0, 512 * 1024, 32,  0,    0.001, 1,    0,   1,
                                0, 100.0,      0.2, 10.0, 3,     NULL, NULL};
    if (!PyArg_ParseTupleAndKeywords(
            args, kwargs, "|$plipdppppdddlO!O!", keywords, &options.memory, &options.memory_rate,
            &options.memory_nframes, &options.cpu, &options.interval, &options.sql,
            &options.show_params, &options.explain, &options.explain_analyze, &options.slow_ms,
            &options.slow_share, &options.slow_min_ms, &options.n_plus_one_min, &PyTuple_Type,
            &exclude_paths, &PyTuple_Type, &own_paths)) {
        return NULL;
    }
    if (!all_str(exclude_paths) || !all_str(own_paths)) {
        PyErr_SetString(PyExc_TypeError, "exclude_paths and own_paths must be tuples of str");
        return NULL;
    }
    if (check_ranges(&options) < 0) {
        return NULL;
    }
    rs_scope_options_object *self = (rs_scope_options_object *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    options.exclude_paths = exclude_paths ? Py_NewRef(exclude_paths) : PyTuple_New(0);
    options.own_paths = own_paths ? Py_NewRef(own_paths) : PyTuple_New(0);
    self->options = options;
    if (options.exclude_paths == NULL || options.own_paths == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static void
options_dealloc(rs_scope_options_object *self)
{
    Py_CLEAR(self->options.exclude_paths);
    Py_CLEAR(self->options.own_paths);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* clang-format off */
PyTypeObject rs_ScopeOptionsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "reqscope._core.ScopeOptions",
    .tp_basicsize = sizeof(rs_scope_options_object),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "ScopeOptions(**options): a scope's options, checked once; give it to Scope().",
    .tp_new = options_new,
    .tp_dealloc = (destructor)options_dealloc,
};
/* clang-format on */

int
rs_scope_options_copy(PyObject *source, rs_scope_options *options)
{
    if (!PyObject_TypeCheck(source, &rs_ScopeOptionsType)) {
        PyErr_Format(PyExc_TypeError, "Scope options must be a ScopeOptions, not %.100s",
                     Py_TYPE(source)->tp_name);
        return -1;
    }
    *options = ((rs_scope_options_object *)source)->options;
    Py_INCREF(options->exclude_paths);
    Py_INCREF(options->own_paths);
    return 0;
}
