/*
 * safe_read.h: copies of our own process's memory that cannot fault.
 *
 * The sampler reads other threads' frame chains without the GIL, while those threads run and
 * free frames, code objects and strings. A plain load from a freed and unmapped page would
 * crash the process, so every read goes through process_vm_readv on our own pid: the kernel
 * copies what is mapped and reports EFAULT for what is not. A read can still return stale
 * bytes (memory freed and reused); callers validate what they read (types, bounds, alignment).
 */
#ifndef RS_SAFE_READ_H
#define RS_SAFE_READ_H

#include <stddef.h>

/* Copies `size` bytes at `address` into `destination`. Returns 0, or -1 when any byte is not
 * readable (destination contents are then unspecified). Async-signal-safe; never allocates. */
int rs_safe_read(void *destination, const void *address, size_t size);

/* Copies two ranges in one system call; returns 0 only when both were fully read. */
int rs_safe_read2(void *destination1, const void *address1, size_t size1, void *destination2,
                  const void *address2, size_t size2);

/* Copies `count` ranges of `size` bytes each, addresses[i] to destinations[i], in one system
 * call. Returns how many leading ranges were read whole (a range that cannot be read ends the
 * copy there). `count` is at most RS_SAFE_READ_MANY_MAX. */
#define RS_SAFE_READ_MANY_MAX 1024
int rs_safe_read_many(void *const *destinations, const void *const *addresses, size_t size,
                      int count);

#endif /* RS_SAFE_READ_H */
