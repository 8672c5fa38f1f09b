/*
 * safe_read.c: process_vm_readv on our own pid (see safe_read.h).
 *
 * getpid() is called per read rather than cached, so a forked child reads its own memory.
 */
#define _GNU_SOURCE
#include "safe_read.h"

#include <stdint.h>
#include <sys/uio.h>
#include <unistd.h>

int
rs_safe_read(void *destination, const void *address, size_t size)
{
    if (address == NULL || (uintptr_t)address < 4096) {
        return -1;
    }
    struct iovec local = {destination, size};
    struct iovec remote = {(void *)address, size};
    ssize_t copied = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    return copied == (ssize_t)size ? 0 : -1;
}

int
rs_safe_read2(void *destination1, const void *address1, size_t size1, void *destination2,
              const void *address2, size_t size2)
{
    if ((uintptr_t)address1 < 4096 || (uintptr_t)address2 < 4096) {
        return -1;
    }
    struct iovec local[2] = {{destination1, size1}, {destination2, size2}};
    struct iovec remote[2] = {{(void *)address1, size1}, {(void *)address2, size2}};
    ssize_t copied = process_vm_readv(getpid(), local, 2, remote, 2, 0);
    return copied == (ssize_t)(size1 + size2) ? 0 : -1;
}

int
rs_safe_read_many(void *const *destinations, const void *const *addresses, size_t size, int count)
{
    struct iovec local[RS_SAFE_READ_MANY_MAX], remote[RS_SAFE_READ_MANY_MAX];
    int usable = 0; /* Leading ranges with a plausible address. */
    for (; usable < count && usable < RS_SAFE_READ_MANY_MAX; usable++) {
        if ((uintptr_t)addresses[usable] < 4096) {
            break;
        }
        local[usable] = (struct iovec){destinations[usable], size};
        remote[usable] = (struct iovec){(void *)addresses[usable], size};
    }
    if (usable == 0) {
        return 0;
    }
    ssize_t copied =
        process_vm_readv(getpid(), local, (unsigned long)usable, remote, (unsigned long)usable, 0);
    return copied <= 0 ? 0 : (int)((size_t)copied / size);
}
