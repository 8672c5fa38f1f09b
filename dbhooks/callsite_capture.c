/*
 * callsite_capture.c: capture of the Python stack under a SQL statement (native build).
 *
 * Capture runs inside the SQL hook for every statement, so it reads the interpreter's frame
 * structs directly (see compat.h) and does no allocation and no Python call: it copies up to
 * RS_CALLSITE_MAX_DEPTH (code, instruction) pairs and hashes them. A frame of a registered lazy
 * loader (Django's related-object descriptors, SQLAlchemy's LazyLoader) also leaves its "self"
 * behind, so the report can label an N+1 with the relation that caused it.
 */
#include "callsite.h"

#include "compat.h"

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
            for (int i = 0; i < rs__lazy_loader_count; i++) {
                if ((PyObject *)code == rs__lazy_loaders[i].code) {
                    out->lazy_owner = rs_compat_frame_first_local(frame);
                    out->lazy_labeler = out->lazy_owner ? rs__lazy_loaders[i].labeler : NULL;
                    break;
                }
            }
        }
        out->frames[depth].code = code;
        out->frames[depth].instruction = instruction;
        out->frame_addresses[depth] = frame;
        hash = rs__callsite_mix(hash, (uint64_t)(uintptr_t)code);
        hash = rs__callsite_mix(hash, (uint64_t)instruction);
        depth++;
    }
    out->depth = depth;
    out->hash = hash;
}
