/*
 * detectors.h: the SQL findings of a scope: N+1 loops, duplicates and slow statements.
 */
#ifndef RS_DETECTORS_H
#define RS_DETECTORS_H

#include "queries.h"

/*
 * Appends the findings of `scope` (call sites already resolved) to `findings`, a list of
 * dicts {kind, fingerprint, count, time_ms, callsite{file, line, function}, label?, explain?},
 * N+1 first, then duplicates, then slow statements, each by time. `wall_ms` is the scope's wall
 * time, for the share-of-wall slow rule. Returns 0, or -1 with an exception set.
 */
int rs_sql_detect(rs_scope *scope, double wall_ms, PyObject *findings);

#endif /* RS_DETECTORS_H */
