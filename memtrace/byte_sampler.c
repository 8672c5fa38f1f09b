/*
 * byte_sampler.c: the slow path of byte_sampler.h, run once per countdown reached: the reserve,
 * the weight of a sampled allocation and the next draw.
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

/* Splits `bytes` to the next pick (at least 1) into the countdown, at most the rate, and the
 * reserve behind it. */
static void
set_countdown(rs_byte_sampler *sampler, uint64_t bytes)
{
    uint64_t piece = bytes < sampler->rate ? bytes : sampler->rate;
    sampler->countdown = piece - 1;
    sampler->reserve = bytes - piece;
}

/* A fresh draw: exponential with mean `rate`, at least 1. */
static void
draw(rs_byte_sampler *sampler)
{
    if (sampler->rate <= 1) {
        set_countdown(sampler, 1);
        return;
    }
    double bytes = -log(uniform(sampler)) * (double)sampler->rate;
    set_countdown(sampler, bytes < 1.0 ? 1 : (bytes > 9.0e18 ? (uint64_t)9.0e18 : (uint64_t)bytes));
}

void
rs_byte_sampler_init(rs_byte_sampler *sampler, uint64_t rate, uint64_t seed)
{
    sampler->rate = rate ? rate : 1;
    sampler->random = seed ? seed : 0x853c49e6748fea9bull;
    draw(sampler);
}

uint64_t
rs_byte_sampler_crossed(rs_byte_sampler *sampler, uint64_t size)
{
    if (size >= sampler->rate) {
        return size ? size : 1; /* Always sampled; the countdown is left as it was. */
    }
    uint64_t left = sampler->countdown + 1 + sampler->reserve; /* Bytes to the next pick. */
    if (size < left) {
        set_countdown(sampler, left - size);
        return 0; /* The draw is not used up: on to the reserve. */
    }
    /* The memoryless countdown restarts after each pick; what this allocation ran past is
     * dropped, which keeps every byte's chance 1/rate. */
    draw(sampler);
    if (sampler->rate <= 1) {
        return size ? size : 1;
    }
    double probability = -expm1(-(double)size / (double)sampler->rate);
    double weight = (double)size / probability;
    return weight < (double)size ? size : (uint64_t)(weight + 0.5);
}
