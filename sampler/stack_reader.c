/*
 * stack_reader.c: the frame-chain walk of stack_reader.h.
 *
 * Per CPython version (compat.h supplies the real structs): the current frame is
 * tstate->cframe->current_frame on 3.11 and 3.12 and tstate->current_frame on 3.13; a frame
 * names its code in f_code (f_executable on 3.13) and its position in prev_instr (instr_ptr on
 * 3.13); 3.12+ puts C-stack shim frames in the chain, which we skip. A code object is accepted
 * only when its type pointer is &PyCode_Type and the instruction lies inside its bytecode.
 * Frames whose first instruction has not run yet are skipped, as CPython itself does.
 *
 * Cost: a sampler at 1 kHz reading 60-frame stacks cannot afford two system calls a frame. So
 * a stack is read in a few: the thread state in one; the thread's frame data stack (the chunk
 * CPython pushes frames on, from its start to its top) in one, from which frames are then
 * read locally; and, in one vectored call, the headers of the frames' code objects that the
 * code cache (code_cache.h) does not know yet, which once a program runs are few. Frames
 * outside that chunk (coroutine and generator frames live in their objects) are read one by
 * one. Only the sampler thread reads stacks, so the scratch buffers below are its own.
 */
#include "stack_reader.h"

#include "code_cache.h"
#include "compat.h"
#include "safe_read.h"
#if PY_VERSION_HEX < 0x030D0000
#include "opcode.h"
#endif

/* The part of a frame we copy: everything before the variable-size locals. */
#define FRAME_HEAD_SIZE offsetof(_PyInterpreterFrame, localsplus)

/* The part of a code object we copy: its header up to the bytecode. */
#define CODE_HEAD_SIZE offsetof(PyCodeObject, co_code_adaptive)

/* Frames a walk visits at most, shim frames included: bounds a corrupted (cyclic) chain. */
#define WALK_MAX_FRAMES (4 * RS_STACK_MAX_DEPTH)

/* The largest frame data stack copied whole; a deeper one is read frame by frame. */
#define WINDOW_MAX_BYTES (256 * 1024)

typedef union {
    PyCodeObject code;
    char bytes[CODE_HEAD_SIZE];
} code_head;

typedef union {
    _PyInterpreterFrame frame;
    char bytes[FRAME_HEAD_SIZE];
} frame_head;

/* The sampler thread's scratch (the only thread that reads stacks). */
static char window[WINDOW_MAX_BYTES];          /* Copy of the frame data stack. */
static code_head code_heads[WALK_MAX_FRAMES];  /* Code headers read in one walk. */
static const void *walk_code[WALK_MAX_FRAMES]; /* Code address per visited frame. */
static const _Py_CODEUNIT *walk_instruction[WALK_MAX_FRAMES];
static rs_code_facts walk_facts[WALK_MAX_FRAMES]; /* Per visited frame, once known. */
static int walk_known[WALK_MAX_FRAMES];           /* 1: code, 0: no code object, -1: unread. */

const void *
rs_stack_read_context(const PyThreadState *tstate)
{
    const void *context = NULL;
    if (rs_safe_read(&context, &tstate->context, sizeof(context)) < 0) {
        return NULL;
    }
    return context;
}

/* The code address and instruction of a copied frame; 0 for a C-stack shim frame. */
static int
frame_position(const _PyInterpreterFrame *frame, const void **code,
               const _Py_CODEUNIT **instruction)
{
#if PY_VERSION_HEX >= 0x030C0000
    if (frame->owner == FRAME_OWNED_BY_CSTACK) {
        return 0;
    }
#endif
#if PY_VERSION_HEX >= 0x030D0000
    *code = frame->f_executable;
    *instruction = frame->instr_ptr;
#else
    *code = frame->f_code;
    *instruction = frame->prev_instr;
#endif
    return 1;
}

/* The facts of a copied code header; 0 when it is no code object's. */
static int
facts_of(const PyCodeObject *head, rs_code_facts *facts)
{
    if (Py_TYPE(head) != &PyCode_Type) {
        return 0;
    }
    *facts = (rs_code_facts){head->co_filename,     head->co_qualname,        head->co_linetable,
                             head->co_firstlineno,  head->_co_firsttraceable, Py_SIZE(head),
                             rs_code_cache_serial()};
    return 1;
}

/* Whether a copied code header is worth keeping in the code cache: a live object's reference
 * count. A freed block keeps its type pointer in pymalloc, but its first word (the count)
 * becomes a free-list link: an address, far beyond any count. */
static int
looks_alive(const PyCodeObject *head)
{
    Py_ssize_t count = ((const PyObject *)head)->ob_refcnt;
    return count > 0 && (uint64_t)count < ((uint64_t)1 << 40);
}

/* The facts of the header just read for the code at `address` (0 when it is no code
 * object's), kept in the code cache when they look like a live object's. */
static int
learn_facts(const void *address, const PyCodeObject *head, rs_code_facts *facts, uint32_t ticket)
{
    if (!facts_of(head, facts)) {
        return 0;
    }
    if (looks_alive(head)) {
        rs_code_cache_keep(address, facts, ticket);
    }
    return 1;
}

/* Fills `out` from a frame's code address, instruction and code facts (`is_code` 0 when its
 * executable is no code object); returns 1 for a visible Python frame, 0 for one to skip, -1
 * when it is invalid (the walk stops). */
static int
describe_frame(const void *code_address, const _Py_CODEUNIT *instruction, int is_code,
               const rs_code_facts *facts, rs_raw_frame *out)
{
    if (!is_code) {
#if PY_VERSION_HEX >= 0x030D0000
        return 0; /* 3.13 frames may run no code object (f_executable is None). */
#else
        return -1;
#endif
    }
    const char *bytecode = (const char *)code_address + CODE_HEAD_SIZE;
    intptr_t units = ((const char *)instruction - bytecode) / (intptr_t)sizeof(_Py_CODEUNIT);
    if (units < facts->first_traceable) {
        return 0; /* Not started yet. */
    }
    if (units >= facts->units) {
        return -1;
    }
    out->code = code_address;
    out->instruction = (int32_t)(units * (intptr_t)sizeof(_Py_CODEUNIT));
    out->filename = facts->filename;
    out->qualname = facts->qualname;
    out->first_line = facts->first_line;
    out->linetable = facts->linetable;
    out->serial = facts->serial;
    return 1;
}

/* Copies the frame head at `address`, from the window when it lies inside. Returns 0 or -1. */
static int
copy_frame_head(frame_head *head, const char *address, const char *window_start, size_t window_size)
{
    if (window_start != NULL && address >= window_start &&
        (size_t)(address - window_start) + FRAME_HEAD_SIZE <= window_size) {
        memcpy(head, window + (address - window_start), FRAME_HEAD_SIZE);
        return 0;
    }
    return rs_safe_read(head, address, FRAME_HEAD_SIZE);
}

int
rs_stack_read(const PyThreadState *tstate, rs_raw_stack *stack)
{
    union {
        PyThreadState state;
        char bytes[sizeof(PyThreadState)];
    } thread;
    stack->depth = 0;
    stack->truncated = 0;
    stack->context_after = NULL;
    uint32_t ticket = rs_code_cache_ticket(); /* Before anything of the stack is read. */
    if (rs_safe_read(&thread, tstate, sizeof(thread)) < 0) {
        return -1;
    }
    stack->context = thread.state.context;
    /* One read for the current frame (3.11, 3.12: behind tstate->cframe) and the frame data
     * stack, from its chunk's start to its top. */
    rs_safe_range ranges[2];
    int count = 0;
    const char *address = NULL;
#if PY_VERSION_HEX >= 0x030D0000
    address = (const char *)thread.state.current_frame;
#else
    ranges[count++] =
        (rs_safe_range){&address, &thread.state.cframe->current_frame, sizeof(address)};
#endif
    const char *window_start = NULL;
    size_t window_size = 0;
    if (thread.state.datastack_chunk != NULL) {
        const char *start =
            (const char *)thread.state.datastack_chunk + offsetof(_PyStackChunk, data);
        const char *end = (const char *)thread.state.datastack_top;
        if (end > start && (size_t)(end - start) <= WINDOW_MAX_BYTES) {
            window_start = start;
            window_size = (size_t)(end - start);
            ranges[count++] = (rs_safe_range){window, start, window_size};
        }
    }
    int read = rs_safe_read_ranges(ranges, count);
#if PY_VERSION_HEX < 0x030D0000
    if (read == 0) {
        stack->context_after = stack->context; /* No current frame: an empty stack. */
        return 0;
    }
#endif
    if (window_start != NULL && read < count) {
        window_start = NULL; /* The data stack could not be copied: frames are read one by one. */
    }
    int visited = 0; /* Frames with code found, outermost last. */
    for (int hops = 0; address != NULL && hops < WALK_MAX_FRAMES; hops++) {
        frame_head head;
        if (((uintptr_t)address & (sizeof(void *) - 1)) != 0 ||
            copy_frame_head(&head, address, window_start, window_size) < 0) {
            break;
        }
        visited += frame_position(&head.frame, &walk_code[visited], &walk_instruction[visited]);
        address = (const char *)head.frame.previous;
    }
    /* The context again, then the code headers the cache lacks, in one vectored read: the
     * context read after the walk tells whether the thread switched contexts meanwhile. */
    rs_safe_range reads[1 + WALK_MAX_FRAMES];
    int heads[WALK_MAX_FRAMES]; /* The visited frame whose header each read copies. */
    int unknown = 0;
    reads[0] =
        (rs_safe_range){&stack->context_after, &tstate->context, sizeof(stack->context_after)};
    for (int i = 0; i < visited; i++) {
        walk_known[i] = rs_code_cache_find(walk_code[i], &walk_facts[i]) ? 1 : -1;
        if (walk_known[i] < 0) {
            reads[1 + unknown] =
                (rs_safe_range){&code_heads[unknown], walk_code[i], CODE_HEAD_SIZE};
            heads[unknown++] = i;
        }
    }
    int readable = rs_safe_read_ranges(reads, 1 + unknown) - 1;
    if (readable < 0) {
        return 0; /* Not even the context: the thread is going away. An empty stack. */
    }
    for (int j = 0; j < readable; j++) {
        int i = heads[j];
        walk_known[i] = learn_facts(walk_code[i], &code_heads[j].code, &walk_facts[i], ticket);
    }
    for (int i = 0; i < visited && walk_known[i] >= 0; i++) {
        if (stack->depth == RS_STACK_MAX_DEPTH) {
            stack->truncated = 1;
            break;
        }
        int visible = describe_frame(walk_code[i], walk_instruction[i], walk_known[i],
                                     &walk_facts[i], &stack->frames[stack->depth]);
        if (visible < 0) {
            break;
        }
        stack->depth += visible;
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

/* Whether a suspended coroutine's frame waits in an await (yield from), so the top of its
 * value stack is what it awaits; CPython's _PyGen_yf makes the same test. 3.13 has a frame
 * state for it; before, the instruction after the current one (`next`, copied by the caller)
 * is a RESUME whose argument is 2 or more. */
static int
waits_in_await(_Py_CODEUNIT next, int8_t state)
{
#if PY_VERSION_HEX >= 0x030D0000
    (void)next;
    return state == FRAME_SUSPENDED_YIELD_FROM;
#else
#if PY_VERSION_HEX >= 0x030C0000
    int opcode = next.op.code, argument = next.op.arg;
    int resumes = opcode == RESUME || opcode == INSTRUMENTED_RESUME;
#else
    int opcode = _Py_OPCODE(next), argument = _Py_OPARG(next);
    int resumes = opcode == RESUME || opcode == RESUME_QUICK;
#endif
    (void)state;
    return resumes && argument >= 2;
#endif
}

/* A coroutine or generator object up to the end of its frame's head: the frame lives inside
 * the object, so one read copies both. */
#define GENERATOR_HEAD_SIZE (offsetof(PyGenObject, gi_iframe) + FRAME_HEAD_SIZE)

typedef union {
    PyGenObject generator; /* Valid up to gi_iframe. */
    struct {
        char object[offsetof(PyGenObject, gi_iframe)];
        frame_head frame;
    } parts;
} generator_head;

_Static_assert(offsetof(generator_head, parts.frame) == offsetof(PyGenObject, gi_iframe),
               "a generator's frame head is copied where its object keeps it");

int
rs_stack_read_suspended(const void *coroutine, rs_raw_stack *stack)
{
    rs_raw_frame chain[RS_STACK_MAX_DEPTH]; /* Outermost first, reversed at the end. */
    int depth = 0;

    stack->depth = 0;
    stack->truncated = 0;
    stack->context = NULL;
    stack->context_after = NULL;
    uint32_t ticket = rs_code_cache_ticket();
    /* Two reads a level: the object with its frame head; then, in one call, the frame's code
     * header (unless the code cache knows it), the instruction after the current one (3.11,
     * 3.12) and the top of its value stack (what it awaits, if it waits in an await). */
    while (coroutine != NULL && depth < RS_STACK_MAX_DEPTH) {
        generator_head head;
        if (rs_safe_read(&head, coroutine, GENERATOR_HEAD_SIZE) < 0 ||
            (Py_TYPE(&head.generator) != &PyCoro_Type && Py_TYPE(&head.generator) != &PyGen_Type) ||
            !is_suspended(head.generator.gi_frame_state)) {
            break;
        }
        const char *frame_address = (const char *)coroutine + offsetof(PyGenObject, gi_iframe);
        const _PyInterpreterFrame *frame = &head.parts.frame.frame;
        const void *code_address;
        const _Py_CODEUNIT *instruction;
        if (!frame_position(frame, &code_address, &instruction)) {
            break;
        }
        code_head code;
        _Py_CODEUNIT next = {0};
        const void *awaited = NULL;
        int top = frame->stacktop - 1;
        rs_code_facts facts;
        int cached = rs_code_cache_find(code_address, &facts);
        rs_safe_range reads[3];
        int count = 0;
        if (!cached) {
            reads[count++] = (rs_safe_range){&code, code_address, CODE_HEAD_SIZE};
        }
#if PY_VERSION_HEX < 0x030D0000
        reads[count++] = (rs_safe_range){&next, instruction + 1, sizeof(next)};
#endif
        if (top >= 0) {
            reads[count++] =
                (rs_safe_range){&awaited,
                                frame_address + offsetof(_PyInterpreterFrame, localsplus) +
                                    (size_t)top * sizeof(PyObject *),
                                sizeof(awaited)};
        }
        int read = count > 0 ? rs_safe_read_ranges(reads, count) : 0;
        int is_code = cached;
        if (!cached) {
            if (read < 1) {
                break;
            }
            is_code = learn_facts(code_address, &code.code, &facts, ticket);
        }
        if (describe_frame(code_address, instruction, is_code, &facts, &chain[depth]) != 1) {
            break;
        }
        depth++;
        if (read < count || top < 0 || !waits_in_await(next, head.generator.gi_frame_state)) {
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
