/*
 * params.h: a keyed digest of a statement's parameters, and nothing else.
 *
 * Duplicate detection needs to know whether two executions had the same parameters, never what
 * they were. The digest is SipHash-1-3 under a key drawn from the OS at start-up and never
 * exposed, so it cannot be reversed by hashing guesses outside the process.
 */
#ifndef RS_PARAMS_H
#define RS_PARAMS_H

#include "reqscope.h"

/* Draws the process key. Returns 0, or -1 with an exception set. */
int rs_params_init(void);

/*
 * Digest of `params` (None, a sequence or a mapping; with `many`, a sequence of those).
 * Never raises: values that cannot be hashed without running arbitrary code count by identity,
 * and a one-shot iterator given to executemany gets a digest of its own, unique in the process.
 */
uint64_t rs_params_digest(PyObject *params, int many);

/* A keyed hash of `length` bytes, for aliases and other identifiers. */
uint64_t rs_params_hash_bytes(const void *data, size_t length);

#endif /* RS_PARAMS_H */
