"""Sampler stress: many threads opening CPU scopes while code objects are created and freed all
the time, so the sampler keeps reading frames whose code dies under it. Nothing may crash
(`make asan` runs this under ASan), and memory must stay flat across 10,000 scopes."""

import os
import threading
import time

import reqscope

THREADS = 16
SCOPES_PER_THREAD = 625  # 10,000 scopes in all.
WARM_UP_SCOPES = 2_000


def resident_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def short_lived_code(serial):
    """Compiles, runs and drops a new function: its code object is freed right after."""
    namespace = {}
    exec(compile(f"def churn_{serial}(n):\n    return sum(i * i for i in range(n))\n",
                 f"<churn {serial}>", "exec"), namespace)
    return namespace[f"churn_{serial}"](2_000)


def test_sixteen_threads_of_short_scopes_with_code_churn_keep_memory_flat():
    done = threading.Event()
    finished_scopes = []
    samples = []
    lock = threading.Lock()
    measurements = {}
    errors = []

    def churn_forever():
        serial = 0
        while not done.is_set():
            short_lived_code(f"background_{serial}")
            serial += 1
            time.sleep(0)  # Hand the GIL over: churn constantly, but not for 5 ms at a time.

    def worker(number):
        try:
            for index in range(SCOPES_PER_THREAD):
                with reqscope.profile(name=f"w{number}", cpu=True, interval=0.0001,
                                      on_report=None) as scope:
                    short_lived_code(f"{number}_{index}")
                report = scope.report.to_dict()
                with lock:
                    finished_scopes.append(1)
                    samples.append(report["cpu"]["samples"])
                    if len(finished_scopes) == WARM_UP_SCOPES:
                        measurements["after_warm_up"] = resident_bytes()
        except Exception as error:  # Reported after the join, with the thread's number.
            errors.append((number, error))

    churner = threading.Thread(target=churn_forever)
    churner.start()
    workers = [threading.Thread(target=worker, args=(number,)) for number in range(THREADS)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    done.set()
    churner.join()
    measurements["at_end"] = resident_bytes()

    assert errors == []
    assert len(finished_scopes) == THREADS * SCOPES_PER_THREAD
    assert sum(samples) > 100  # The sampler really read stacks while code came and went.
    growth = measurements["at_end"] - measurements["after_warm_up"]
    assert growth < 24 * 1024 * 1024, measurements
