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

int
rs_callsite_frame_is_running(const void *wanted)
{
    int depth = 0; /* Visible frames passed, as a capture counts them. */
    for (rs_pyframe *frame = rs_compat_current_frame(PyThreadState_Get());
         frame != NULL && depth < RS_CALLSITE_MAX_DEPTH; frame = frame->previous) {
        if (!rs_compat_frame_is_visible(frame)) {
            continue;
        }
        if (frame == wanted) {
            return 1;
        }
        depth++;
    }
    return 0;
}

void
rs_callsite_capture_stack(rs_callsite_capture *out)
{
    rs__callsite_begin(out);
    for (rs_pyframe *frame = rs_compat_current_frame(PyThreadState_Get());
         frame != NULL && out->depth < RS_CALLSITE_MAX_DEPTH; frame = frame->previous) {
        if (!rs_compat_frame_is_visible(frame)) {
            continue;
        }
        PyCodeObject *code = rs_compat_frame_code(frame);
        if (out->lazy_owner == NULL) {
            PyObject *labeler = rs__lazy_labeler_of((PyObject *)code);
            if (labeler != NULL) {
                out->lazy_owner = rs_compat_frame_first_local(frame);
                out->lazy_labeler = out->lazy_owner ? labeler : NULL;
            }
        }
        rs__callsite_keep(out, code, rs_compat_frame_instruction(frame));
    }
}
