/*
 * queries.h: the per-scope SQL tables and the statement life cycle.
 *
 * A statement is begun (fingerprint, parameter digest and call site computed, then the clock
 * started), ended (clock stopped, the execution recorded into its scope and every active
 * enclosing scope), and may later be charged the time its cursor spends fetching. Everything is
 * protected by the GIL: the hooks that call in here run in Python threads holding it.
 */
#ifndef RS_QUERIES_H
#define RS_QUERIES_H

#include "rawalloc.h" /* Before uthash.h: its tables use raw memory. */
#include <uthash.h>

#include "arena.h"
#include "callsite.h"
#include "fingerprint.h"
#include "keyset.h"
#include "reqscope.h"

/* Flags a hook passes to rs_sql_begin. */
#define RS_SQL_MANY 0x1   /* executemany: params is a sequence of parameter sets. */
#define RS_SQL_SCRIPT 0x2 /* executescript: several statements in one text. */
#define RS_SQL_CONN_SCOPED                                             \
    0x4 /* An event-style layer (SQLAlchemy): the statement covers its \
           connection until it ends, whatever the Python stack. */

/* Caps, each with a drop counter in the report. A request with more distinct statements than
 * RS_SQL_MAX_QUERIES is a report nobody reads; the sets bound memory at ~16 bytes a key. */
#define RS_SQL_MAX_QUERIES 4096
#define RS_SQL_MAX_CALLSITES 4096
#define RS_SQL_MAX_SITE_USES 8192
#define RS_SQL_MAX_KEYS (1u << 20)
#define RS_SQL_MAX_SLOW 256     /* Slow-statement log, like Redis' slowlog. */
#define RS_SQL_MAX_INFLIGHT 32  /* Statements begun and not ended at once in one scope. */
#define RS_SQL_MAX_ALIASES 64   /* Connections aliases tracked for writes. */
#define RS_SQL_RECENT_CURSORS 8 /* Cursors whose fetches are charged to their statement. */
#define RS_SQL_PARAMS_REPR_MAX 200

typedef struct rs_sql_callsite {
    uint64_t hash;
    int depth;
    rs_frame_ref *frames;   /* Strong references to the code objects, innermost first. */
    PyObject *lazy_owner;   /* Strong, or NULL. */
    PyObject *lazy_labeler; /* Strong, or NULL. */
    PyObject *file;         /* Resolved at report time (strong), or NULL before. */
    PyObject *function;     /* Resolved at report time (strong), or NULL before. */
    int line;
    UT_hash_handle hh;
} rs_sql_callsite;

typedef struct rs_sql_query {
    uint64_t fingerprint;
    char *text; /* Normalized text (raw memory). */
    rs_stmt_kind kind;
    unsigned fp_flags; /* RS_FP_* of the first execution. */
    uint64_t count, time_ns, max_ns, rows, errors;
    uint64_t distinct_params, duplicates;
    int explain_requested;
    PyObject *explain;     /* str, or NULL. */
    PyObject *params_repr; /* str of the first parameters when show_params, or NULL. */
    UT_hash_handle hh;
} rs_sql_query;

/* One (fingerprint, call site stack) pair: the unit the N+1 detector looks at. */
typedef struct rs_sql_site_use {
    uint64_t key;
    rs_sql_query *query;
    rs_sql_callsite *callsite;
    uint64_t count, time_ns, distinct_params;
    UT_hash_handle hh;
} rs_sql_site_use;

typedef struct {
    rs_sql_query *query;
    rs_sql_callsite *callsite;
    uint64_t duration_ns;
} rs_sql_slow;

/* The last statement run on a cursor: its fetches are charged to it, and may make it slow. */
typedef struct {
    uintptr_t cursor_key; /* Identity only; 0 for an empty entry. */
    rs_sql_query *query;
    rs_sql_site_use *use;      /* Or NULL. */
    rs_sql_callsite *callsite; /* Or NULL. */
    uint64_t duration_ns;      /* Execute plus fetches so far. */
    int slow_index;            /* Its entry in the slow log, or -1. */
    int flags;                 /* RS_SQL_* of the statement. */
    int count_fetched_rows;    /* The driver gave no rowcount: count the rows fetched. */
    PyObject *sql, *params;    /* Strong, for a late EXPLAIN; only in the scope it began in. */
} rs_sql_recent;

/* What a hook needs to EXPLAIN a statement that became slow while fetching (borrowed). */
typedef struct {
    uint64_t fingerprint;
    PyObject *sql, *params;
} rs_sql_explain_request;

typedef struct {
    int in_use;
    unsigned generation; /* Claims of this slot so far: tells tokens of old claims apart. */
    int flags;
    uintptr_t conn_key, cursor_key; /* Identities only, never dereferenced. */
    const void *frame;              /* The hook's frame; NULL when connection-scoped. */
    rs_fingerprint fingerprint;     /* Its text is in the state's arena. */
    uint64_t params_digest, alias_hash;
    rs_sql_callsite *callsite; /* Interned in this scope. */
    PyObject *sql, *params;    /* Strong. */
    PyObject *params_repr;     /* Strong, or NULL. */
    uint64_t start_ns;
} rs_sql_inflight;

/* A scope's SQL tables. A state is reused by the next scope (queries.c): what it starts from is
 * set apart below, so that reuse writes a few hundred bytes, not the whole 6 KiB. */
typedef struct rs_sql_state {
    rs_arena arena; /* Every table below, their entries and the query texts. */
    /* From here to `aliases`: zeroed for each scope. */
    rs_sql_query *queries;      /* By fingerprint. */
    rs_sql_callsite *callsites; /* By stack hash. */
    rs_sql_site_use *site_uses; /* By (fingerprint, stack) hash. */
    unsigned query_count, callsite_count, site_use_count;
    rs_keyset params_seen;      /* (fingerprint, digest): distinct parameters. */
    rs_keyset site_params_seen; /* (fingerprint, stack, digest). */
    rs_keyset executions_seen;  /* (fingerprint, digest, alias, write epoch): duplicates. */
    int alias_count;            /* Entries of `aliases` in use. */
    rs_sql_slow *slow;          /* RS_SQL_MAX_SLOW entries, made at the first slow statement: most
                                   scopes have none, and zeroing 6 KiB per scope was half the state's
                                   cost per request (callgrind, the Django view). */
    int slow_count;
    int inflight_count;
    rs_sql_recent recent[RS_SQL_RECENT_CURSORS];
    int recent_next;
    uint64_t count, time_ns, duplicates, errors;
    struct {
        uint64_t queries, callsites, params, slow, inflight, aliases, memory;
        uint64_t unsupported; /* sql that was neither str nor bytes. */
        uint64_t abandoned;   /* Connection-scoped statements whose end never came. */
    } dropped;
    /* From here on: kept from the state's last scope, which left them free. */
    struct {
        uint64_t alias_hash, write_epoch;
    } aliases[RS_SQL_MAX_ALIASES];                 /* Only the first alias_count are in use. */
    rs_sql_inflight inflight[RS_SQL_MAX_INFLIGHT]; /* Every slot free between scopes. */
} rs_sql_state;

/* A new, empty state in raw memory, or NULL when out of memory. */
rs_sql_state *rs_sql_state_new(void);

/* Frees `state` (or keeps its memory for the next rs_sql_state_new) and releases its
 * references. Holds the GIL. */
void rs_sql_state_free(rs_sql_state *state);

/*
 * Begins a statement in `scope` (active, with SQL on). Returns a token (0 to 255) naming the
 * in-flight statement for rs_sql_end, or -1 when the statement is not recorded: another layer
 * is already recording it on this connection (counts once), or `sql` is not str or bytes, or
 * the slots or memory ran out (counted as dropped). Never raises.
 */
int rs_sql_begin(rs_scope *scope, uintptr_t conn_key, uintptr_t cursor_key, PyObject *alias,
                 PyObject *sql, PyObject *params, int flags);

/*
 * Ends the statement in `slot` and records it in `scope` and its active ancestors. `rowcount`
 * is the driver's (rows written, or for some drivers rows selected), or -1 when it has none;
 * with -1 the rows later fetched through rs_sql_fetched are counted instead. Returns 1
 * when the caller should EXPLAIN it (a read slow enough, first time in this scope), else 0.
 * `fingerprint` receives its id. Never raises.
 */
int rs_sql_end(rs_scope *scope, int slot, int64_t rowcount, int failed, uint64_t *fingerprint);

/*
 * Charges `duration_ns` and `rows` fetched from `cursor_key` to its last statement, in `scope`
 * and its active ancestors. A read whose execute and fetches together reach the slow threshold
 * is logged as slow then; returns 1 when `scope`'s hook should EXPLAIN it now, with `request`
 * filled (borrowed references, valid until the next statement), else 0. Never raises.
 */
int rs_sql_fetched(rs_scope *scope, uintptr_t cursor_key, uint64_t duration_ns, int64_t rows,
                   rs_sql_explain_request *request);

/* Attaches EXPLAIN output to a fingerprint of `scope` and its ancestors. */
void rs_sql_set_explain(rs_scope *scope, uint64_t fingerprint, PyObject *text);

/* Resolves every call site of `state` (see rs_callsite_resolve). Returns 0, or -1 with an
 * exception set. Report time only. */
int rs_sql_resolve_callsites(rs_sql_state *state, PyObject *exclude_paths, PyObject *own_paths);

/* The in-flight slot a token from rs_sql_begin names, or -1 when the token is stale (its
 * statement ended, or it belongs to another scope's claim). */
int rs_sql_token_slot(const rs_scope *scope, int token);

#endif /* RS_QUERIES_H */
