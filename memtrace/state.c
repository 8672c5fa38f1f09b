/*
 * state.c: what one scope's memory tracing collects (see memory.h): totals and a site per
 * distinct allocation stack. A state outlives its scope while allocations it sampled are
 * alive, so that their frees are still counted; its sites hold code objects, which are only
 * released at a safe point (never inside an allocator hook, where releasing one could run a
 * weakref callback).
 */
#include "memory.h"

/* States released inside a hook, freed at the next safe point. Protected by the GIL. */
static rs_mem_state **pending_free;
static int pending_count, pending_capacity;

rs_mem_state *
rs_mem_state_new(uint64_t rate, int nframes)
{
    rs_mem_state *state = (rs_mem_state *)rs_raw_calloc(1, sizeof(*state));
    if (state != NULL) {
        state->references = 1;
        state->rate = rate ? rate : 1;
        state->nframes =
            nframes < 1 ? 1 : (nframes > RS_CALLSITE_MAX_DEPTH ? RS_CALLSITE_MAX_DEPTH : nframes);
    }
    return state;
}

static void
free_state(rs_mem_state *state)
{
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

/* Called by the free hook when a state's last reference goes: defer the free. */
void
rs__mem_state_release_in_hook(rs_mem_state *state)
{
    if (--state->references > 0) {
        return;
    }
    if (pending_count == pending_capacity) {
        int capacity = pending_capacity ? pending_capacity * 2 : 16;
        rs_mem_state **grown =
            (rs_mem_state **)rs_raw_realloc(pending_free, sizeof(*grown) * (size_t)capacity);
        if (grown == NULL) {
            return; /* Leaked, never freed unsafely. */
        }
        pending_free = grown;
        pending_capacity = capacity;
    }
    pending_free[pending_count++] = state;
}

void
rs_mem_state_release(rs_mem_state *state)
{
    if (state != NULL && --state->references == 0) {
        free_state(state);
    }
}

void
rs_mem_collect(void)
{
    while (pending_count > 0) {
        free_state(pending_free[--pending_count]);
    }
}

rs_mem_site *
rs__mem_site_for(rs_mem_state *state, const rs_callsite_capture *capture)
{
    int depth = capture->depth < state->nframes ? capture->depth : state->nframes;
    uint64_t hash = 0xcbf29ce484222325ull;
    for (int i = 0; i < depth; i++) {
        hash = (hash ^ (uint64_t)(uintptr_t)capture->frames[i].code) * 0x100000001b3ull;
        hash = (hash ^ (uint64_t)capture->frames[i].instruction) * 0x100000001b3ull;
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
    for (int i = 0; i < depth; i++) {
        frames[i] = capture->frames[i];
        Py_INCREF(frames[i].code);
    }
    site->hash = hash;
    site->depth = depth;
    site->frames = frames;
    HASH_ADD(hh, state->sites, hash, sizeof(site->hash), site);
    state->site_count++;
    return site;
}
