/*
 * fingerprint.h: the SQL fingerprint, one normalized text and a 64-bit id per statement shape.
 *
 * See fingerprint.c for the rules. The same rules are written out in Python in
 * reqscope/_fingerprint_ref.py, and tests run the same cases on both.
 */
#ifndef RS_FINGERPRINT_H
#define RS_FINGERPRINT_H

#include <stddef.h>
#include <stdint.h>

/* What a statement does, from its leading keyword (after WITH ... AS (...) clauses). */
typedef enum {
    RS_STMT_OTHER = 0,  /* DDL we do not classify, PRAGMA, SET, empty input. */
    RS_STMT_READ,       /* SELECT, VALUES, SHOW, EXPLAIN, TABLE, and WITH ... SELECT. */
    RS_STMT_WRITE,      /* INSERT, UPDATE, DELETE, REPLACE, MERGE, UPSERT, CREATE, DROP, ALTER,
                           TRUNCATE, COPY, and WITH ... INSERT/UPDATE/DELETE. */
    RS_STMT_TRANSACTION /* BEGIN, START, COMMIT, END, ROLLBACK, SAVEPOINT, RELEASE. */
} rs_stmt_kind;

/* Flags of a fingerprint. */
#define RS_FP_TRUNCATED 0x1 /* The input exceeded RS_FP_MAX_INPUT; the text covers its prefix. */
#define RS_FP_HAS_LIST 0x2  /* An IN (...), ANY(ARRAY[...]) or VALUES list was collapsed. */

/* Work cap: bytes of input examined. Longer statements are fingerprinted on this prefix. */
#define RS_FP_MAX_INPUT (1u << 20)

typedef struct {
    uint64_t id;         /* FNV-1a 64 of `text` (the same function in the Python twin). */
    char *text;          /* Normalized text, NUL-terminated; owned, freed by rs_fp_release. */
    size_t length;       /* strlen(text). */
    rs_stmt_kind kind;   /* What the statement does. */
    unsigned flags;      /* RS_FP_* bits. */
    uint32_t list_arity; /* Items in the first collapsed list, 0 when none. */
} rs_fingerprint;

/*
 * Fingerprints `length` bytes of `sql` (need not be NUL-terminated; may contain NULs, invalid
 * UTF-8 and unterminated quotes or comments). Returns 0 and fills `out`, or -1 when memory
 * ran out, with `out` left empty (text NULL). Never reads past sql[length - 1].
 */
int rs_fp_normalize(const char *sql, size_t length, rs_fingerprint *out);

/* Frees what rs_fp_normalize allocated in `fp` and empties it. Safe on an empty fingerprint. */
void rs_fp_release(rs_fingerprint *fp);

/* The 64-bit FNV-1a hash used for ids. */
uint64_t rs_fp_hash(const char *text, size_t length);

#endif /* RS_FINGERPRINT_H */
