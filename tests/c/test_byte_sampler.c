/*
 * test_byte_sampler.c: the memory tracer's Poisson byte sampling gives unbiased estimates.
 */
#include "byte_sampler.h"
#include "runner.h"

/* The estimate of `count` allocations of `size` bytes, as a share of the true total. */
static double
estimate_share(uint64_t rate, uint64_t size, uint64_t count, uint64_t seed)
{
    rs_byte_sampler sampler;
    uint64_t estimated = 0;
    rs_byte_sampler_init(&sampler, rate, seed);
    for (uint64_t i = 0; i < count; i++) {
        estimated += rs_byte_sampler_take(&sampler, size);
    }
    return (double)estimated / (double)(size * count);
}

TEST_IMPL(byte_sampler_estimates_small_allocations_without_bias)
{
    /* 64-byte objects at a 512 KiB mean: about 2,400 samples over 20 million allocations. */
    double share = estimate_share(512 * 1024, 64, 20000000, 42);
    ASSERT(share > 0.95 && share < 1.05);
}

TEST_IMPL(byte_sampler_estimates_mid_sized_allocations_without_bias)
{
    double share = estimate_share(512 * 1024, 100000, 100000, 7);
    ASSERT(share > 0.97 && share < 1.03);
}

TEST_IMPL(byte_sampler_always_takes_allocations_of_at_least_the_rate)
{
    rs_byte_sampler sampler;
    rs_byte_sampler_init(&sampler, 4096, 3);
    for (int i = 0; i < 100; i++) {
        ASSERT_EQ(rs_byte_sampler_take(&sampler, 4096), 4096);
        ASSERT_EQ(rs_byte_sampler_take(&sampler, 1 << 20), 1 << 20);
    }
}

TEST_IMPL(byte_sampler_rate_one_takes_every_allocation_at_its_size)
{
    rs_byte_sampler sampler;
    rs_byte_sampler_init(&sampler, 1, 9);
    for (uint64_t size = 1; size < 1000; size += 7) {
        ASSERT_EQ(rs_byte_sampler_take(&sampler, size), size);
    }
}

TEST_IMPL(byte_sampler_mixed_sizes_sum_to_the_truth)
{
    rs_byte_sampler sampler;
    uint64_t truth = 0, estimated = 0, state = 99;
    rs_byte_sampler_init(&sampler, 64 * 1024, 11);
    for (int i = 0; i < 5000000; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t size = 16 + (state >> 33) % 2048;
        truth += size;
        estimated += rs_byte_sampler_take(&sampler, size);
    }
    double share = (double)estimated / (double)truth;
    ASSERT(share > 0.97 && share < 1.03);
}
