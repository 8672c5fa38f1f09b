/*
 * callsite.c: the registry of lazy loaders that capture consults, and the resolution of a
 * captured stack to the user's file:line. Capture itself is build-specific:
 * callsite_capture.c reads the interpreter's frame structs, callsite_capture_portable.c the
 * public frame API.
 */
#include "callsite.h"

rs__lazy_loader rs__lazy_loaders[RS_CALLSITE_MAX_LAZY_LOADERS];
int rs__lazy_loader_count;

int
rs_callsite_register_lazy_loader(PyObject *code, PyObject *labeler)
{
    if (!PyCode_Check(code) || !PyCallable_Check(labeler)) {
        PyErr_SetString(PyExc_TypeError,
                        "register_lazy_loader(code, labeler): a code object "
                        "and a callable");
        return -1;
    }
    for (int i = 0; i < rs__lazy_loader_count; i++) {
        if (rs__lazy_loaders[i].code == code) {
            Py_SETREF(rs__lazy_loaders[i].labeler, Py_NewRef(labeler));
            return 0;
        }
    }
    if (rs__lazy_loader_count == RS_CALLSITE_MAX_LAZY_LOADERS) {
        PyErr_SetString(PyExc_RuntimeError, "too many lazy loaders registered");
        return -1;
    }
    rs__lazy_loaders[rs__lazy_loader_count].code = Py_NewRef(code);
    rs__lazy_loaders[rs__lazy_loader_count].labeler = Py_NewRef(labeler);
    rs__lazy_loader_count++;
    return 0;
}

/* Returns 1 when `file` starts with one of `prefixes`, 0 when not, -1 on error. */
static int
is_excluded(PyObject *file, PyObject *prefixes)
{
    Py_ssize_t count = PyTuple_GET_SIZE(prefixes);
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_ssize_t match =
            PyUnicode_Tailmatch(file, PyTuple_GET_ITEM(prefixes, i), 0, PY_SSIZE_T_MAX, -1);
        if (match != 0) {
            return (int)match;
        }
    }
    return 0;
}

/* The index of the innermost frame outside `prefixes`, or -1 when none; -2 on error. */
static int
innermost_outside(const rs_frame_ref *frames, int depth, PyObject *prefixes)
{
    for (int i = 0; i < depth; i++) {
        int excluded = is_excluded(frames[i].code->co_filename, prefixes);
        if (excluded < 0) {
            return -2;
        }
        if (!excluded) {
            return i;
        }
    }
    return -1;
}

int
rs_callsite_resolve(const rs_frame_ref *frames, int depth, PyObject *exclude_paths,
                    PyObject *own_paths, PyObject **file, int *line, PyObject **function)
{
    int chosen = innermost_outside(frames, depth, exclude_paths);
    if (chosen == -1) {
        chosen = innermost_outside(frames, depth, own_paths);
    }
    if (chosen == -2) {
        return -1;
    }
    chosen = chosen < 0 ? 0 : chosen;
    if (depth == 0) {
        *file = PyUnicode_FromString("<unknown>");
        *function = PyUnicode_FromString("<unknown>");
        *line = 0;
        return (*file && *function) ? 0 : -1;
    }
    PyCodeObject *code = frames[chosen].code;
    *file = Py_NewRef(code->co_filename);
    *function = Py_NewRef(code->co_qualname);
    *line = PyCode_Addr2Line(code, frames[chosen].instruction);
    return 0;
}
