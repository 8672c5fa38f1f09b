/*
 * scope.c: the Scope type, one profiled unit of work.
 *
 * Entering a scope makes it current twice over: in the ContextVar (what asyncio tasks and the
 * SQL hooks read) and in a C thread-local (what native threads such as the sampler read).
 * Exiting restores both. The enclosing scope at entry becomes the parent, and events are
 * recorded in a scope and every active ancestor, so an outer request scope sees what an inner
 * block scope saw. The report is built once, in C, after exit; the tables are then released.
 *
 * The thread-local owns a reference to the scope it points at, so a scope that is dropped
 * without exiting can never leave a dangling pointer behind: it is kept until its thread exits
 * it (a scope exited on another thread, or out of order, stays referenced by its thread).
 */
#include "reqscope.h"

#include "clock.h"
#include "queries.h"
#include "memory.h"
#include "report.h"
#include "sampler.h"

atomic_long rs_active_scopes;
PyObject *rs_scope_var;
__thread rs_scope *rs_thread_scope;

/* The next scope id. Protected by the GIL. */
static uint64_t next_scope_id = 1;

rs_scope *
rs_scope_current(void)
{
    PyObject *value = NULL;
    if (rs_scope_var == NULL || PyContextVar_Get(rs_scope_var, NULL, &value) < 0) {
        PyErr_Clear();
        return NULL;
    }
    if (value != NULL && Py_TYPE(value) != &rs_ScopeType) {
        Py_DECREF(value);
        return NULL;
    }
    /* A scope exited in another context leaves its value here: skip to an active ancestor. */
    rs_scope *scope = (rs_scope *)value;
    while (scope != NULL && scope->state != RS_SCOPE_ACTIVE) {
        rs_scope *parent = (rs_scope *)Py_XNewRef(scope->parent);
        Py_DECREF(scope);
        scope = parent;
    }
    return scope;
}

double
rs_scope_wall_ms(const rs_scope *scope)
{
    uint64_t end = scope->state == RS_SCOPE_DONE ? scope->end_ns : rs_now_ns();
    return scope->start_ns ? (double)(end - scope->start_ns) / 1e6 : 0.0;
}

/* Removes `self` from the calling thread's chain of entered scopes (the thread-local, then
 * each scope's thread_previous), wherever it is: scopes may exit out of order (interleaved
 * asyncio requests). Each link owns a reference to the scope it points at. A scope exited on
 * another thread is not in this thread's chain; its own thread prunes it later. */
static void
unlink_from_thread_chain(rs_scope *self)
{
    rs_scope **link = &rs_thread_scope;
    while (*link != NULL && *link != self) {
        link = &(*link)->thread_previous;
    }
    if (*link == self) {
        *link = self->thread_previous; /* The reference self held moves to the link. */
        self->thread_previous = NULL;
        Py_DECREF(self); /* The link's; the caller still holds one. */
    }
}

/* Drops the exited scopes from the calling thread's chain (those exited on other threads). */
static void
prune_thread_chain(void)
{
    rs_scope **link = &rs_thread_scope;
    while (*link != NULL) {
        rs_scope *scope = *link;
        if (scope->state == RS_SCOPE_ACTIVE) {
            link = &scope->thread_previous;
            continue;
        }
        *link = scope->thread_previous;
        scope->thread_previous = NULL;
        Py_DECREF(scope);
    }
}

/* Scopes entered and not yet exited, newest first. Protected by the GIL. */
static rs_scope *active_scopes;

static void
link_active(rs_scope *self)
{
    self->active_previous = NULL;
    self->active_next = active_scopes;
    if (active_scopes != NULL) {
        active_scopes->active_previous = self;
    }
    active_scopes = self;
}

static void
unlink_active(rs_scope *self)
{
    if (self->active_previous != NULL) {
        self->active_previous->active_next = self->active_next;
    }
    else if (active_scopes == self) {
        active_scopes = self->active_next;
    }
    if (self->active_next != NULL) {
        self->active_next->active_previous = self->active_previous;
    }
    self->active_previous = self->active_next = NULL;
}

/* A new scope's name, options and id: Scope.__init__'s work, once. `options` is a
 * ScopeOptions, or None for the defaults. */
static int
scope_setup(rs_scope *self, PyObject *name, PyObject *options)
{
    if (self->state != RS_SCOPE_NEW || self->name != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Scope.__init__ called twice");
        return -1;
    }
    if (name != Py_None && !PyUnicode_Check(name)) {
        PyErr_SetString(PyExc_TypeError, "Scope name must be a str or None");
        return -1;
    }
    PyObject *defaults = NULL;
    if (options == Py_None) {
        options = defaults = PyObject_CallNoArgs((PyObject *)&rs_ScopeOptionsType);
        if (options == NULL) {
            return -1;
        }
    }
    int copied = rs_scope_options_copy(options, &self->options);
    Py_XDECREF(defaults);
    if (copied < 0) {
        return -1;
    }
    self->name = name == Py_None ? PyUnicode_FromString("scope") : Py_NewRef(name);
    if (self->name == NULL) {
        return -1;
    }
    self->request = Py_NewRef(Py_None);
    self->id = next_scope_id++;
    return 0;
}

/* Scope(name=None, options=None). */
static int
scope_init(rs_scope *self, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"name", "options", NULL};
    PyObject *name = Py_None, *options = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OO", keywords, &name, &options)) {
        return -1;
    }
    return scope_setup(self, name, options);
}

rs_scope *
rs_scope_new(PyObject *name, PyObject *options)
{
    rs_scope *self = (rs_scope *)rs_ScopeType.tp_alloc(&rs_ScopeType, 0);
    if (self != NULL && scope_setup(self, name, options) < 0) {
        Py_CLEAR(self);
    }
    return self;
}

int
rs_scope_enter(rs_scope *self, PyObject *coroutine)
{
    if (self->name == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Scope was not initialised");
        return -1;
    }
    if (self->state != RS_SCOPE_NEW) {
        PyErr_SetString(PyExc_RuntimeError, "a scope can be entered only once");
        return -1;
    }
    if (PyInterpreterState_Get() != PyInterpreterState_Main()) {
        PyErr_SetString(PyExc_RuntimeError, "reqscope does not support sub-interpreters yet");
        return -1;
    }
    if (self->options.sql && self->sql == NULL) {
        self->sql = rs_sql_state_new();
        if (self->sql == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    if (self->options.memory && self->memory == NULL) {
        if (rs_mem_prepare() < 0) {
            return -1;
        }
        self->memory =
            rs_mem_state_new((uint64_t)self->options.memory_rate, self->options.memory_nframes);
        if (self->memory == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    self->parent = rs_scope_current();
    self->context_token = PyContextVar_Set(rs_scope_var, (PyObject *)self);
    if (self->context_token == NULL) {
        Py_CLEAR(self->parent);
        return -1;
    }
    /* The start, read before the sampler registers the thread, which takes the CPU clock read
     * here as its own: that read is a system call, and cold after a request's work (about 5 us
     * on the development VM), so a CPU scope makes one at entry, not two. */
    self->started_at = rs_wall_seconds();
    self->has_cpu_clock = pthread_getcpuclockid(pthread_self(), &self->cpu_clock) == 0;
    self->cpu_start_ns = self->has_cpu_clock ? rs_clock_read(self->cpu_clock) : 0;
    self->start_ns = rs_now_ns();
    if (self->options.cpu) {
        self->coroutine = Py_XNewRef(coroutine);
        self->cpu = rs_cpu_state_new((uint64_t)(self->options.interval * 1e9));
        if (self->cpu == NULL ||
            rs_sampler_attach(self->cpu, 0, self->coroutine, self, self->cpu_start_ns) < 0) {
            if (self->cpu == NULL) {
                PyErr_NoMemory();
            }
            rs_cpu_state_release(self->cpu);
            self->cpu = NULL;
            Py_CLEAR(self->coroutine);
            rs_saved_error error = rs_error_save();
            if (PyContextVar_Reset(rs_scope_var, self->context_token) < 0) {
                PyErr_WriteUnraisable((PyObject *)self);
            }
            rs_error_restore(error);
            Py_CLEAR(self->context_token);
            Py_CLEAR(self->parent);
            return -1;
        }
    }
    prune_thread_chain();
    self->thread_previous = rs_thread_scope; /* The thread-local's reference moves here. */
    rs_thread_scope = (rs_scope *)Py_NewRef(self);
    self->state = RS_SCOPE_ACTIVE;
    self->entering_thread = pthread_self();
    link_active(self);
    atomic_fetch_add_explicit(&rs_active_scopes, 1, memory_order_relaxed);
    if (self->memory != NULL) {
        rs_mem_enable(self->memory);
    }
    return 0;
}

/* Scope._enter(coroutine=None): rs_scope_enter for Python callers (tests). */
static PyObject *
scope_enter(rs_scope *self, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *coroutine = nargs > 0 ? args[0] : Py_None;
    if (nargs > 1 || (coroutine != Py_None && !PyCoro_CheckExact(coroutine))) {
        PyErr_SetString(PyExc_TypeError, "Scope._enter(coroutine=None): a coroutine or None");
        return NULL;
    }
    if (rs_scope_enter(self, coroutine == Py_None ? NULL : coroutine) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* Ends an active scope: its figures freeze and its recorders stop. What is tied to the
 * entering thread and context (the thread chain, the ContextVar) is the caller's. */
static void
end_scope(rs_scope *self, int abandoned)
{
    /* Claimed before anything below can release the GIL, so a racing exit fails cleanly. */
    self->state = RS_SCOPE_DONE;
    unlink_active(self);
    atomic_fetch_sub_explicit(&rs_active_scopes, 1, memory_order_relaxed);
    self->end_ns = rs_now_ns();
    /* The entering thread's CPU clock, read from whichever thread exits. */
    uint64_t cpu_end_ns = self->has_cpu_clock ? rs_clock_read(self->cpu_clock) : 0;
    self->cpu_ns = cpu_end_ns > self->cpu_start_ns ? cpu_end_ns - self->cpu_start_ns : 0;
    rs_mem_finish(self, abandoned);
    if (self->cpu != NULL) {
        rs_sampler_detach_all(self->cpu);
    }
    Py_CLEAR(self->coroutine); /* Only after detaching: the sampler reads it until then. */
}

int
rs_scope_exit(rs_scope *self)
{
    if (self->state != RS_SCOPE_ACTIVE) {
        PyErr_SetString(PyExc_RuntimeError, "the scope is not active");
        return -1;
    }
    end_scope(self, 0);
    unlink_from_thread_chain(self);
    /* Reset only where this scope is still the context's value. After an out-of-order exit
     * (an outer scope ending before inner ones), resetting would make the inner scopes, still
     * active, no longer current. Reset also fails when exit runs in another context than entry
     * (a scope handed to another task). Either way the value left behind is harmless: a done
     * scope records nothing, and rs_scope_current skips it to its active ancestor. */
    PyObject *value = NULL;
    if (self->context_token != NULL && PyContextVar_Get(rs_scope_var, NULL, &value) == 0 &&
        value == (PyObject *)self && PyContextVar_Reset(rs_scope_var, self->context_token) < 0) {
        PyErr_Clear();
    }
    PyErr_Clear(); /* A failed read: as above. */
    Py_XDECREF(value);
    Py_CLEAR(self->context_token);
    return 0;
}

/* Scope.close() (and _exit()): ends the scope, from any thread or context. */
static PyObject *
scope_exit(rs_scope *self, PyObject *unused)
{
    if (rs_scope_exit(self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

void
rs_scope_after_fork_in_child(void)
{
    rs_scope *scope = active_scopes;
    while (scope != NULL) {
        rs_scope *next = scope->active_next;
        if (!pthread_equal(scope->entering_thread, pthread_self())) {
            /* Its thread is gone; its thread chain and context die with this process's copy
             * of them. Its clock belongs to a thread that no longer exists. */
            scope->has_cpu_clock = 0;
            end_scope(scope, 1);
        }
        scope = next;
    }
}

/* Scope._adopt(): makes this (active) scope current in the calling context and samples this
 * whole thread for it, for work handed to a worker thread. Returns the ContextVar token for
 * _release(). */
static PyObject *
scope_adopt(rs_scope *self, PyObject *unused)
{
    PyObject *token = PyContextVar_Set(rs_scope_var, (PyObject *)self);
    if (token == NULL) {
        return NULL;
    }
    rs_cpu_state *cpu = self->state == RS_SCOPE_ACTIVE ? self->cpu : NULL;
    if (cpu != NULL) {
        /* Our own reference: the scope may end, and its report free its state, while the
         * attach waits for the sampler's lock without the GIL. */
        atomic_fetch_add(&cpu->references, 1);
        if (rs_sampler_attach(cpu, 1, NULL, self, rs_thread_cpu_ns()) < 0) {
            PyErr_Clear(); /* The work runs unsampled rather than failing. */
        }
        rs_cpu_state_release(cpu);
    }
    return token;
}

/* Scope._release(token): undoes _adopt() in the same worker. */
static PyObject *
scope_release(rs_scope *self, PyObject *token)
{
    if (self->cpu != NULL) {
        rs_sampler_detach(self->cpu, 1);
    }
    if (PyContextVar_Reset(rs_scope_var, token) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
scope_report(rs_scope *self, PyObject *unused)
{
    if (self->report != NULL) {
        return Py_NewRef(self->report);
    }
    if (self->state == RS_SCOPE_NEW) {
        PyErr_SetString(PyExc_RuntimeError, "the scope has not run yet");
        return NULL;
    }
    PyObject *report = rs_report_build(self);
    if (report == NULL || self->state != RS_SCOPE_DONE) {
        return report;
    }
    self->report = Py_NewRef(report);
    rs_sql_state_free(self->sql);
    self->sql = NULL;
    rs_cpu_state_release(self->cpu);
    self->cpu = NULL;
    return report;
}

static int
scope_traverse(rs_scope *self, visitproc visit, void *arg)
{
    Py_VISIT(self->name);
    Py_VISIT(self->request);
    Py_VISIT(self->parent);
    Py_VISIT(self->thread_previous);
    Py_VISIT(self->context_token);
    Py_VISIT(self->options.exclude_paths);
    Py_VISIT(self->options.own_paths);
    Py_VISIT(self->report);
    Py_VISIT(self->coroutine);
    return 0;
}

static int
scope_clear(rs_scope *self)
{
    Py_CLEAR(self->name);
    Py_CLEAR(self->request);
    Py_CLEAR(self->parent);
    Py_CLEAR(self->context_token);
    Py_CLEAR(self->options.exclude_paths);
    Py_CLEAR(self->options.own_paths);
    Py_CLEAR(self->report);
    if (self->cpu != NULL) {
        rs_sampler_detach_all(self->cpu); /* Before the coroutine it may read goes. */
    }
    Py_CLEAR(self->coroutine);
    return 0;
}

static void
scope_dealloc(rs_scope *self)
{
    PyObject_GC_UnTrack(self);
    if (self->state == RS_SCOPE_ACTIVE) {
        unlink_active(self);
        atomic_fetch_sub_explicit(&rs_active_scopes, 1, memory_order_relaxed);
    }
    Py_CLEAR(self->thread_previous);
    rs_mem_finish(self, 0); /* A scope dropped while active: its parent is still held. */
    rs_mem_state_free(self->memory);
    self->memory = NULL;
    scope_clear(self);
    rs_sql_state_free(self->sql);
    if (self->cpu != NULL) {
        rs_sampler_detach_all(self->cpu);
        rs_cpu_state_release(self->cpu);
    }
    Py_CLEAR(self->coroutine);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
scope_get_wall_ms(rs_scope *self, void *closure)
{
    return PyFloat_FromDouble(rs_scope_wall_ms(self));
}

static PyObject *
scope_get_active(rs_scope *self, void *closure)
{
    return PyBool_FromLong(self->state == RS_SCOPE_ACTIVE);
}

static PyObject *
scope_get_request(rs_scope *self, void *closure)
{
    return Py_NewRef(self->request ? self->request : Py_None);
}

static int
scope_set_request(rs_scope *self, PyObject *value, void *closure)
{
    if (value == NULL || (value != Py_None && !PyDict_Check(value))) {
        PyErr_SetString(PyExc_TypeError, "Scope.request must be a dict or None");
        return -1;
    }
    if (self->report != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the report is already built");
        return -1;
    }
    Py_XSETREF(self->request, Py_NewRef(value));
    return 0;
}

static PyObject *
scope_get_name(rs_scope *self, void *closure)
{
    return Py_NewRef(self->name ? self->name : Py_None);
}

static int
scope_set_name(rs_scope *self, PyObject *value, void *closure)
{
    if (value == NULL || !PyUnicode_Check(value)) {
        PyErr_SetString(PyExc_TypeError, "Scope.name must be a str");
        return -1;
    }
    Py_XSETREF(self->name, Py_NewRef(value));
    return 0;
}

static PyObject *
scope_get_explain_analyze(rs_scope *self, void *closure)
{
    return PyBool_FromLong(self->options.explain_analyze);
}

static PyObject *
scope_get_id(rs_scope *self, void *closure)
{
    return PyLong_FromUnsignedLongLong(self->id);
}

/* Scope.report: a reqscope.Report of this scope, made at each read (its dict is built once).
 * It holds the scope, so keeping it here would make every scope asked for one a reference
 * cycle, freed only by the garbage collector. */
static PyObject *
scope_get_report(rs_scope *self, void *closure)
{
    PyObject *module = PyImport_ImportModule("reqscope._report");
    if (module == NULL) {
        return NULL;
    }
    PyObject *report = PyObject_CallMethod(module, "Report", "O", (PyObject *)self);
    Py_DECREF(module);
    return report;
}

static PyObject *
scope_repr(rs_scope *self)
{
    const char *state = self->state == RS_SCOPE_ACTIVE ? "active"
                        : self->state == RS_SCOPE_DONE ? "done"
                                                       : "new";
    return PyUnicode_FromFormat("<reqscope.Scope %llu %R %s>", (unsigned long long)self->id,
                                self->name ? self->name : Py_None, state);
}

static PyMethodDef scope_methods[] = {
    {"_enter", (PyCFunction)(void (*)(void))scope_enter, METH_FASTCALL,
     "Make this scope current; _enter(task_root_coroutine) in asyncio."},
    {"close", (PyCFunction)scope_exit, METH_NOARGS,
     "End this scope, from any thread or context (what a server's close() hook needs)."},
    {"_exit", (PyCFunction)scope_exit, METH_NOARGS, "Stop this scope and restore the previous."},
    {"_report", (PyCFunction)scope_report, METH_NOARGS, "The report dict (built once)."},
    {"_adopt", (PyCFunction)scope_adopt, METH_NOARGS, "Run handed-over work in this scope."},
    {"_release", (PyCFunction)scope_release, METH_O, "Undo _adopt(token)."},
    {NULL},
};

static PyGetSetDef scope_getset[] = {
    {"id", (getter)scope_get_id, NULL, "Process-unique id.", NULL},
    {"report", (getter)scope_get_report, NULL, "The scope's Report (a snapshot while active).",
     NULL},
    {"name", (getter)scope_get_name, (setter)scope_set_name, "Route or task name.", NULL},
    {"request", (getter)scope_get_request, (setter)scope_set_request, "Request info.", NULL},
    {"wall_ms", (getter)scope_get_wall_ms, NULL, "Wall time so far, in ms.", NULL},
    {"active", (getter)scope_get_active, NULL, "Whether the scope is entered.", NULL},
    {"explain_analyze", (getter)scope_get_explain_analyze, NULL, "EXPLAIN ANALYZE on.", NULL},
    {NULL},
};

/* PyVarObject_HEAD_INIT ends without a comma, which clang-format cannot tell. */
/* clang-format off */
PyTypeObject rs_ScopeType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "reqscope._core.Scope",
    .tp_basicsize = sizeof(rs_scope),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "One profiled unit of work (what reqscope.profile() gives); scope.report once "
              "it is done.",
    .tp_repr = (reprfunc)scope_repr,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)scope_init,
    .tp_dealloc = (destructor)scope_dealloc,
    .tp_traverse = (traverseproc)scope_traverse,
    .tp_clear = (inquiry)scope_clear,
    .tp_methods = scope_methods,
    .tp_getset = scope_getset,
};
/* clang-format on */
