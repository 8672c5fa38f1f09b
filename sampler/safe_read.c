/*
 * safe_read.c: process_vm_readv on our own pid (see safe_read.h).
 *
 * The pid is asked once and kept (getpid is a system call of its own, 0.2 us); a forked child
 * forgets it through rs_safe_read_after_fork, called by the sampler's fork handler, so a child
 * reads its own memory, never its parent's.
 */
#define _GNU_SOURCE
#include "safe_read.h"

#include <stdatomic.h>
#include <stdint.h>
#include <sys/uio.h>
#include <unistd.h>

static _Atomic pid_t own_pid; /* 0 until asked. */

static pid_t
reading_pid(void)
{
    pid_t pid = atomic_load_explicit(&own_pid, memory_order_relaxed);
    if (pid == 0) {
        pid = getpid();
        atomic_store_explicit(&own_pid, pid, memory_order_relaxed);
    }
    return pid;
}

void
rs_safe_read_after_fork(void)
{
    atomic_store_explicit(&own_pid, 0, memory_order_relaxed);
}

int
rs_safe_read(void *destination, const void *address, size_t size)
{
    rs_safe_range range = {destination, address, size};
    return rs_safe_read_ranges(&range, 1) == 1 ? 0 : -1;
}

int
rs_safe_read_ranges(const rs_safe_range *ranges, int count)
{
    struct iovec local[RS_SAFE_READ_MAX_RANGES], remote[RS_SAFE_READ_MAX_RANGES];
    int usable = 0; /* Leading ranges with a plausible address. */
    for (; usable < count && usable < RS_SAFE_READ_MAX_RANGES; usable++) {
        if ((uintptr_t)ranges[usable].address < 4096) {
            break;
        }
        local[usable] = (struct iovec){ranges[usable].destination, ranges[usable].size};
        remote[usable] = (struct iovec){(void *)ranges[usable].address, ranges[usable].size};
    }
    if (usable == 0) {
        return 0;
    }
    ssize_t copied = process_vm_readv(reading_pid(), local, (unsigned long)usable, remote,
                                      (unsigned long)usable, 0);
    int whole = 0; /* Leading ranges the copy covered entirely. */
    for (size_t left = copied > 0 ? (size_t)copied : 0;
         whole < usable && left >= ranges[whole].size; whole++) {
        left -= ranges[whole].size;
    }
    return whole;
}
