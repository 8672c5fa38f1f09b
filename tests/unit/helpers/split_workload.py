"""The sampler tests' workload of known shape: a and b busy on the CPU (in spin), c asleep.

Imported by the in-process tests (tests/unit/test_cpu_sampler.py) and by the scripts that
test_portable.py runs against the portable build, so both measure the same functions.
"""

import time


def spin(seconds):
    """Busy CPU for `seconds` (C calls only, so no Python frame of its own)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def a(seconds):
    spin(seconds)


def b(seconds):
    spin(seconds)


def c(seconds):
    time.sleep(seconds)
