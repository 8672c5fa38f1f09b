/*
 * cursor_factory.c: _core.CursorFactory, the cursor() method of the sqlite3 hook's recording
 * connections, in C.
 *
 * A recording connection hands out cursors of a recording subclass of the cursor class asked
 * for (reqscope/hooks/sqlite3.py). Django asks for a cursor of its own class before every
 * statement, recorded or not: written in Python, that cursor() was a frame of its own and a
 * call of the cache of recording classes on every statement, idle or not, cold after a
 * request's own work. Here the recording class of each cursor class asked for is kept in a
 * dict, so a known class costs a dict lookup and the driver's own cursor() call.
 *
 * It is a method descriptor (Py_TPFLAGS_METHOD_DESCRIPTOR), so `connection.cursor(...)` calls
 * it with the connection first and makes no bound method. Its arguments are the driver's:
 * cursor(factory=None), the factory by position or by keyword.
 */
#include "cursor_factory.h"
#include "hook_calls.h"

#include <stddef.h>

typedef struct {
    PyObject_HEAD
    PyObject *cursor;            /* The driver's own method: cursor(connection, factory). */
    PyObject *recording_class;   /* recording_class(cursor_class): its recording subclass. */
    PyTypeObject *base;          /* The driver's cursor class (sqlite3.Cursor). */
    PyObject *default_recording; /* recording_class(base), asked for with no factory. */
    PyObject *known;             /* {cursor class: its recording subclass}. */
    vectorcallfunc vectorcall;   /* cursor_factory_call. */
} cursor_factory;

static PyObject *str_factory; /* Interned "factory". */

/* The recording subclass of `cursor_class` (a subclass of the base), a new reference, or NULL
 * with the error of recording_class(). */
static PyObject *
recording_class_of(cursor_factory *self, PyObject *cursor_class)
{
    PyObject *known = PyDict_GetItemWithError(self->known, cursor_class);
    if (known != NULL) {
        return Py_NewRef(known);
    }
    if (PyErr_Occurred()) {
        return NULL;
    }
    PyObject *made = PyObject_CallOneArg(self->recording_class, cursor_class);
    if (made != NULL && PyDict_SetItem(self->known, cursor_class, made) < 0) {
        Py_CLEAR(made);
    }
    return made;
}

/* cursor(connection, factory=None): the driver's cursor, of the recording subclass of the
 * factory asked for when it is a cursor class, else of what was asked for. */
static PyObject *
cursor_factory_call(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    cursor_factory *self = (cursor_factory *)callable;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    Py_ssize_t nkeywords = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;
    PyObject *factory = NULL;
    if (nargs == 2 && nkeywords == 0) {
        factory = args[1];
    }
    else if (nargs == 1 && nkeywords == 1 &&
             PyUnicode_Compare(PyTuple_GET_ITEM(kwnames, 0), str_factory) == 0) {
        factory = args[1];
    }
    else if (nargs != 1 || nkeywords != 0) {
        /* Anything else is the driver's to accept or refuse, with its own message. */
        return PyObject_Vectorcall(self->cursor, args, nargsf, kwnames);
    }
    PyObject *recording;
    if (factory == NULL || factory == Py_None) {
        recording = Py_NewRef(self->default_recording);
    }
    else if (PyType_Check(factory) && PyType_IsSubtype((PyTypeObject *)factory, self->base)) {
        recording = recording_class_of(self, factory);
        if (recording == NULL) {
            return NULL;
        }
    }
    else {
        recording = Py_NewRef(factory); /* A callable factory, not a class: as it is. */
    }
    PyObject *call[2] = {args[0], recording};
    PyObject *cursor = PyObject_Vectorcall(self->cursor, call, 2, NULL);
    Py_DECREF(recording);
    return cursor;
}

static PyObject *
cursor_factory_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"cursor", "recording_class", "base", NULL};
    PyObject *cursor, *recording_class, *base;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO!:CursorFactory", keywords, &cursor,
                                     &recording_class, &PyType_Type, &base)) {
        return NULL;
    }
    if (!PyCallable_Check(cursor) || !PyCallable_Check(recording_class)) {
        PyErr_SetString(PyExc_TypeError,
                        "CursorFactory(cursor, recording_class, base) needs "
                        "two callables and a cursor class");
        return NULL;
    }
    cursor_factory *self = (cursor_factory *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->cursor = Py_NewRef(cursor);
    self->recording_class = Py_NewRef(recording_class);
    self->base = (PyTypeObject *)Py_NewRef(base);
    self->known = PyDict_New();
    self->default_recording = PyObject_CallOneArg(recording_class, base);
    self->vectorcall = cursor_factory_call;
    if (self->known == NULL || self->default_recording == NULL) {
        Py_CLEAR(self);
    }
    return (PyObject *)self;
}

static int
cursor_factory_traverse(cursor_factory *self, visitproc visit, void *arg)
{
    Py_VISIT(self->cursor);
    Py_VISIT(self->recording_class);
    Py_VISIT(self->base);
    Py_VISIT(self->default_recording);
    Py_VISIT(self->known);
    return 0;
}

static int
cursor_factory_clear(cursor_factory *self)
{
    Py_CLEAR(self->cursor);
    Py_CLEAR(self->recording_class);
    Py_CLEAR(self->base);
    Py_CLEAR(self->default_recording);
    Py_CLEAR(self->known);
    return 0;
}

static void
cursor_factory_dealloc(cursor_factory *self)
{
    PyObject_GC_UnTrack(self);
    cursor_factory_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
cursor_factory_repr(cursor_factory *self)
{
    return PyUnicode_FromFormat("<reqscope cursor factory %R>", self->cursor);
}

PyTypeObject rs_CursorFactoryType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "reqscope._core.CursorFactory",
    .tp_doc = PyDoc_STR("CursorFactory(cursor, recording_class, base)\n\nA recording "
                        "connection's cursor(factory=None): the driver's cursor(connection, "
                        "factory) called with recording_class(factory) for a subclass of base, "
                        "recording_class(base) without a factory, and any other factory as it "
                        "is. Each class's recording subclass is asked for once."),
    .tp_basicsize = sizeof(cursor_factory),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_METHOD_DESCRIPTOR |
                Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_new = cursor_factory_new,
    .tp_traverse = (traverseproc)cursor_factory_traverse,
    .tp_clear = (inquiry)cursor_factory_clear,
    .tp_dealloc = (destructor)cursor_factory_dealloc,
    .tp_vectorcall_offset = offsetof(cursor_factory, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_descr_get = rs__bind_like_a_function,
    .tp_repr = (reprfunc)cursor_factory_repr,
};

int
rs_cursor_factory_init(void)
{
    str_factory = PyUnicode_InternFromString("factory");
    if (str_factory == NULL) {
        return -1;
    }
    return PyType_Ready(&rs_CursorFactoryType);
}
