/*
 * byte_sampler.h: which allocations to sample, and what each sample stands for.
 *
 * Sampling by bytes, as a Poisson process: every byte allocated has the same chance 1/rate of
 * being picked, so an allocation of `size` bytes is sampled with probability
 * p = 1 - exp(-size / rate), and a sample of it is weighted size / p bytes, which makes the sum
 * of weights an unbiased estimate of the bytes allocated. The process is run as a countdown of
 * bytes to the next pick, drawn from an exponential distribution with mean `rate`: one
 * subtraction and one branch per allocation. An allocation of at least `rate` bytes is always
 * sampled (weighted by its size), so large allocations are never missed; rate 1 samples every
 * allocation (exact mode). Each thread has its own countdown and random state.
 */
#ifndef RS_BYTE_SAMPLER_H
#define RS_BYTE_SAMPLER_H

#include <stdint.h>

typedef struct {
    uint64_t rate;     /* Mean bytes between samples; 1 = every allocation. */
    int64_t countdown; /* Bytes left until the next sample. */
    uint64_t random;   /* xorshift64* state, never 0. */
} rs_byte_sampler;

/* Starts a sampler with mean `rate` (at least 1) and a random `seed`. */
void rs_byte_sampler_init(rs_byte_sampler *sampler, uint64_t rate, uint64_t seed);

/* The slow path of rs_byte_sampler_weight: the weight of a pick from the countdown. */
uint64_t rs__byte_sampler_weigh(rs_byte_sampler *sampler, uint64_t size);

/* Counts an allocation of `size` bytes: 1 when it is not sampled (the common case: one
 * subtraction and one branch), 0 when it is picked; rs_byte_sampler_weight then gives what the
 * pick stands for. A sampler never started (all zero) picks everything. */
static inline int
rs_byte_sampler_skips(rs_byte_sampler *sampler, uint64_t size)
{
    if (size >= sampler->rate) {
        return 0;
    }
    sampler->countdown -= (int64_t)size;
    return sampler->countdown > 0;
}

/* The bytes an allocation picked by rs_byte_sampler_skips stands for; restarts the countdown
 * when the pick came from it. */
static inline uint64_t
rs_byte_sampler_weight(rs_byte_sampler *sampler, uint64_t size)
{
    if (size >= sampler->rate) {
        return size ? size : 1;
    }
    return rs__byte_sampler_weigh(sampler, size);
}

/* Both at once: 0 when the allocation is not sampled, else the bytes it stands for. */
static inline uint64_t
rs_byte_sampler_take(rs_byte_sampler *sampler, uint64_t size)
{
    return rs_byte_sampler_skips(sampler, size) ? 0 : rs_byte_sampler_weight(sampler, size);
}

#endif /* RS_BYTE_SAMPLER_H */
