/*
 * portable_walker.c: stack_reader.h for the portable build, with the GIL and the public API.
 *
 * The sampler thread holds the GIL while it calls these (portable_gil.h), so no Python thread
 * runs and every frame chain it walks stands still. It walks a thread's frames from
 * PyThreadState_GetFrame through PyFrame_GetBack (which materialize frame objects for the
 * interpreter's frames, as sys._current_frames does), reads each frame's code object with
 * PyFrame_GetCode and its instruction with PyFrame_GetLasti, and names it at once: co_qualname,
 * co_filename and co_firstlineno through attribute lookups, the line through PyCode_Addr2Line.
 * Names are cut to NAME_MAX_CHARS characters and written as UTF-8 by the same rules as the
 * native reader (safe_names.c), so both builds intern the same names. A suspended coroutine's
 * await chain follows the cr_frame, cr_suspended and cr_await attributes (gi_* for generators).
 *
 * Besides the public API this reads one field of a thread state, tstate->context, which
 * Include/cpython/pystate.h declares for every version (not an internal header). Threads are
 * checked to be live threads of the interpreter before their state is read: a thread that ended
 * without detaching leaves a stale pointer in the sampler's registry.
 */
#include "stack_reader.h"

#include "names.h"
#include "utf8.h"

#if PY_VERSION_HEX < 0x030B0000
#error "reqscope needs CPython 3.11 or newer (PyFrame_GetLasti)"
#endif

#define NAME_MAX_CHARS 256

/* Whether `tstate` is a thread of the main interpreter (the only one reqscope profiles). */
static int
is_live_thread(const PyThreadState *tstate)
{
    PyThreadState *each = PyInterpreterState_ThreadHead(PyInterpreterState_Main());
    for (; each != NULL; each = PyThreadState_Next(each)) {
        if (each == tstate) {
            return 1;
        }
    }
    return 0;
}

const void *
rs_stack_read_context(const PyThreadState *tstate)
{
    return is_live_thread(tstate) ? tstate->context : NULL;
}

/* Copies at most NAME_MAX_CHARS characters of the str `text` as UTF-8 into `out` (room for
 * NAME_MAX_CHARS * 4 + 1 bytes). Returns 0, or -1 when `text` is not a str. */
static int
copy_name(PyObject *text, char *out)
{
    if (text == NULL || !PyUnicode_Check(text)) {
        return -1;
    }
    Py_ssize_t length = PyUnicode_GetLength(text);
    length = length > NAME_MAX_CHARS ? NAME_MAX_CHARS : length;
    size_t used = 0; /* Bytes written to out. */
    for (Py_ssize_t i = 0; i < length; i++) {
        used += rs_utf8_put(PyUnicode_ReadChar(text, i), out + used);
    }
    out[used] = '\0';
    return 0;
}

/* The name id of `code` running the instruction at byte offset `instruction`. Never raises. */
static uint32_t
name_code(PyCodeObject *code, int instruction)
{
    PyObject *qualname = PyObject_GetAttrString((PyObject *)code, "co_qualname");
    PyObject *filename = PyObject_GetAttrString((PyObject *)code, "co_filename");
    PyObject *first = PyObject_GetAttrString((PyObject *)code, "co_firstlineno");
    long first_line = first != NULL ? PyLong_AsLong(first) : -1;
    char function[NAME_MAX_CHARS * 4 + 1], file[NAME_MAX_CHARS * 4 + 1];
    uint32_t id = RS_NAME_UNKNOWN;
    if (first_line >= 0 && first_line <= INT32_MAX && copy_name(qualname, function) == 0 &&
        copy_name(filename, file) == 0) {
        int line = PyCode_Addr2Line(code, instruction);
        id = rs_names_intern_content(function, file, line >= 0 ? line : (int32_t)first_line,
                                     (int32_t)first_line);
    }
    PyErr_Clear();
    Py_XDECREF(qualname);
    Py_XDECREF(filename);
    Py_XDECREF(first);
    return id;
}

/* The name id of `frame`; 0 for a frame whose first instruction has not run (skipped, as the
 * native reader does), 1 when named. */
static int
name_frame(PyFrameObject *frame, uint32_t *name)
{
    int instruction = PyFrame_GetLasti(frame);
    if (instruction < 0) {
        return 0;
    }
    PyCodeObject *code = PyFrame_GetCode(frame);
    *name = name_code(code, instruction);
    Py_DECREF(code);
    return 1;
}

int
rs_stack_read(const PyThreadState *tstate, rs_raw_stack *stack)
{
    stack->depth = 0;
    stack->truncated = 0;
    stack->context = NULL;
    stack->context_after = NULL;
    if (!is_live_thread(tstate)) {
        return -1;
    }
    stack->context = tstate->context;
    stack->context_after = stack->context; /* The GIL is held: it cannot change. */
    PyFrameObject *frame = PyThreadState_GetFrame((PyThreadState *)tstate);
    while (frame != NULL) {
        if (stack->depth == RS_STACK_MAX_DEPTH) {
            stack->truncated = 1;
            break;
        }
        stack->depth += name_frame(frame, &stack->frames[stack->depth].name);
        PyFrameObject *back = PyFrame_GetBack(frame);
        Py_DECREF(frame);
        frame = back;
    }
    Py_XDECREF(frame);
    PyErr_Clear(); /* A frame object that could not be made ends the walk there. */
    return 0;
}

/* The frame of the suspended coroutine or generator `awaitable` (new reference), and what it
 * awaits in *awaited (new reference, or NULL); NULL when it is neither, or is not suspended. */
static PyFrameObject *
suspended_frame(PyObject *awaitable, PyObject **awaited)
{
    int coroutine = PyCoro_CheckExact(awaitable);
    *awaited = NULL;
    if (!coroutine && !PyGen_CheckExact(awaitable)) {
        return NULL;
    }
    PyObject *suspended =
        PyObject_GetAttrString(awaitable, coroutine ? "cr_suspended" : "gi_suspended");
    int is_suspended = suspended != NULL && PyObject_IsTrue(suspended) == 1;
    Py_XDECREF(suspended);
    PyObject *frame = is_suspended
                          ? PyObject_GetAttrString(awaitable, coroutine ? "cr_frame" : "gi_frame")
                          : NULL;
    if (frame == NULL || !PyFrame_Check(frame)) {
        Py_XDECREF(frame);
        PyErr_Clear();
        return NULL;
    }
    *awaited = PyObject_GetAttrString(awaitable, coroutine ? "cr_await" : "gi_yieldfrom");
    PyErr_Clear();
    return (PyFrameObject *)frame;
}

int
rs_stack_read_suspended(const void *coroutine, rs_raw_stack *stack)
{
    uint32_t chain[RS_STACK_MAX_DEPTH]; /* Outermost first, reversed at the end. */
    int depth = 0;

    stack->depth = 0;
    stack->truncated = 0;
    stack->context = NULL;
    stack->context_after = NULL;
    PyObject *awaitable = Py_NewRef((PyObject *)coroutine);
    while (awaitable != NULL && depth < RS_STACK_MAX_DEPTH) {
        PyObject *awaited;
        PyFrameObject *frame = suspended_frame(awaitable, &awaited);
        Py_SETREF(awaitable, awaited);
        if (frame == NULL) {
            break;
        }
        int named = name_frame(frame, &chain[depth]);
        Py_DECREF(frame);
        if (!named) {
            break;
        }
        depth++;
    }
    Py_XDECREF(awaitable);
    if (depth == 0) {
        return -1;
    }
    for (int i = 0; i < depth; i++) {
        stack->frames[i].name = chain[depth - 1 - i];
    }
    stack->depth = depth;
    return 0;
}
