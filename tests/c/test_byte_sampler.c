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

TEST_IMPL(byte_sampler_reaches_when_an_allocation_uses_up_the_countdown)
{
    /* The fast test against a model of it: an allocation reaches the countdown when it is
     * larger than what is left (the countdown is kept one less than the bytes it counts), and
     * leaves it as it was then; otherwise it is subtracted. */
    rs_byte_sampler sampler;
    rs_byte_sampler_init(&sampler, 4096, 5);
    uint64_t sizes[] = {1, 0, 7, 100, 4095, 64, 3000, 1, 1, 2048};
    int reached = 0;
    for (int round = 0; round < 200; round++) {
        uint64_t size = sizes[round % 10];
        uint64_t before = sampler.countdown;
        int expected = size > before;
        ASSERT_EQ(rs_byte_sampler_reached(&sampler, size), expected);
        ASSERT_EQ(sampler.countdown, expected ? before : before - size);
        if (expected) {
            reached++;
            rs_byte_sampler_crossed(&sampler, size);
        }
    }
    ASSERT(reached > 0);
}

TEST_IMPL(byte_sampler_countdown_of_exactly_an_allocation_reaches_on_it)
{
    /* A draw of 100 bytes: 99 bytes pass, the 100th reaches and is picked. */
    rs_byte_sampler sampler;
    rs_byte_sampler_init(&sampler, 4096, 5);
    sampler.countdown = 100 - 1;
    sampler.reserve = 0;
    ASSERT_EQ(rs_byte_sampler_take(&sampler, 99), 0);
    ASSERT(rs_byte_sampler_take(&sampler, 1) >= 1);
}

TEST_IMPL(byte_sampler_never_started_picks_every_allocation_of_a_byte_or_more)
{
    rs_byte_sampler sampler;
    memset(&sampler, 0, sizeof(sampler));
    ASSERT_EQ(rs_byte_sampler_reached(&sampler, 0), 0);
    ASSERT_EQ(rs_byte_sampler_reached(&sampler, 1), 1);
    ASSERT_EQ(rs_byte_sampler_crossed(&sampler, 1), 1);
}
