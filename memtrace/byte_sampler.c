/*
 * byte_sampler.c: the slow path of byte_sampler.h, run once per sample: the weight of the
 * sampled allocation and the next countdown.
 */
#include "byte_sampler.h"

#include <math.h>

/* A uniform double in (0, 1] from xorshift64*. */
static double
uniform(rs_byte_sampler *sampler)
{
    uint64_t x = sampler->random;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    sampler->random = x;
    uint64_t bits = (x * 0x2545f4914f6cdd1dull) >> 11; /* 53 random bits. */
    return ((double)bits + 1.0) / 9007199254740992.0;
}

/* Bytes to the next pick: exponential with mean `rate`, at least 1. */
static int64_t
next_countdown(rs_byte_sampler *sampler)
{
    if (sampler->rate <= 1) {
        return 1;
    }
    double draw = -log(uniform(sampler)) * (double)sampler->rate;
    return draw < 1.0 ? 1 : (draw > 9.0e18 ? (int64_t)9.0e18 : (int64_t)draw);
}

void
rs_byte_sampler_init(rs_byte_sampler *sampler, uint64_t rate, uint64_t seed)
{
    sampler->rate = rate ? rate : 1;
    sampler->random = seed ? seed : 0x853c49e6748fea9bull;
    sampler->countdown = next_countdown(sampler);
}

uint64_t
rs__byte_sampler_weigh(rs_byte_sampler *sampler, uint64_t size)
{
    /* The memoryless countdown restarts after each pick; what this allocation ran past is
     * dropped, which keeps every byte's chance 1/rate. */
    sampler->countdown = next_countdown(sampler);
    if (sampler->rate <= 1) {
        return size ? size : 1;
    }
    double probability = -expm1(-(double)size / (double)sampler->rate);
    double weight = (double)size / probability;
    return weight < (double)size ? size : (uint64_t)(weight + 0.5);
}
