/*
 * clock.h: the clocks every component reads.
 *
 * Durations use CLOCK_MONOTONIC in nanoseconds; on-CPU time uses the calling thread's
 * CLOCK_THREAD_CPUTIME_ID; report timestamps use CLOCK_REALTIME. clock_gettime goes through the
 * vDSO for the first and last, so reading them on a hot path costs tens of nanoseconds.
 */
#ifndef RS_CLOCK_H
#define RS_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t
rs_clock_read(clockid_t clock)
{
    struct timespec now;
    if (clock_gettime(clock, &now) != 0) {
        return 0;
    }
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

static inline uint64_t
rs_now_ns(void)
{
    return rs_clock_read(CLOCK_MONOTONIC);
}

static inline uint64_t
rs_thread_cpu_ns(void)
{
    return rs_clock_read(CLOCK_THREAD_CPUTIME_ID);
}

static inline double
rs_wall_seconds(void)
{
    return (double)rs_clock_read(CLOCK_REALTIME) / 1e9;
}

#endif /* RS_CLOCK_H */
