"""Sampler stress: many threads opening CPU scopes while code objects are created and freed all
the time, so the sampler keeps reading frames whose code dies under it. Nothing may crash
(`make asan` runs this under ASan), and memory must stay flat across 10,000 scopes.

The scenario runs in an interpreter of its own (this file, run as a script), so that a crash
fails the test instead of the run, and its resident size is the scenario's alone: in the
suite's own process the same growth measured 1.3 MiB when run alone and 4.7 MiB after the
other tests, whose leftovers in the heap it took on."""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

THREADS = 16
SCOPES_PER_THREAD = 625  # 10,000 scopes in all.
WARM_UP_SCOPES = 2_000
ROOT = Path(__file__).resolve().parent.parent.parent


def resident_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def short_lived_code(serial):
    """Compiles, runs and drops a new function: its code object is freed right after."""
    namespace = {}
    exec(compile(f"def churn_{serial}(n):\n    return sum(i * i for i in range(n))\n",
                 f"<churn {serial}>", "exec"), namespace)
    return namespace[f"churn_{serial}"](2_000)


def sixteen_threads_of_short_scopes():
    """The scenario: returns the scopes finished, their samples, the resident size after the
    warm-up and at the end, and the workers' errors."""
    import reqscope

    done = threading.Event()
    outcome = {"scopes": 0, "samples": 0, "errors": []}
    lock = threading.Lock()

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
                    outcome["scopes"] += 1
                    outcome["samples"] += report["cpu"]["samples"]
                    if outcome["scopes"] == WARM_UP_SCOPES:
                        outcome["after_warm_up"] = resident_bytes()
        except Exception as error:  # Reported after the join, with the thread's number.
            outcome["errors"].append(f"{number}: {error!r}")

    churner = threading.Thread(target=churn_forever)
    churner.start()
    workers = [threading.Thread(target=worker, args=(number,)) for number in range(THREADS)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    done.set()
    churner.join()
    outcome["at_end"] = resident_bytes()
    return outcome


def test_sixteen_threads_of_short_scopes_with_code_churn_keep_memory_flat():
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        path for path in (environment.get("PYTHONPATH"), str(ROOT)) if path)
    result = subprocess.run([sys.executable, __file__], capture_output=True, text=True,
                            timeout=600, env=environment)
    assert result.returncode == 0, result.stdout + result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["errors"] == []
    assert outcome["scopes"] == THREADS * SCOPES_PER_THREAD
    # The sampler really read stacks while code came and went: more than one a scope (12,500
    # to 13,000 in all measured), where a sampler that stopped early would leave a few hundred.
    assert outcome["samples"] > 3_000
    # 8,000 scopes after the warm-up: 0.8 to 0.9 MiB of growth measured (about 100 bytes a
    # scope, the interpreter's own churn included), so a leak of 512 bytes a scope fails. Under ASan
    # (tools/asan) freed blocks wait in its quarantine first: 15 MiB measured there.
    limit = 24 if os.environ.get("REQSCOPE_TEST_SANITIZED") else 4
    growth = outcome["at_end"] - outcome["after_warm_up"]
    assert growth < limit * 1024 * 1024, outcome


if __name__ == "__main__":
    print(json.dumps(sixteen_threads_of_short_scopes()))
