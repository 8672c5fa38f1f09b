/*
 * stack_reader.h: another thread's Python stack, read without the GIL.
 *
 * The reader follows a thread's frame chain from its PyThreadState through safe copies only
 * (safe_read.h): it never dereferences a pointer it did not just validate, and a thread that
 * changes its stack under us yields a shorter or stale stack, never a crash. What it returns is
 * addresses, (code object, instruction offset) pairs, that names.h turns into names.
 *
 * The portable build (RS_PORTABLE: no internal CPython header, see setup.py) implements the
 * same functions in portable_walker.c with the public frame API instead: the caller holds the
 * GIL (portable_gil.h), and each frame is named during the walk, so it carries its name id.
 */
#ifndef RS_STACK_READER_H
#define RS_STACK_READER_H

#include <Python.h>
#include <stdint.h>

/* Deepest stack kept; deeper frames (the outermost ones) are cut off and the cut counted. */
#define RS_STACK_MAX_DEPTH 128

/* What a frame's code object says about itself, copied at sampling time. */
typedef struct {
#ifdef RS_PORTABLE
    uint32_t name; /* The frame's name id (names.h), interned during the walk. */
#else
    const void *code;      /* Address of the code object. */
    int32_t instruction;   /* Byte offset of the executing instruction. */
    const void *filename;  /* Addresses of co_filename and co_qualname, and co_firstlineno: */
    const void *qualname;  /* with `code` they identify the function even if the code */
    int32_t first_line;    /* object is freed and its address reused. */
    const void *linetable; /* Address of co_linetable. */
    uint64_t serial;       /* The code cache's serial of these facts (code_cache.h). */
#endif
} rs_raw_frame;

typedef struct {
    int depth;                 /* Frames filled, innermost first. */
    int truncated;             /* Deeper than RS_STACK_MAX_DEPTH. */
    const void *context;       /* The thread's current contextvars.Context when the read began, */
    const void *context_after; /* and when it ended: the stack is the context's when both
                                  are (NULL when it could not be read again). */
    rs_raw_frame frames[RS_STACK_MAX_DEPTH];
} rs_raw_stack;

/*
 * Reads the stack of the thread whose state is at `tstate` (any thread of this interpreter;
 * the caller need not hold the GIL; in the portable build it must). Returns 0, or -1 when the
 * thread state itself could not be read (portable build: it is no thread of the interpreter). A
 * frame that fails validation ends the walk there.
 */
int rs_stack_read(const PyThreadState *tstate, rs_raw_stack *stack);

/*
 * Reads the await chain of the suspended coroutine at `coroutine`: its frame, then the frame
 * of the coroutine it awaits (the top of its value stack, when that is a suspended coroutine),
 * and so on down; innermost first, like rs_stack_read. Returns 0, or -1 when the coroutine is
 * not suspended (running, not started, finished) or could not be read.
 */
int rs_stack_read_suspended(const void *coroutine, rs_raw_stack *stack);

/* Reads only the thread's current context, or NULL. */
const void *rs_stack_read_context(const PyThreadState *tstate);

#endif /* RS_STACK_READER_H */
