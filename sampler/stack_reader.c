/*
 * stack_reader.c: the frame-chain walk of stack_reader.h.
 *
 * Per CPython version (compat.h supplies the real structs): the current frame is
 * tstate->cframe->current_frame on 3.11 and 3.12 and tstate->current_frame on 3.13; a frame
 * names its code in f_code (f_executable on 3.13) and its position in prev_instr (instr_ptr on
 * 3.13); 3.12+ puts C-stack shim frames in the chain, which we skip. A code object is accepted
 * only when its type pointer is &PyCode_Type and the instruction lies inside its bytecode.
 * Frames whose first instruction has not run yet are skipped, as CPython itself does.
 */
#include "stack_reader.h"

#include "compat.h"
#include "safe_read.h"

/* The part of a frame we copy: everything before the variable-size locals. */
#define FRAME_HEAD_SIZE offsetof(_PyInterpreterFrame, localsplus)

/* The part of a code object we copy: its header up to the bytecode. */
#define CODE_HEAD_SIZE offsetof(PyCodeObject, co_code_adaptive)

static const void *
current_frame_address(const PyThreadState *tstate)
{
    const void *frame = NULL;
#if PY_VERSION_HEX >= 0x030D0000
    if (rs_safe_read(&frame, &tstate->current_frame, sizeof(frame)) < 0) {
        return NULL;
    }
#else
    const _PyCFrame *cframe = NULL;
    if (rs_safe_read(&cframe, &tstate->cframe, sizeof(cframe)) < 0 ||
        rs_safe_read(&frame, &cframe->current_frame, sizeof(frame)) < 0) {
        return NULL;
    }
#endif
    return frame;
}

const void *
rs_stack_read_context(const PyThreadState *tstate)
{
    const void *context = NULL;
    if (rs_safe_read(&context, &tstate->context, sizeof(context)) < 0) {
        return NULL;
    }
    return context;
}

/* Fills `out` from a copied frame; returns 1 when the frame is a visible Python frame, 0 when
 * it is to be skipped, -1 when it is invalid (the walk stops). */
static int
read_frame(const _PyInterpreterFrame *frame, rs_raw_frame *out)
{
#if PY_VERSION_HEX >= 0x030C0000
    if (frame->owner == FRAME_OWNED_BY_CSTACK) {
        return 0;
    }
#endif
#if PY_VERSION_HEX >= 0x030D0000
    const void *code_address = frame->f_executable;
    const _Py_CODEUNIT *instruction = frame->instr_ptr;
#else
    const void *code_address = frame->f_code;
    const _Py_CODEUNIT *instruction = frame->prev_instr;
#endif
    union {
        PyCodeObject code;
        char bytes[CODE_HEAD_SIZE];
    } head;
    if (rs_safe_read(&head, code_address, CODE_HEAD_SIZE) < 0) {
        return -1;
    }
    if (Py_TYPE(&head.code) != &PyCode_Type) {
#if PY_VERSION_HEX >= 0x030D0000
        return 0; /* 3.13 frames may run no code object (f_executable is None). */
#else
        return -1;
#endif
    }
    const char *bytecode = (const char *)code_address + CODE_HEAD_SIZE;
    intptr_t units = ((const char *)instruction - bytecode) / (intptr_t)sizeof(_Py_CODEUNIT);
    if (units < head.code._co_firsttraceable) {
        return 0; /* Not started yet. */
    }
    if (units >= Py_SIZE(&head.code)) {
        return -1;
    }
    out->code = code_address;
    out->instruction = (int32_t)(units * (intptr_t)sizeof(_Py_CODEUNIT));
    out->filename = head.code.co_filename;
    out->qualname = head.code.co_qualname;
    out->first_line = head.code.co_firstlineno;
    out->linetable = head.code.co_linetable;
    return 1;
}

int
rs_stack_read(const PyThreadState *tstate, rs_raw_stack *stack)
{
    const void *address = current_frame_address(tstate);
    int hops = 0; /* Frames visited, shims included, to bound a corrupted (cyclic) chain. */

    stack->depth = 0;
    stack->truncated = 0;
    if (rs_safe_read(&stack->context, &tstate->context, sizeof(stack->context)) < 0) {
        return -1;
    }
    while (address != NULL && hops++ < 4 * RS_STACK_MAX_DEPTH) {
        union {
            _PyInterpreterFrame frame;
            char bytes[FRAME_HEAD_SIZE];
        } copy;
        if (((uintptr_t)address & (sizeof(void *) - 1)) != 0 ||
            rs_safe_read(&copy, address, FRAME_HEAD_SIZE) < 0) {
            break;
        }
        if (stack->depth == RS_STACK_MAX_DEPTH) {
            stack->truncated = 1;
            break;
        }
        int visible = read_frame(&copy.frame, &stack->frames[stack->depth]);
        if (visible < 0) {
            break;
        }
        stack->depth += visible;
        address = copy.frame.previous;
    }
    return 0;
}

/* Whether a coroutine in `state` is suspended at an await or yield. */
static int
is_suspended(int8_t state)
{
#if PY_VERSION_HEX >= 0x030D0000
    return state == FRAME_SUSPENDED || state == FRAME_SUSPENDED_YIELD_FROM;
#else
    return state == FRAME_SUSPENDED;
#endif
}

int
rs_stack_read_suspended(const void *coroutine, rs_raw_stack *stack)
{
    rs_raw_frame chain[RS_STACK_MAX_DEPTH]; /* Outermost first, reversed at the end. */
    int depth = 0;

    stack->depth = 0;
    stack->truncated = 0;
    stack->context = NULL;
    while (coroutine != NULL && depth < RS_STACK_MAX_DEPTH) {
        PyGenObject head;
        if (rs_safe_read(&head, coroutine, offsetof(PyGenObject, gi_iframe)) < 0 ||
            (Py_TYPE(&head) != &PyCoro_Type && Py_TYPE(&head) != &PyGen_Type) ||
            !is_suspended(head.gi_frame_state)) {
            break;
        }
        const char *frame_address = (const char *)coroutine + offsetof(PyGenObject, gi_iframe);
        union {
            _PyInterpreterFrame frame;
            char bytes[FRAME_HEAD_SIZE];
        } copy;
        if (rs_safe_read(&copy, frame_address, FRAME_HEAD_SIZE) < 0 ||
            read_frame(&copy.frame, &chain[depth]) != 1) {
            break;
        }
        depth++;
        /* The awaited object is on top of the value stack while suspended in an await. */
        const void *awaited = NULL;
        int top = copy.frame.stacktop - 1;
        if (top < 0 || rs_safe_read(&awaited,
                                    frame_address + offsetof(_PyInterpreterFrame, localsplus) +
                                        (size_t)top * sizeof(PyObject *),
                                    sizeof(awaited)) < 0) {
            break;
        }
        coroutine = awaited;
    }
    if (depth == 0) {
        return -1;
    }
    for (int i = 0; i < depth; i++) {
        stack->frames[i] = chain[depth - 1 - i];
    }
    stack->depth = depth;
    return 0;
}
