/*
 * state.c: what one scope's memory tracing collects (see memory.h): totals and a site per
 * distinct allocation stack. Its sites hold code objects, created and released only at safe
 * points (scope entry, exit and deallocation), never inside an allocator hook, where releasing
 * one could run a weakref callback. A state belongs to its scope; the allocations it leaves
 * alive are handed on when the scope ends (hooks.c).
 */
#include "memory.h"

rs_mem_state *
rs_mem_state_new(uint64_t rate, int nframes)
{
    rs_mem_state *state = (rs_mem_state *)rs_raw_calloc(1, sizeof(*state));
    if (state != NULL) {
        state->rate = rate ? rate : 1;
        state->nframes =
            nframes < 1 ? 1 : (nframes > RS_CALLSITE_MAX_DEPTH ? RS_CALLSITE_MAX_DEPTH : nframes);
        state->live_head = UINT32_MAX;
    }
    return state;
}

void
rs_mem_state_free(rs_mem_state *state)
{
    if (state == NULL) {
        return;
    }
    rs_mem_site *site, *next;
    HASH_ITER(hh, state->sites, site, next) {
        HASH_DEL(state->sites, site);
        for (int i = 0; i < site->depth; i++) {
            Py_DECREF(site->frames[i].code);
        }
        rs_raw_free(site->frames);
        rs_raw_free(site);
    }
    rs_raw_free(state);
}

rs_mem_site *
rs__mem_site_for(rs_mem_state *state, const rs_frame_ref *stack, int depth)
{
    depth = depth < state->nframes ? depth : state->nframes;
    uint64_t hash = 0xcbf29ce484222325ull;
    for (int i = 0; i < depth; i++) {
        hash = (hash ^ (uint64_t)(uintptr_t)stack[i].code) * 0x100000001b3ull;
        hash = (hash ^ (uint64_t)stack[i].instruction) * 0x100000001b3ull;
    }
    rs_mem_site *site;
    HASH_FIND(hh, state->sites, &hash, sizeof(hash), site);
    if (site != NULL) {
        return site;
    }
    if (state->site_count >= RS_MEM_MAX_SITES) {
        state->dropped_sites++;
        return NULL;
    }
    site = (rs_mem_site *)rs_raw_calloc(1, sizeof(*site));
    rs_frame_ref *frames =
        (rs_frame_ref *)rs_raw_malloc(sizeof(rs_frame_ref) * (size_t)(depth + 1));
    if (site == NULL || frames == NULL) {
        rs_raw_free(site);
        rs_raw_free(frames);
        state->dropped_sites++;
        return NULL;
    }
    site->hash = hash;
    site->depth = depth;
    site->frames = frames;
    HASH_ADD(hh, state->sites, hash, sizeof(site->hash), site);
    if (RS_HASH_ADD_FAILED(site)) {
        rs_raw_free(site);
        rs_raw_free(frames);
        state->dropped_sites++;
        return NULL;
    }
    for (int i = 0; i < depth; i++) {
        frames[i] = stack[i];
        Py_INCREF(frames[i].code);
    }
    state->site_count++;
    return site;
}
