/*
 * callsite.h: where a statement came from, captured cheaply and resolved late.
 *
 * Capture walks the interpreter's frame chain and keeps (code object, instruction offset) pairs,
 * innermost first; it never creates frame objects and never calls Python. Resolution to
 * file:line:function happens only when a report is built, against the configured path prefixes
 * that are never a call site (stdlib, site-packages, reqscope).
 */
#ifndef RS_CALLSITE_H
#define RS_CALLSITE_H

#include "reqscope.h"

/* Frames kept per call site. An ORM stack from a view down to the driver is 15 to 30 frames;
 * past 64 the user's frame is rarely what we would miss, and walking costs ~2 ns a frame. */
#define RS_CALLSITE_MAX_DEPTH 64

/* Lazy-loader code objects that can be registered (Django and SQLAlchemy need four). */
#define RS_CALLSITE_MAX_LAZY_LOADERS 16

typedef struct {
    PyCodeObject *code; /* Borrowed while captured; strong once interned in a scope. */
    int instruction;    /* Byte offset of the executing instruction. */
} rs_frame_ref;

typedef struct {
    uint64_t hash;                              /* Of the pairs; identifies the stack. */
    int depth;                                  /* Pairs filled. */
    rs_frame_ref frames[RS_CALLSITE_MAX_DEPTH]; /* Innermost first. */
    PyObject *lazy_owner;   /* "self" of a registered lazy-loader frame, borrowed, or NULL. */
    PyObject *lazy_labeler; /* Its labeler, borrowed, or NULL. */
} rs_callsite_capture;

/* Captures the calling thread's Python stack into `out`. Holds the GIL; cannot fail. */
void rs_callsite_capture_stack(rs_callsite_capture *out);

/* The innermost frame running on this thread (the hook's caller), for nesting checks. */
const void *rs_callsite_current_frame(void);

/* Whether `frame`, from rs_callsite_current_frame, is among the frames a capture would keep
 * now (the innermost RS_CALLSITE_MAX_DEPTH): a statement begun there encloses this one. Holds
 * the GIL; cannot fail. */
int rs_callsite_frame_is_running(const void *frame);

/*
 * Registers `code` as a lazy-loader frame: when a statement runs below it, its first local is
 * kept, and at report time `labeler(first_local)` names the relation ("app.Book.author").
 * Returns 0, or -1 with an exception set when the registry is full or the arguments are wrong.
 */
int rs_callsite_register_lazy_loader(PyObject *code, PyObject *labeler);

/*
 * Resolves `frames` to the innermost frame whose file starts with none of `exclude_paths`
 * (a tuple of str); when every frame is excluded (a query run by a library on its own), the
 * innermost one outside `own_paths` (reqscope itself), so a report never blames reqscope's
 * hooks. Sets new references to the file name and function name, and the line. Returns 0, or
 * -1 with an exception set.
 */
int rs_callsite_resolve(const rs_frame_ref *frames, int depth, PyObject *exclude_paths,
                        PyObject *own_paths, PyObject **file, int *line, PyObject **function);

/* Internal to dbhooks: a registered lazy loader, and the registry capture reads. Written at
 * import time with the GIL (rs_callsite_register_lazy_loader), read by hooks with the GIL. */
typedef struct {
    PyObject *code;    /* Strong. */
    PyObject *labeler; /* Strong. */
} rs__lazy_loader;

extern rs__lazy_loader rs__lazy_loaders[RS_CALLSITE_MAX_LAZY_LOADERS];
extern int rs__lazy_loader_count;

/* Internal to dbhooks: one step of the hash of a captured stack's (code, instruction) pairs. */
static inline uint64_t
rs__callsite_mix(uint64_t hash, uint64_t value)
{
    hash ^= value + 0x9e3779b97f4a7c15ull + (hash << 6) + (hash >> 2);
    return hash * 0xff51afd7ed558ccdull;
}

/* Internal to dbhooks, for both builds' capture: the labeler registered for `code`, or NULL. */
static inline PyObject *
rs__lazy_labeler_of(PyObject *code)
{
    for (int i = 0; i < rs__lazy_loader_count; i++) {
        if (code == rs__lazy_loaders[i].code) {
            return rs__lazy_loaders[i].labeler;
        }
    }
    return NULL;
}

/* Internal to dbhooks: starts an empty capture in `out`. */
static inline void
rs__callsite_begin(rs_callsite_capture *out)
{
    out->hash = 0xcbf29ce484222325ull;
    out->depth = 0;
    out->lazy_owner = NULL;
    out->lazy_labeler = NULL;
}

/* Internal to dbhooks: keeps one visible frame (below RS_CALLSITE_MAX_DEPTH) and hashes it. */
static inline void
rs__callsite_keep(rs_callsite_capture *out, PyCodeObject *code, int instruction)
{
    out->hash = rs__callsite_mix(rs__callsite_mix(out->hash, (uint64_t)(uintptr_t)code),
                                 (uint64_t)instruction);
    out->frames[out->depth].code = code;
    out->frames[out->depth].instruction = instruction;
    out->depth++;
}

#endif /* RS_CALLSITE_H */
