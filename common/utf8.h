/*
 * utf8.h: one code point to UTF-8, for the places that turn CPython's str storage (1, 2 or 4
 * bytes a character) into bytes without the Python allocator: the SQL text of a hook and the
 * names the sampler copies.
 */
#ifndef RS_UTF8_H
#define RS_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Writes `point` as UTF-8 at `out` (room for 4 bytes) and returns the bytes written. Lone
 * surrogates are written as their 3-byte form, like Python's "surrogatepass". */
static inline size_t
rs_utf8_put(uint32_t point, char *out)
{
    if (point < 0x80) {
        out[0] = (char)point;
        return 1;
    }
    if (point < 0x800) {
        out[0] = (char)(0xc0 | (point >> 6));
        out[1] = (char)(0x80 | (point & 0x3f));
        return 2;
    }
    if (point < 0x10000) {
        out[0] = (char)(0xe0 | (point >> 12));
        out[1] = (char)(0x80 | ((point >> 6) & 0x3f));
        out[2] = (char)(0x80 | (point & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | ((point >> 18) & 0x07));
    out[1] = (char)(0x80 | ((point >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((point >> 6) & 0x3f));
    out[3] = (char)(0x80 | (point & 0x3f));
    return 4;
}

#endif /* RS_UTF8_H */
