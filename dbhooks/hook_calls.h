/*
 * hook_calls.h: the SQL hooks' per-statement entry points in _core (hook_calls.c).
 */
#ifndef RS_HOOK_CALLS_H
#define RS_HOOK_CALLS_H

#include "reqscope.h"

/* CursorMethod kinds (_core.CURSOR_*). */
#define RS_CURSOR_FETCH 0
#define RS_CURSOR_EXECUTE 1
#define RS_CURSOR_EXECUTEMANY 2
#define RS_CURSOR_EXECUTESCRIPT 3

/* sql_begin, sql_end, sql_fetch and set_fetch_explainer, for PyModule_AddFunctions. */
extern PyMethodDef rs_hook_call_functions[];

/* _core.CursorMethod and _core.ExecuteWrapper. */
extern PyTypeObject rs_CursorMethodType;
extern PyTypeObject rs_ExecuteWrapperType;

/* tp_descr_get of a C method of reqscope's that sits in a class as a function would: looked
 * up on an instance, bound to it (called with it first); on the class, itself. */
PyObject *rs__bind_like_a_function(PyObject *self, PyObject *instance, PyObject *owner);

/* Makes what the entry points need and readies the types; -1 with an exception. */
int rs_hook_calls_init(void);

#endif /* RS_HOOK_CALLS_H */
