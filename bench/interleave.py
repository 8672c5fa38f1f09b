"""The measuring protocol every overhead benchmark shares: interleaved rounds and medians.

Figures from separate runs on a small, noisy machine cannot be compared, so variants are only
compared within one run. Each round times every variant once, in an order drawn at random for
each round (from a fixed seed, so a run can be repeated), so that drift (CPU frequency, a
neighbour's load, the garbage collector) falls on every variant alike, and so does whatever a
batch leaves behind for the next one: in an order that only rotated, each variant always came
after the same one, and two identical variants measured apart by up to half a percent. A
variant's figure is its median over the rounds; what it adds to the
baseline is the median over the rounds of its difference to the baseline timed in the same
round, which cancels drift slower than one round. Its 95% confidence interval comes from the
order statistics of those differences (the binomial interval for a median, which assumes
nothing about their distribution), so it narrows as rounds are added.
"""

import gc
import math
import random
import statistics
from dataclasses import dataclass


@dataclass
class Outcome:
    """One variant's figures over the rounds, in the unit its batch function returns."""

    median: float
    added_median: float  # Median of the per-round differences to the baseline.
    added_low: float  # 95% confidence interval of that median.
    added_high: float

    @property
    def added_resolved(self) -> bool:
        """Whether the confidence interval of the added cost excludes zero."""
        return self.added_low > 0 or self.added_high < 0


def median_confidence_interval(samples, z=1.96):
    """The distribution-free confidence interval of the median (default 95%).

    Ranks (n - z * sqrt(n)) / 2 from either end of the sorted samples; needs at least 6.
    """
    ordered = sorted(samples)
    count = len(ordered)
    rank = math.floor((count - z * math.sqrt(count)) / 2)
    if rank < 0:
        raise ValueError(f"{count} samples are too few for a confidence interval")
    return ordered[rank], ordered[count - 1 - rank]


# The seed of the rounds' orders: the same run, repeated, times the variants in the same orders.
ORDER_SEED = 20261207


def run_rounds(batches, rounds, seed=ORDER_SEED):
    """Times each batch function once per round, in a random order per round; returns the
    samples.

    ``batches`` maps a variant's name to a function that runs one batch and returns its cost
    per operation. The garbage of one batch is collected before the next starts; what exists
    before the first round, and what outlives each round, is frozen out of the collector, so
    that collecting stays cheap. (Django's test client keeps three weakref finalizers per
    request for good; collected again and again, 800 rounds of the CPU benchmark's Django
    table spent more time in the collector than in the requests.)
    """
    gc.collect()
    gc.freeze()
    names = list(batches)
    samples = {name: [] for name in names}
    order = random.Random(seed)
    for _ in range(rounds):
        for name in order.sample(names, len(names)):
            gc.collect()
            samples[name].append(batches[name]())
        gc.collect()
        gc.freeze()
    return samples


def compare(batches, baseline, rounds):
    """Runs ``rounds`` interleaved rounds (after one untimed warm-up) and sums them up.

    Returns an ``Outcome`` per variant, in the order of ``batches``; ``baseline`` names the
    variant the others are compared to.
    """
    run_rounds(batches, 1)
    samples = run_rounds(batches, rounds)
    outcomes = {}
    for name, values in samples.items():
        added = [value - base for value, base in zip(values, samples[baseline])]
        low, high = median_confidence_interval(added)
        outcomes[name] = Outcome(statistics.median(values), statistics.median(added), low, high)
    return outcomes
