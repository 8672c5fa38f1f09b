/*
 * queries.c: per-scope SQL recording (see queries.h).
 *
 * The hot path is rs_sql_begin + rs_sql_end. Begin does the expensive, untimed work: the
 * fingerprint of the text, the keyed digest of the parameters and the call-site capture, then
 * reads the clock last. End reads the clock first, then updates counters and three key sets:
 * distinct parameters per fingerprint, distinct parameters per (fingerprint, call site) for the
 * N+1 detector, and (fingerprint, parameters, alias, write epoch) for duplicates: a write on an
 * alias starts a new epoch, so a read repeated after a write is not a duplicate. Nothing here
 * calls Python except the repr of parameters when show_params is on, and nothing allocates
 * through PyMem; tables live in their state's arena (raw memory) and stop growing at their caps.
 */
#include "queries.h"

#include "arena_hash.h" /* The tables live in their state's arena; protected by the GIL. */
#include "clock.h"
#include "fingerprint_cache.h"
#include "params.h"
#include "rawalloc.h"
#include "utf8.h"

static inline uint64_t
combine(uint64_t hash, uint64_t value)
{
    hash ^= value + 0x9e3779b97f4a7c15ull + (hash << 6) + (hash >> 2);
    return hash * 0xff51afd7ed558ccdull;
}

/* The state of the last scope freed, kept for the next one with its arena's first chunk
 * (protected by the GIL, as are the scopes that make and free states). A state is 6 KiB, a size
 * that glibc's malloc serves from its large bins, where a request first merges every small free
 * chunk the program left (malloc_consolidate): in callgrind on the Django view that was 30 k of
 * the 34 k instructions a request's SQL recording added, and most of its instruction-cache
 * misses. */
static rs_sql_state *spare_state;

rs_sql_state *
rs_sql_state_new(void)
{
    rs_sql_state *state = spare_state;
    if (state != NULL) {
        /* The arena was reset when the state was freed, and its in-flight slots released. */
        spare_state = NULL;
        memset(&state->queries, 0,
               offsetof(rs_sql_state, aliases) - offsetof(rs_sql_state, queries));
    }
    else if ((state = (rs_sql_state *)rs_raw_calloc(1, sizeof(rs_sql_state))) == NULL) {
        return NULL;
    }
    rs_keyset_init(&state->params_seen, RS_SQL_MAX_KEYS, &state->arena);
    rs_keyset_init(&state->site_params_seen, RS_SQL_MAX_KEYS, &state->arena);
    rs_keyset_init(&state->executions_seen, RS_SQL_MAX_KEYS, &state->arena);
    return state;
}

static void
release_inflight(rs_sql_inflight *slot)
{
    Py_CLEAR(slot->sql);
    Py_CLEAR(slot->params);
    Py_CLEAR(slot->params_repr);
    slot->in_use = 0;
}

void
rs_sql_state_free(rs_sql_state *state)
{
    if (state == NULL) {
        return;
    }
    for (int i = 0; i < RS_SQL_MAX_INFLIGHT; i++) {
        if (state->inflight[i].in_use) {
            release_inflight(&state->inflight[i]);
        }
    }
    for (int i = 0; i < RS_SQL_RECENT_CURSORS; i++) {
        Py_CLEAR(state->recent[i].sql);
        Py_CLEAR(state->recent[i].params);
    }
    /* The entries go with the arena; only the references they hold are released here. */
    rs_sql_query *query, *next_query;
    HASH_ITER(hh, state->queries, query, next_query) {
        Py_XDECREF(query->explain);
        Py_XDECREF(query->params_repr);
    }
    rs_sql_callsite *callsite, *next_callsite;
    HASH_ITER(hh, state->callsites, callsite, next_callsite) {
        for (int i = 0; i < callsite->depth; i++) {
            Py_DECREF(callsite->frames[i].code);
        }
        Py_XDECREF(callsite->lazy_owner);
        Py_XDECREF(callsite->lazy_labeler);
        Py_XDECREF(callsite->file);
        Py_XDECREF(callsite->function);
    }
    rs_arena_retire(&state->arena, state, (void **)&spare_state);
}

/* Finds or adds the call site of `frames` in `state`. Returns NULL when the table is full or
 * memory ran out (counted). New entries take references to the code objects. */
static rs_sql_callsite *
intern_callsite(rs_sql_state *state, uint64_t hash, const rs_frame_ref *frames, int depth,
                PyObject *lazy_owner, PyObject *lazy_labeler)
{
    rs_sql_callsite *callsite;
    HASH_FIND(hh, state->callsites, &hash, sizeof(hash), callsite);
    if (callsite != NULL) {
        return callsite;
    }
    if (state->callsite_count >= RS_SQL_MAX_CALLSITES) {
        state->dropped.callsites++;
        return NULL;
    }
    callsite = (rs_sql_callsite *)rs_arena_calloc(&state->arena, 1, sizeof(*callsite));
    rs_frame_ref *copy =
        (rs_frame_ref *)rs_arena_alloc(&state->arena, sizeof(rs_frame_ref) * (size_t)depth);
    if (callsite == NULL || copy == NULL) {
        state->dropped.memory++;
        return NULL;
    }
    memcpy(copy, frames, sizeof(rs_frame_ref) * (size_t)depth);
    callsite->hash = hash;
    callsite->depth = depth;
    callsite->frames = copy;
    RS_ARENA_HASH_ADD(&state->arena, state->callsites, hash, sizeof(callsite->hash), callsite);
    if (RS_HASH_ADD_FAILED(callsite)) {
        state->dropped.memory++;
        return NULL;
    }
    for (int i = 0; i < depth; i++) {
        Py_INCREF(copy[i].code);
    }
    callsite->lazy_owner = Py_XNewRef(lazy_owner);
    callsite->lazy_labeler = Py_XNewRef(lazy_labeler);
    state->callsite_count++;
    return callsite;
}

/* Finds or adds the query of `fp`. A new query takes `fp`'s text when `fp` is in `state`'s own
 * arena (`own_text`), a copy otherwise. Returns NULL when full or out of memory (counted). */
static rs_sql_query *
intern_query(rs_sql_state *state, const rs_fingerprint *fp, int own_text)
{
    rs_sql_query *query;
    HASH_FIND(hh, state->queries, &fp->id, sizeof(fp->id), query);
    if (query != NULL) {
        return query;
    }
    if (state->query_count >= RS_SQL_MAX_QUERIES) {
        state->dropped.queries++;
        return NULL;
    }
    query = (rs_sql_query *)rs_arena_calloc(&state->arena, 1, sizeof(*query));
    char *text = own_text ? fp->text : rs_arena_strndup(&state->arena, fp->text, fp->length);
    if (query == NULL || text == NULL) {
        state->dropped.memory++;
        return NULL;
    }
    query->fingerprint = fp->id;
    query->text = text;
    query->kind = fp->kind;
    query->fp_flags = fp->flags;
    RS_ARENA_HASH_ADD(&state->arena, state->queries, fingerprint, sizeof(query->fingerprint),
                      query);
    if (RS_HASH_ADD_FAILED(query)) {
        state->dropped.memory++;
        return NULL;
    }
    state->query_count++;
    return query;
}

static rs_sql_site_use *
intern_site_use(rs_sql_state *state, rs_sql_query *query, rs_sql_callsite *callsite)
{
    uint64_t key = combine(query->fingerprint, callsite->hash);
    rs_sql_site_use *use;
    HASH_FIND(hh, state->site_uses, &key, sizeof(key), use);
    if (use != NULL) {
        return use;
    }
    if (state->site_use_count >= RS_SQL_MAX_SITE_USES) {
        state->dropped.callsites++;
        return NULL;
    }
    use = (rs_sql_site_use *)rs_arena_calloc(&state->arena, 1, sizeof(*use));
    if (use == NULL) {
        state->dropped.memory++;
        return NULL;
    }
    use->key = key;
    use->query = query;
    use->callsite = callsite;
    RS_ARENA_HASH_ADD(&state->arena, state->site_uses, key, sizeof(use->key), use);
    if (RS_HASH_ADD_FAILED(use)) {
        state->dropped.memory++;
        return NULL;
    }
    state->site_use_count++;
    return use;
}

/* The write epoch of an alias; a write bumps it. Returns a pointer, or NULL when full. */
static uint64_t *
alias_epoch(rs_sql_state *state, uint64_t alias_hash)
{
    for (int i = 0; i < state->alias_count; i++) {
        if (state->aliases[i].alias_hash == alias_hash) {
            return &state->aliases[i].write_epoch;
        }
    }
    if (state->alias_count == RS_SQL_MAX_ALIASES) {
        state->dropped.aliases++;
        return NULL;
    }
    state->aliases[state->alias_count].alias_hash = alias_hash;
    state->aliases[state->alias_count].write_epoch = 0;
    return &state->aliases[state->alias_count++].write_epoch;
}

/*
 * Points `*text` at the UTF-8 bytes of `sql` (str or bytes). ASCII str and bytes are used in
 * place; other str are encoded into `*owned` (raw memory, caller frees). Returns 0, or -1 when
 * memory ran out.
 */
static int
sql_text(PyObject *sql, const char **text, size_t *length, char **owned)
{
    *owned = NULL;
    *text = NULL;
    if (PyBytes_Check(sql)) {
        *text = PyBytes_AS_STRING(sql);
        *length = (size_t)PyBytes_GET_SIZE(sql);
        return 0;
    }
    if (PyUnicode_IS_ASCII(sql)) {
        *text = (const char *)PyUnicode_DATA(sql);
        *length = (size_t)PyUnicode_GET_LENGTH(sql);
        return 0;
    }
    /* One character more than the fingerprint reads is enough for it to see the cut. */
    Py_ssize_t count = PyUnicode_GET_LENGTH(sql);
    if (count > (Py_ssize_t)RS_FP_MAX_INPUT + 1) {
        count = (Py_ssize_t)RS_FP_MAX_INPUT + 1;
    }
    int kind = PyUnicode_KIND(sql);
    const void *data = PyUnicode_DATA(sql);
    char *buffer = (char *)rs_raw_malloc((size_t)count * 4 + 1);
    size_t used = 0; /* Bytes written to buffer. */
    if (buffer == NULL) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        used += rs_utf8_put(PyUnicode_READ(kind, data, i), buffer + used);
    }
    *text = buffer;
    *length = used;
    *owned = buffer;
    return 0;
}

/* Whether a statement already in flight on `conn_key` encloses the one being begun: an
 * event-style layer's statement covers its connection; a wrapper's covers the frames below
 * its own; either way the inner layer sends the same statement, so the fingerprints agree.
 * Asked before the call site is captured, which an enclosed statement never needs.
 * A connection-scoped statement still in flight when its own layer begins another one
 * on the same connection was abandoned (its end never came, say because another listener
 * raised): it is dropped and counted rather than hiding every later statement. */
static int
is_nested(rs_sql_state *state, uintptr_t conn_key, int flags, uint64_t fingerprint)
{
    for (int i = 0; i < RS_SQL_MAX_INFLIGHT; i++) {
        rs_sql_inflight *slot = &state->inflight[i];
        if (!slot->in_use || slot->conn_key != conn_key) {
            continue;
        }
        if (slot->frame == NULL && (flags & RS_SQL_CONN_SCOPED)) {
            release_inflight(slot);
            state->inflight_count--;
            state->dropped.abandoned++;
            continue;
        }
        if (slot->fingerprint.id != fingerprint) {
            continue; /* Another statement run meanwhile (by a parameter's __hash__, say). */
        }
        if (slot->frame == NULL || rs_callsite_frame_is_running(slot->frame)) {
            return 1;
        }
    }
    return 0;
}

static PyObject *
params_repr(PyObject *params)
{
    PyObject *repr = PyObject_Repr(params);
    if (repr == NULL) {
        PyErr_Clear();
        return NULL;
    }
    if (PyUnicode_GET_LENGTH(repr) > RS_SQL_PARAMS_REPR_MAX) {
        PyObject *cut = PyUnicode_Substring(repr, 0, RS_SQL_PARAMS_REPR_MAX);
        Py_DECREF(repr);
        if (cut == NULL) {
            PyErr_Clear();
            return NULL;
        }
        repr = PyUnicode_FromFormat("%U...", cut);
        Py_DECREF(cut);
        if (repr == NULL) {
            PyErr_Clear();
        }
    }
    return repr;
}

/* A token names a slot and the claim of it: slot + RS_SQL_MAX_INFLIGHT * (generation % 8),
 * at most 255, so it is a cached small int and never allocates. */
#define TOKEN_GENERATIONS 8

static int
token_of(int slot_index, const rs_sql_inflight *slot)
{
    return slot_index + RS_SQL_MAX_INFLIGHT * (int)(slot->generation % TOKEN_GENERATIONS);
}

int
rs_sql_begin(rs_scope *scope, uintptr_t conn_key, uintptr_t cursor_key, PyObject *alias,
             PyObject *sql, PyObject *params, int flags)
{
    rs_sql_state *state = scope->sql;
    rs_callsite_capture capture;

    if (!PyUnicode_Check(sql) && !PyBytes_Check(sql)) {
        state->dropped.unsupported++;
        return -1;
    }
    rs_fingerprint fingerprint;
    const char *text;
    size_t length;
    char *owned;
    if (sql_text(sql, &text, &length, &owned) < 0 ||
        rs_fp_cache_normalize(text, length, &state->arena, &fingerprint) < 0) {
        rs_raw_free(owned);
        state->dropped.memory++;
        return -1;
    }
    rs_raw_free(owned);
    if (state->inflight_count > 0 && is_nested(state, conn_key, flags, fingerprint.id)) {
        return -1;
    }
    rs_callsite_capture_stack(&capture);
    int slot_index = -1;
    for (int i = 0; i < RS_SQL_MAX_INFLIGHT; i++) {
        if (!state->inflight[i].in_use) {
            slot_index = i;
            break;
        }
    }
    if (slot_index < 0) {
        state->dropped.inflight++;
        return -1;
    }
    /* Claimed at once: hashing or repr of the parameters below may run Python code, even SQL,
     * which must find this slot taken and this statement in flight. */
    rs_sql_inflight *slot = &state->inflight[slot_index];
    slot->in_use = 1;
    slot->generation++;
    state->inflight_count++;
    slot->flags = flags;
    slot->conn_key = conn_key;
    slot->cursor_key = cursor_key;
    slot->frame = (flags & RS_SQL_CONN_SCOPED) ? NULL : rs_callsite_current_frame();
    slot->sql = Py_NewRef(sql);
    slot->params = Py_XNewRef(params);
    slot->params_repr = NULL;
    slot->fingerprint = fingerprint; /* Its text is in the state's arena. */
    slot->callsite = intern_callsite(state, capture.hash, capture.frames, capture.depth,
                                     capture.lazy_owner, capture.lazy_labeler);
    if (alias != NULL && PyUnicode_Check(alias) && PyUnicode_IS_ASCII(alias)) {
        slot->alias_hash =
            rs_params_hash_bytes(PyUnicode_DATA(alias), (size_t)PyUnicode_GET_LENGTH(alias));
    }
    else {
        slot->alias_hash = 0;
    }
    slot->params_digest = rs_params_digest(params == Py_None ? NULL : params, flags & RS_SQL_MANY);
    if (scope->options.show_params && params != NULL && params != Py_None &&
        (!(flags & RS_SQL_MANY) || PyList_Check(params) || PyTuple_Check(params))) {
        slot->params_repr = params_repr(params);
    }
    slot->start_ns = rs_now_ns();
    return token_of(slot_index, slot);
}

int
rs_sql_token_slot(const rs_scope *scope, int token)
{
    if (scope->sql == NULL || token < 0 || token >= RS_SQL_MAX_INFLIGHT * TOKEN_GENERATIONS) {
        return -1;
    }
    int slot_index = token % RS_SQL_MAX_INFLIGHT;
    const rs_sql_inflight *slot = &scope->sql->inflight[slot_index];
    return slot->in_use && token_of(slot_index, slot) == token ? slot_index : -1;
}

/* Counts distinct parameters and duplicates of a read (see the file header). */
static void
count_read(rs_sql_state *state, rs_sql_query *query, rs_sql_site_use *use,
           const rs_sql_inflight *slot, const uint64_t *epoch, int failed)
{
    uint64_t params_key = combine(query->fingerprint, slot->params_digest);
    rs_keyset_result seen = rs_keyset_add(&state->params_seen, params_key);
    query->distinct_params += seen == RS_KEYSET_ADDED;
    state->dropped.params += seen == RS_KEYSET_FULL;
    if (use != NULL) {
        seen = rs_keyset_add(&state->site_params_seen, combine(params_key, use->callsite->hash));
        use->distinct_params += seen == RS_KEYSET_ADDED;
        state->dropped.params += seen == RS_KEYSET_FULL;
    }
    if (epoch == NULL || failed || (slot->flags & (RS_SQL_MANY | RS_SQL_SCRIPT))) {
        return;
    }
    uint64_t execution = combine(combine(params_key, slot->alias_hash), *epoch);
    seen = rs_keyset_add(&state->executions_seen, execution);
    if (seen == RS_KEYSET_PRESENT) {
        query->duplicates++;
        state->duplicates++;
    }
    state->dropped.params += seen == RS_KEYSET_FULL;
}

/* Logs a statement that may be slow, or updates its log entry: at least the smaller of slow_ms
 * and slow_min_ms, since the share-of-wall rule can only be judged when the scope ends. Returns
 * 1 when it is a read the caller should EXPLAIN now (first time for this fingerprint, one
 * statement, not failed). */
static int
log_if_slow(rs_sql_state *state, const rs_scope_options *options, rs_sql_recent *recent, int failed)
{
    rs_sql_query *query = recent->query;
    double duration_ms = (double)recent->duration_ns / 1e6;
    double candidate_ms =
        options->slow_ms < options->slow_min_ms ? options->slow_ms : options->slow_min_ms;
    if (recent->slow_index >= 0) {
        state->slow[recent->slow_index].duration_ns = recent->duration_ns;
        return 0;
    }
    if (duration_ms < candidate_ms) {
        return 0;
    }
    if (state->slow == NULL) {
        state->slow =
            (rs_sql_slow *)rs_arena_calloc(&state->arena, RS_SQL_MAX_SLOW, sizeof(rs_sql_slow));
    }
    if (state->slow != NULL && state->slow_count < RS_SQL_MAX_SLOW) {
        rs_sql_slow *entry = &state->slow[state->slow_count];
        entry->query = query;
        entry->callsite = recent->callsite;
        entry->duration_ns = recent->duration_ns;
        recent->slow_index = state->slow_count++;
    }
    else {
        state->dropped.slow++;
    }
    if (failed || query->kind != RS_STMT_READ || !options->explain || query->explain_requested ||
        (recent->flags & (RS_SQL_MANY | RS_SQL_SCRIPT))) {
        return 0;
    }
    query->explain_requested = 1;
    return 1;
}

/* Records one finished execution of `slot` (begun in `origin`) into `scope`'s tables. Returns 1
 * when this is a read that should be explained. */
static int
record(rs_scope *scope, const rs_sql_state *origin, const rs_sql_inflight *slot,
       uint64_t duration_ns, int64_t rowcount, int failed)
{
    rs_sql_state *state = scope->sql;
    const rs_fingerprint *fp = &slot->fingerprint;
    rs_sql_query *query = intern_query(state, fp, state == origin);

    state->count++;
    state->time_ns += duration_ns;
    state->errors += failed != 0;
    if (query == NULL) {
        return 0;
    }
    query->count++;
    query->time_ns += duration_ns;
    query->errors += failed != 0;
    if (duration_ns > query->max_ns) {
        query->max_ns = duration_ns;
    }
    if (rowcount > 0) {
        query->rows += (uint64_t)rowcount;
    }
    if (query->params_repr == NULL && slot->params_repr != NULL) {
        query->params_repr = Py_NewRef(slot->params_repr);
    }

    rs_sql_callsite *callsite = slot->callsite;
    if (callsite != NULL && state != origin) {
        callsite = intern_callsite(state, callsite->hash, callsite->frames, callsite->depth,
                                   callsite->lazy_owner, callsite->lazy_labeler);
    }
    rs_sql_site_use *use = callsite ? intern_site_use(state, query, callsite) : NULL;
    if (use != NULL) {
        use->count++;
        use->time_ns += duration_ns;
    }
    rs_sql_recent *recent = &state->recent[state->recent_next];
    state->recent_next = (state->recent_next + 1) % RS_SQL_RECENT_CURSORS;
    Py_XSETREF(recent->sql, state == origin ? Py_NewRef(slot->sql) : NULL);
    Py_XSETREF(recent->params, state == origin ? Py_XNewRef(slot->params) : NULL);
    recent->cursor_key = slot->cursor_key;
    recent->query = query;
    recent->use = use;
    recent->callsite = callsite;
    recent->duration_ns = duration_ns;
    recent->slow_index = -1;
    recent->flags = slot->flags;
    recent->count_fetched_rows = rowcount < 0;

    uint64_t *epoch = alias_epoch(state, slot->alias_hash);
    if (fp->kind == RS_STMT_READ) {
        count_read(state, query, use, slot, epoch, failed);
    }
    else if (fp->kind != RS_STMT_TRANSACTION && epoch != NULL) {
        (*epoch)++;
    }
    return log_if_slow(state, &scope->options, recent, failed);
}

int
rs_sql_end(rs_scope *scope, int slot_index, int64_t rowcount, int failed, uint64_t *fingerprint)
{
    uint64_t end_ns = rs_now_ns();
    rs_sql_state *origin = scope->sql;
    rs_sql_inflight *slot = &origin->inflight[slot_index];
    uint64_t duration_ns = end_ns > slot->start_ns ? end_ns - slot->start_ns : 0;

    int explain = record(scope, origin, slot, duration_ns, rowcount, failed);
    for (rs_scope *outer = scope->parent; outer != NULL; outer = outer->parent) {
        if (outer->state == RS_SCOPE_ACTIVE && outer->sql != NULL) {
            record(outer, origin, slot, duration_ns, rowcount, failed);
        }
    }
    *fingerprint = slot->fingerprint.id;
    release_inflight(slot);
    origin->inflight_count--;
    return explain;
}

/* Charges one fetch to the statement last run on `cursor_key` in one scope's tables. Returns
 * 1 when that made it a read to EXPLAIN, with `request` filled when not NULL. */
static int
charge_fetch(rs_sql_state *state, const rs_scope_options *options, uintptr_t cursor_key,
             uint64_t duration_ns, int64_t rows, rs_sql_explain_request *request)
{
    for (int i = 0; i < RS_SQL_RECENT_CURSORS; i++) {
        int index = (state->recent_next + RS_SQL_RECENT_CURSORS - 1 - i) % RS_SQL_RECENT_CURSORS;
        rs_sql_recent *recent = &state->recent[index];
        if (recent->cursor_key != cursor_key || recent->query == NULL) {
            continue;
        }
        rs_sql_query *query = recent->query;
        query->time_ns += duration_ns;
        if (recent->count_fetched_rows && rows > 0) {
            query->rows += (uint64_t)rows;
        }
        state->time_ns += duration_ns;
        recent->duration_ns += duration_ns;
        if (recent->duration_ns > query->max_ns) {
            query->max_ns = recent->duration_ns;
        }
        if (recent->use != NULL) {
            recent->use->time_ns += duration_ns;
        }
        if (!log_if_slow(state, options, recent, 0) || request == NULL || recent->sql == NULL) {
            return 0;
        }
        request->fingerprint = query->fingerprint;
        request->sql = recent->sql;
        request->params = recent->params;
        return 1;
    }
    return 0;
}

int
rs_sql_fetched(rs_scope *scope, uintptr_t cursor_key, uint64_t duration_ns, int64_t rows,
               rs_sql_explain_request *request)
{
    int explain = 0;
    for (rs_scope *each = scope; each != NULL; each = each->parent) {
        if (each->state == RS_SCOPE_ACTIVE && each->sql != NULL) {
            int asked = charge_fetch(each->sql, &each->options, cursor_key, duration_ns, rows,
                                     each == scope ? request : NULL);
            explain = explain || (each == scope && asked);
        }
    }
    return explain;
}

void
rs_sql_set_explain(rs_scope *scope, uint64_t fingerprint, PyObject *text)
{
    for (rs_scope *each = scope; each != NULL; each = each->parent) {
        if (each->sql == NULL) {
            continue;
        }
        rs_sql_query *query;
        HASH_FIND(hh, each->sql->queries, &fingerprint, sizeof(fingerprint), query);
        if (query != NULL && query->explain == NULL) {
            query->explain = Py_NewRef(text);
        }
    }
}

int
rs_sql_resolve_callsites(rs_sql_state *state, PyObject *exclude_paths, PyObject *own_paths)
{
    rs_sql_callsite *callsite, *next;
    HASH_ITER(hh, state->callsites, callsite, next) {
        if (callsite->file != NULL) {
            continue;
        }
        if (rs_callsite_resolve(callsite->frames, callsite->depth, exclude_paths, own_paths,
                                &callsite->file, &callsite->line, &callsite->function) < 0) {
            return -1;
        }
    }
    return 0;
}
