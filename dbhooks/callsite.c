/*
 * callsite.c: capture of the Python stack under a SQL statement, and its resolution.
 *
 * Capture runs inside the SQL hook for every statement, so it reads the interpreter's frame
 * structs directly (see compat.h) and does no allocation and no Python call: it copies up to
 * RS_CALLSITE_MAX_DEPTH (code, instruction) pairs and hashes them. A frame of a registered lazy
 * loader (Django's related-object descriptors, SQLAlchemy's LazyLoader) also leaves its "self"
 * behind, so the report can label an N+1 with the relation that caused it.
 */
#include "callsite.h"

#include "compat.h"

typedef struct {
    PyObject *code;    /* Strong. */
    PyObject *labeler; /* Strong. */
} lazy_loader;

/* Registered lazy loaders. Written at import time with the GIL, read by hooks with the GIL. */
static lazy_loader lazy_loaders[RS_CALLSITE_MAX_LAZY_LOADERS];
static int lazy_loader_count;

static inline uint64_t
mix64(uint64_t hash, uint64_t value)
{
    hash ^= value + 0x9e3779b97f4a7c15ull + (hash << 6) + (hash >> 2);
    return hash * 0xff51afd7ed558ccdull;
}

const void *
rs_callsite_current_frame(void)
{
    return rs_compat_current_frame(PyThreadState_Get());
}

void
rs_callsite_capture_stack(rs_callsite_capture *out)
{
    rs_pyframe *frame = rs_compat_current_frame(PyThreadState_Get());
    uint64_t hash = 0xcbf29ce484222325ull; /* Running hash of the pairs. */
    int depth = 0;                         /* Pairs kept so far. */

    out->lazy_owner = NULL;
    out->lazy_labeler = NULL;
    for (; frame != NULL && depth < RS_CALLSITE_MAX_DEPTH; frame = frame->previous) {
        if (!rs_compat_frame_is_visible(frame)) {
            continue;
        }
        PyCodeObject *code = rs_compat_frame_code(frame);
        int instruction = rs_compat_frame_instruction(frame);
        if (out->lazy_owner == NULL) {
            for (int i = 0; i < lazy_loader_count; i++) {
                if ((PyObject *)code == lazy_loaders[i].code) {
                    out->lazy_owner = rs_compat_frame_first_local(frame);
                    out->lazy_labeler = out->lazy_owner ? lazy_loaders[i].labeler : NULL;
                    break;
                }
            }
        }
        out->frames[depth].code = code;
        out->frames[depth].instruction = instruction;
        out->frame_addresses[depth] = frame;
        hash = mix64(hash, (uint64_t)(uintptr_t)code);
        hash = mix64(hash, (uint64_t)instruction);
        depth++;
    }
    out->depth = depth;
    out->hash = hash;
}

int
rs_callsite_register_lazy_loader(PyObject *code, PyObject *labeler)
{
    if (!PyCode_Check(code) || !PyCallable_Check(labeler)) {
        PyErr_SetString(PyExc_TypeError,
                        "register_lazy_loader(code, labeler): a code object "
                        "and a callable");
        return -1;
    }
    for (int i = 0; i < lazy_loader_count; i++) {
        if (lazy_loaders[i].code == code) {
            Py_SETREF(lazy_loaders[i].labeler, Py_NewRef(labeler));
            return 0;
        }
    }
    if (lazy_loader_count == RS_CALLSITE_MAX_LAZY_LOADERS) {
        PyErr_SetString(PyExc_RuntimeError, "too many lazy loaders registered");
        return -1;
    }
    lazy_loaders[lazy_loader_count].code = Py_NewRef(code);
    lazy_loaders[lazy_loader_count].labeler = Py_NewRef(labeler);
    lazy_loader_count++;
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
