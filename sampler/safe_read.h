/*
 * safe_read.h: copies of our own process's memory that cannot fault.
 *
 * The sampler reads other threads' frame chains without the GIL, while those threads run and
 * free frames, code objects and strings. A plain load from a freed and unmapped page would
 * crash the process, so every read goes through process_vm_readv on our own pid: the kernel
 * copies what is mapped and reports EFAULT for what is not. A read can still return stale
 * bytes (memory freed and reused); callers validate what they read (types, bounds, alignment).
 *
 * Cost: a process_vm_readv is about 1.6 us here whatever its size (a few KB), so a caller that
 * knows several addresses at once reads them in one call (rs_safe_read_ranges).
 */
#ifndef RS_SAFE_READ_H
#define RS_SAFE_READ_H

#include <stddef.h>

/* Copies `size` bytes at `address` into `destination`. Returns 0, or -1 when any byte is not
 * readable (destination contents are then unspecified). Async-signal-safe; never allocates. */
int rs_safe_read(void *destination, const void *address, size_t size);

/* One range of a vectored read: `size` bytes at `address` into `destination`. */
typedef struct {
    void *destination;
    const void *address;
    size_t size;
} rs_safe_range;

/* The most ranges one rs_safe_read_ranges call takes (the kernel's IOV_MAX). */
#define RS_SAFE_READ_MAX_RANGES 1024

/* Copies `count` ranges (at most RS_SAFE_READ_MAX_RANGES) in one system call. Returns how many
 * leading ranges were read whole: a range that cannot be read ends the copy there. */
int rs_safe_read_ranges(const rs_safe_range *ranges, int count);

/* Forgets the process id the reads use; a forked child calls it (its pid is new). */
void rs_safe_read_after_fork(void);

#endif /* RS_SAFE_READ_H */
