"""The known-split workload: 60% of its time on CPU in ``a``, 30% in ``b``, 10% asleep in ``c``.

Each of 100 loops spins for 6 ms in ``a``, 3 ms in ``b`` (both busy-waiting on
``time.perf_counter``, so the thread stays on CPU) and sleeps 1 ms in ``c``: about 1 s in all.
The loop also times each call by the clock, and itself by the thread's CPU clock: that is the
truth a profiler's shares are judged against (a 1 ms sleep oversleeps a little, so ``c`` takes
slightly more than 10%; on a busy machine the spinning thread is preempted at times, so less
than 90% is on CPU).

Run as a script, which is how py-spy records it, it runs the loop once and prints what
``known_split()`` returns as JSON on stdout.
"""

import json
import time

LOOPS = 100
BUSY_SECONDS = {"a": 0.006, "b": 0.003}
SLEEP_SECONDS = 0.001
FUNCTIONS = ("a", "b", "c")
NOMINAL_SHARES = {"a": 0.6, "b": 0.3, "c": 0.1}


def spin(seconds):
    """Keeps this thread on CPU for ``seconds`` by the clock."""
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        pass


def a():
    spin(BUSY_SECONDS["a"])


def b():
    spin(BUSY_SECONDS["b"])


def c():
    time.sleep(SLEEP_SECONDS)


def known_split(loops=LOOPS):
    """Runs the loop; returns ``{"seconds": {function: seconds by the clock}, "cpu_seconds":
    the thread's CPU time over the loop}``."""
    seconds = dict.fromkeys(FUNCTIONS, 0.0)
    calls = [("a", a), ("b", b), ("c", c)]
    cpu_start = time.thread_time()
    for _ in range(loops):
        for name, function in calls:
            start = time.perf_counter()
            function()
            seconds[name] += time.perf_counter() - start
    return {"seconds": seconds, "cpu_seconds": time.thread_time() - cpu_start}


if __name__ == "__main__":
    print(json.dumps(known_split()))
