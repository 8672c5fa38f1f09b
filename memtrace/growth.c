/*
 * growth.c: the leak view across scopes (see growth.h): routes, their sites and windows, and
 * the judgement of which sites grow.
 *
 * The judgement splits the history since the warm-up in two halves of requests. Growth means:
 * at least half of the bytes the older half allocated (and left alive at its requests' ends)
 * are still alive, and the newer half left some alive too, at no less than a quarter of the
 * older half's pace. The confidence is the chance that, at the pace measured, each half would
 * show at least one surviving sample: (1 - e^-a)(1 - e^-b) for a and b surviving samples, so a
 * site judged from one sample in each half gets 0.40 and one from five in each gets 0.99.
 */
#include "growth.h"

#include "clock.h"
#include "rawalloc.h"
#include <math.h>
#include <uthash.h>

typedef struct {
    uint64_t allocated, alive; /* Estimated bytes. */
    uint32_t allocated_count, alive_count;
} growth_window;

struct rs_growth_site {
    uint64_t hash; /* Of the route, file, line and function. */
    rs_growth_route *route;
    PyObject *file, *function; /* Strong. */
    int line;
    growth_window windows[RS_GROWTH_WINDOWS];
    uint64_t first_request, last_request; /* Requests that left something alive, warm-up on. */
    double first_seen, last_seen;         /* Their wall clock, seconds since the epoch. */
    rs_growth_site *route_next;
    UT_hash_handle hh;
};

struct rs_growth_route {
    uint64_t hash;
    PyObject *name;    /* Strong. */
    uint64_t requests; /* Finished memory scopes, warm-up included. */
    uint32_t warmup;   /* Requests not followed. */
    uint32_t window_size;
    rs_growth_site *sites;
    UT_hash_handle hh;
};

/* Protected by the GIL. */
static rs_growth_route *routes;
static rs_growth_site *sites;
static unsigned route_count, site_count;
static uint64_t dropped_routes, dropped_sites;
static uint32_t warmup = 20;

void
rs_growth_set_warmup(uint32_t requests)
{
    warmup = requests;
}

/* A hash of `object`, an exact str: str hashes run no Python code and cannot fail. */
static uint64_t
hash_str(PyObject *object)
{
    return (uint64_t)PyObject_Hash(object);
}

/* Sums of a range of windows. */
static growth_window
sum_windows(const rs_growth_site *site, int from, int to)
{
    growth_window sum = {0, 0, 0, 0};
    for (int i = from; i < to; i++) {
        sum.allocated += site->windows[i].allocated;
        sum.alive += site->windows[i].alive;
        sum.allocated_count += site->windows[i].allocated_count;
        sum.alive_count += site->windows[i].alive_count;
    }
    return sum;
}

int64_t
rs__growth_request(PyObject *name, rs_growth_route **out)
{
    *out = NULL;
    uint64_t hash = hash_str(name);
    rs_growth_route *route;
    HASH_FIND(hh, routes, &hash, sizeof(hash), route);
    if (route != NULL && PyUnicode_Compare(route->name, name) != 0) {
        dropped_routes++; /* Two names with one hash: the second is not followed. */
        return -1;
    }
    if (route == NULL) {
        if (route_count >= RS_GROWTH_MAX_ROUTES ||
            (route = (rs_growth_route *)rs_raw_calloc(1, sizeof(*route))) == NULL) {
            dropped_routes++;
            return -1;
        }
        route->hash = hash;
        route->warmup = warmup;
        route->window_size = 1;
        HASH_ADD(hh, routes, hash, sizeof(route->hash), route);
        if (RS_HASH_ADD_FAILED(route)) {
            rs_raw_free(route);
            dropped_routes++;
            return -1;
        }
        route->name = Py_NewRef(name);
        route_count++;
    }
    *out = route;
    route->requests++;
    if (route->requests <= route->warmup) {
        return -1;
    }
    uint64_t request = route->requests - route->warmup - 1;
    if (request >= UINT32_MAX / 2) {
        return -1; /* Two billion requests followed: no more (the windows cannot grow). */
    }
    while (request >= (uint64_t)RS_GROWTH_WINDOWS * route->window_size) {
        for (rs_growth_site *site = route->sites; site != NULL; site = site->route_next) {
            for (int i = 0; i < RS_GROWTH_WINDOWS; i++) {
                growth_window empty = {0, 0, 0, 0};
                site->windows[i] =
                    i < RS_GROWTH_WINDOWS / 2 ? sum_windows(site, 2 * i, 2 * i + 2) : empty;
            }
        }
        route->window_size *= 2;
    }
    return (int64_t)request;
}

rs_growth_site *
rs__growth_site_for(rs_growth_route *route, PyObject *file, int line, PyObject *function)
{
    uint64_t hash = (uint64_t)(uintptr_t)route * 0x9e3779b97f4a7c15ull;
    hash = (hash ^ hash_str(file)) * 0x100000001b3ull;
    hash = (hash ^ (uint64_t)line) * 0x100000001b3ull;
    hash = (hash ^ hash_str(function)) * 0x100000001b3ull;
    rs_growth_site *site;
    HASH_FIND(hh, sites, &hash, sizeof(hash), site);
    if (site != NULL) {
        if (site->route == route && site->line == line &&
            PyUnicode_Compare(site->file, file) == 0 &&
            PyUnicode_Compare(site->function, function) == 0) {
            return site;
        }
        dropped_sites++; /* A hash collision: the second line is not followed. */
        return NULL;
    }
    if (site_count >= RS_GROWTH_MAX_SITES ||
        (site = (rs_growth_site *)rs_raw_calloc(1, sizeof(*site))) == NULL) {
        dropped_sites++;
        return NULL;
    }
    site->hash = hash;
    site->route = route;
    site->line = line;
    HASH_ADD(hh, sites, hash, sizeof(site->hash), site);
    if (RS_HASH_ADD_FAILED(site)) {
        rs_raw_free(site);
        dropped_sites++;
        return NULL;
    }
    site->file = Py_NewRef(file);
    site->function = Py_NewRef(function);
    site->route_next = route->sites;
    route->sites = site;
    site_count++;
    return site;
}

void
rs__growth_add(rs_growth_site *site, uint32_t request, uint64_t weight)
{
    growth_window *window = &site->windows[request / site->route->window_size];
    window->allocated += weight;
    window->alive += weight;
    window->allocated_count++;
    window->alive_count++;
    uint64_t number = request + (uint64_t)site->route->warmup + 1;
    double now = rs_wall_seconds();
    if (site->first_request == 0) {
        site->first_request = number;
        site->first_seen = now;
    }
    site->last_request = number;
    site->last_seen = now;
}

void
rs__growth_remove(rs_growth_site *site, uint32_t request, uint64_t weight)
{
    growth_window *window = &site->windows[request / site->route->window_size];
    window->alive -= weight < window->alive ? weight : window->alive;
    if (window->alive_count > 0) {
        window->alive_count--;
    }
}

/* The report entry of `site`, or Py_None when it is not to be reported; NULL on error. */
static PyObject *
site_entry(const rs_growth_site *site, double min_confidence, int everything)
{
    const rs_growth_route *route = site->route;
    uint64_t followed = route->requests > route->warmup ? route->requests - route->warmup : 0;
    uint64_t size = route->window_size;
    int used = (int)((followed + size - 1) / size);
    if (used < 4 && !everything) {
        Py_RETURN_NONE; /* Too little history to tell a leak from a cache filling up. */
    }
    int half = used / 2;
    growth_window older = sum_windows(site, 0, half);
    growth_window newer = sum_windows(site, half, used);
    uint64_t older_requests = (uint64_t)half * size;
    uint64_t newer_requests = followed - older_requests;
    double older_pace = older_requests ? (double)older.alive / (double)older_requests : 0.0;
    double newer_pace = newer_requests ? (double)newer.alive / (double)newer_requests : 0.0;
    double confidence =
        (1.0 - exp(-(double)older.alive_count)) * (1.0 - exp(-(double)newer.alive_count));
    int growing = used >= 4 && older.alive_count > 0 && older.alive * 2 >= older.allocated &&
                  newer.alive_count > 0 && newer_pace * 4 >= older_pace;
    if (!everything && (!growing || confidence < min_confidence)) {
        Py_RETURN_NONE;
    }
    double per_request = followed ? (double)(older.alive + newer.alive) / (double)followed : 0.0;
    return Py_BuildValue("{s:O,s:O,s:O,s:i,s:O,s:d,s:K,s:I,s:K,s:d,s:K,s:K,s:d,s:d}", "route",
                         route->name, "function", site->function, "file", site->file, "line",
                         site->line, "growing", growing ? Py_True : Py_False, "bytes_per_request",
                         per_request, "alive_bytes",
                         (unsigned long long)(older.alive + newer.alive), "samples",
                         older.alive_count + newer.alive_count, "requests",
                         (unsigned long long)followed, "confidence", growing ? confidence : 0.0,
                         "first_request", (unsigned long long)site->first_request, "last_request",
                         (unsigned long long)site->last_request, "first_seen", site->first_seen,
                         "last_seen", site->last_seen);
}

PyObject *
rs_growth_report(double min_confidence, int everything)
{
    PyObject *result = PyList_New(0);
    rs_growth_site *site, *next;
    HASH_ITER(hh, sites, site, next) {
        if (result == NULL) {
            break;
        }
        PyObject *entry = site_entry(site, min_confidence, everything);
        if (entry == NULL || (entry != Py_None && PyList_Append(result, entry) < 0)) {
            Py_CLEAR(result);
        }
        Py_XDECREF(entry);
    }
    return result;
}

PyObject *
rs_growth_dropped(void)
{
    return Py_BuildValue("{s:K,s:K}", "routes", (unsigned long long)dropped_routes, "sites",
                         (unsigned long long)dropped_sites);
}

void
rs__growth_clear(void)
{
    rs_growth_site *site, *next_site;
    HASH_ITER(hh, sites, site, next_site) {
        HASH_DEL(sites, site);
        Py_DECREF(site->file);
        Py_DECREF(site->function);
        rs_raw_free(site);
    }
    rs_growth_route *route, *next_route;
    HASH_ITER(hh, routes, route, next_route) {
        HASH_DEL(routes, route);
        Py_DECREF(route->name);
        rs_raw_free(route);
    }
    route_count = site_count = 0;
    dropped_routes = dropped_sites = 0;
}
