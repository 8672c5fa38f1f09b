/*
 * context_reader.h: which scope a thread's contextvars.Context holds, read without the GIL.
 *
 * An asyncio task a request spawns (asyncio.gather, create_task) runs in a copy of the
 * request's context: another Context object, so the sampler cannot match it by address, but
 * one whose variables hold the request's scope. The reader looks reqscope's ContextVar up in
 * the context's immutable mapping (CPython's HAMT: bitmap nodes of up to 16 entries, array
 * nodes of 32 children, collision nodes for equal hashes) through safe copies only, following
 * CPython's own lookup: 5 bits of the key's 32-bit hash per level. The node types are not
 * exported, so rs_context_reader_init learns them from mappings it builds; a node of any other
 * type (a collision node: two variables with one 32-bit hash) ends the lookup with nothing.
 *
 * The portable build (RS_PORTABLE) implements the first two functions in portable_context.c
 * with the mapping protocol instead, under the GIL; it has no rs_context_reader_current_value.
 */
#ifndef RS_CONTEXT_READER_H
#define RS_CONTEXT_READER_H

#include <Python.h>

/* Learns the node types and the variable's hash (portable build: keeps the variable). Holds
 * the GIL; once, before any lookup. Returns 0, or -1 with an exception set. */
int rs_context_reader_init(PyObject *variable);

/* The value of the variable in `context` (the address of a Context object of this process),
 * or NULL when it has none or anything read fails validation. Needs no GIL (portable build:
 * holds it, and the value is borrowed). */
const void *rs_context_reader_value(const void *context);

/* The value of the variable in the calling thread's current context, borrowed, or NULL. With
 * the GIL held, by plain loads: no Python code, no exception, no allocation, and unlike
 * PyContextVar_Get no write to the variable's cache (which, filled from inside an allocator
 * hook during ContextVar.reset, would dangle). For the allocator hooks (native build only). */
const void *rs_context_reader_current_value(void);

#endif /* RS_CONTEXT_READER_H */
