/*
 * byte_sampler.h: which allocations to sample, and what each sample stands for.
 *
 * Sampling by bytes, as a Poisson process: every byte allocated has the same chance 1/rate of
 * being picked, so an allocation of `size` bytes is sampled with probability
 * p = 1 - exp(-size / rate), and a sample of it is weighted size / p bytes, which makes the sum
 * of weights an unbiased estimate of the bytes allocated. The process is run as a countdown of
 * bytes to the next pick, drawn from an exponential distribution with mean `rate`. An
 * allocation of at least `rate` bytes is always sampled (weighted by its size), so large
 * allocations are never missed; rate 1 samples every allocation (exact mode). Each thread has
 * its own countdown and random state.
 *
 * The countdown the fast test reads is capped at `rate`, and what the draw had beyond it waits
 * in a reserve: an allocation of at least `rate` bytes then always reaches the countdown, so
 * the fast test is one subtraction and the branch on its borrow, with no test of the size
 * against the rate (the countdown is kept one less than the bytes it counts, so that a borrow
 * is exactly "reached"). Reaching a capped countdown moves on to the reserve without a pick,
 * which keeps the draw, and so every byte's chance, what it was; the price is 0.58 more
 * slow-path calls a draw on average (a draw is cut into ceil(draw / rate) pieces): at the
 * default rate, about one more per MiB allocated.
 */
#ifndef RS_BYTE_SAMPLER_H
#define RS_BYTE_SAMPLER_H

#include <stdint.h>

typedef struct {
    uint64_t countdown; /* Bytes left before the slow test, less one: an allocation of more
                           than this reaches it (first: offset 0). */
    uint64_t reserve;   /* Bytes of the draw beyond the countdown. */
    uint64_t rate;      /* Mean bytes between samples; 1 = every allocation. */
    uint64_t random;    /* xorshift64* state, never 0. */
} rs_byte_sampler;

/* Starts a sampler with mean `rate` (at least 1) and a random `seed`. */
void rs_byte_sampler_init(rs_byte_sampler *sampler, uint64_t rate, uint64_t seed);

/* Counts an allocation of `size` bytes: 0 when it is certainly not sampled (the common case:
 * one subtraction and a branch), 1 when it reached the countdown, and rs_byte_sampler_crossed
 * decides. A sampler never started (all zero) reaches on every allocation of a byte or more,
 * and then picks it. On x86-64 the subtraction is made in memory and the branch taken on its
 * borrow (`sub` to a thread-local countdown, `jb`), which compilers do not emit from the C
 * below: the hooks' allocation path is three instructions shorter. The countdown is an input
 * the asm writes, covered by the "memory" clobber: given as an output, GCC 12 dropped the code
 * after the label (the branch then ran into the next function). */
static inline __attribute__((always_inline)) int
rs_byte_sampler_reached(rs_byte_sampler *sampler, uint64_t size)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __asm__ goto("subq %1, %0\n\tjb %l[reached]"
                 : /* No outputs: see above. */
                 : "m"(sampler->countdown), "r"(size)
                 : "cc", "memory"
                 : reached);
    return 0;
reached:
    sampler->countdown += size; /* Back as it was, for rs_byte_sampler_crossed. */
    return 1;
#else
    if (size > sampler->countdown) {
        return 1;
    }
    sampler->countdown -= size;
    return 0;
#endif
}

/* After rs_byte_sampler_reached said 1, for the same allocation: the bytes it stands for when
 * it is picked (a pick from the countdown restarts it), or 0 when it only moved the countdown
 * on to the reserve (it is then counted). */
uint64_t rs_byte_sampler_crossed(rs_byte_sampler *sampler, uint64_t size);

/* Both at once: 0 when the allocation is not sampled, else the bytes it stands for. */
static inline uint64_t
rs_byte_sampler_take(rs_byte_sampler *sampler, uint64_t size)
{
    return rs_byte_sampler_reached(sampler, size) ? rs_byte_sampler_crossed(sampler, size) : 0;
}

#endif /* RS_BYTE_SAMPLER_H */
