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

/* The slow path of rs_byte_sampler_take: the weight of a picked allocation. */
uint64_t rs__byte_sampler_weigh(rs_byte_sampler *sampler, uint64_t size);

/* Counts an allocation of `size` bytes. Returns 0 when it is not sampled, else the bytes the
 * sample stands for (its weight, at least `size`). Allocations of `rate` bytes or more are
 * always sampled, at their size, and stay out of the countdown. */
static inline uint64_t
rs_byte_sampler_take(rs_byte_sampler *sampler, uint64_t size)
{
    if (size >= sampler->rate) {
        return size ? size : 1;
    }
    sampler->countdown -= (int64_t)size;
    if (sampler->countdown > 0) {
        return 0;
    }
    return rs__byte_sampler_weigh(sampler, size);
}

#endif /* RS_BYTE_SAMPLER_H */
