/*
 * growth.h: the leak view across scopes. What a finished scope left alive (its sampled
 * allocations still alive at its end) is handed here, per scope name (the route) and per line
 * of the user's code that allocated it, and followed as later frees take it back.
 *
 * Each route counts its finished memory scopes as requests; after a warm-up (caches and lazy
 * imports fill then) each handed-over allocation is filed in a window of requests by the
 * request that made it. There are at most RS_GROWTH_WINDOWS windows per site: when requests
 * outgrow them, every window of the route doubles (neighbours merge), so the windows always
 * span the whole history since the warm-up.
 *
 * A site grows when what the older half of that history allocated is still mostly alive and
 * the newer half keeps adding at a comparable pace: a leak keeps everything; a cache that
 * evicts has freed its old entries; a cache that filled and plateaus adds nothing new.
 *
 * Everything here runs with the GIL held. The free path (rs__growth_remove) is called from the
 * allocator hooks and touches only raw memory; the rest runs at safe points (scope exit and
 * Python calls) and may use Python objects.
 */
#ifndef RS_GROWTH_H
#define RS_GROWTH_H

#include "reqscope.h"

#define RS_GROWTH_WINDOWS 32
#define RS_GROWTH_MAX_ROUTES 1024
#define RS_GROWTH_MAX_SITES 8192 /* Lines followed, over all routes. */

typedef struct rs_growth_route rs_growth_route;
typedef struct rs_growth_site rs_growth_site;

/* Counts one finished memory scope of `route` (a str). Returns its request number after the
 * warm-up (0 for the first), or -1 while warming up or when the route table is full; `*out`
 * is then the route, or NULL. */
int64_t rs__growth_request(PyObject *route, rs_growth_route **out);

/* The site of (file, line, function) in `route`, made on first use; NULL when the table is
 * full (counted). The strings are borrowed. */
rs_growth_site *rs__growth_site_for(rs_growth_route *route, PyObject *file, int line,
                                    PyObject *function);

/* An allocation of `weight` bytes made by request `request`, alive at its scope's end, and
 * its free. The free runs inside an allocator hook. */
void rs__growth_add(rs_growth_site *site, uint32_t request, uint64_t weight);
void rs__growth_remove(rs_growth_site *site, uint32_t request, uint64_t weight);

/* The sites that grow with at least `min_confidence`, as a list of dicts, largest growth per
 * request first; with `everything`, every site followed, growing or not. NULL with an
 * exception set on error. */
PyObject *rs_growth_report(double min_confidence, int everything);

/* {"routes": n, "sites": n}: the routes and lines not followed because their table was full
 * (or their hash collided with another's). NULL with an exception set on error. */
PyObject *rs_growth_dropped(void);

/* Sets the warm-up, in requests per route; applies to routes not seen yet. */
void rs_growth_set_warmup(uint32_t requests);

/* Forgets every route and site. The caller first detaches the allocations handed over. */
void rs__growth_clear(void);

#endif /* RS_GROWTH_H */
