/*
 * fingerprint_cache.h: the fingerprints of recently seen statement texts.
 *
 * An application sends the same few statement texts over and over (an ORM builds the same
 * SELECT for every primary-key lookup), and each one is fingerprinted at least once per
 * execution, twice when two layers see it (Django's execute wrapper and the sqlite3 driver
 * hook). Normalizing a 300-byte ORM statement is about 12,000 instructions; looking its exact
 * text up here is two hashes of its bytes and a compare. A miss normalizes and keeps the
 * result (never the text, which may hold literal values).
 */
#ifndef RS_FINGERPRINT_CACHE_H
#define RS_FINGERPRINT_CACHE_H

#include "arena.h"
#include "fingerprint.h"

/* Statement texts kept: a direct-mapped table, the newest text taking its slot. */
#define RS_FP_CACHE_SLOTS 512

/* Texts longer than this are normalized every time, never kept (they are rarely repeated). */
#define RS_FP_CACHE_MAX_TEXT 8192

/*
 * Like rs_fp_normalize (the same result in `out`), from the cache when `sql` was seen before.
 * The normalized text is copied into `arena`: the caller never releases `out`, whose text
 * lives until the arena's reset. Returns 0, or -1 when memory ran out (`out` is then empty).
 * Not thread-safe: the SQL hooks call it with the GIL held.
 */
int rs_fp_cache_normalize(const char *sql, size_t length, rs_arena *arena, rs_fingerprint *out);

#endif /* RS_FINGERPRINT_CACHE_H */
