"""Memory tracer overhead: what tracing allocations adds to a run, for reqscope and the peers.

Two workloads (bench/workloads/): alloc_heavy (about 60,000 allocations a run, the worst case
for a tracer) and django_view (the view of cpu_overhead through the test client, 10 requests
per batch).

Variants: no tracer (reqscope's allocator hooks removed); pass-through hooks, the floor of
any tracer built on PyMem_SetAllocator (tests/unit/helpers/passthrough_allocator.c, compiled
here: hooks that only call the allocator they replaced, installed around the batch); reqscope installed, idle
(a memory scope ran before, none runs now: the hooks have left the allocator chain); reqscope
idle while the leak view follows a live allocation (the hooks stay in the chain to see its
free: the cost of an idle process that hunts leaks); reqscope ``memory=True`` at the default
512 KiB, and exact
(``memory_rate=1``); tracemalloc at 1 and at 16 frames; memray. reqscope and tracemalloc are
started and stopped around each run (each request), as a middleware does, inside the clock;
memray's Tracker writes a capture file, so it wraps a whole batch (also inside the clock), and
the file is deleted outside it. reqscope runs with ``sql=False``: this measures memory tracing.

Two tables per workload, both interleaved in this one process: the close one (no tracer, idle,
512 KiB: costs of a few percent at most, so many rounds) and the peers (costs of 2x to 50x,
so few rounds of the slow variants suffice). Before timing, each variant is checked: reqscope's
scopes got samples (and what exact mode counted per run is shown), tracemalloc traced memory,
memray wrote a capture. (That exact mode matches tracemalloc line by line is a test:
tests/unit/test_memory.py.)
"""

import contextlib
import ctypes
import os
import pathlib
import tempfile
import time
import tracemalloc

import reqscope
from reqscope import _core

from table import measure_overhead
from workloads import alloc_heavy, django_view
# The memory tests' helpers (bench/run.py puts the work tree on the path).
from tests.unit.helpers.allocators import allocators_now, compile_passthrough

BASELINE = "no tracer"
PASSTHROUGH = "pass-through hooks (the floor)"
IDLE = "reqscope installed, idle"
FOLLOWING = "reqscope idle, leak view following"
SAMPLED = "reqscope memory=True, 512 KiB"
TARGETS = {IDLE: 0.5, FOLLOWING: 0.5, SAMPLED: 3.0}
CLOSE_ROUNDS = 151
PEER_ROUNDS = 15
DJANGO_REQUESTS_PER_BATCH = 10
ALLOC_RUNS_PER_BATCH = 4


# ---------------- The hooks' state, set outside the clock ----------------

FOLLOWED = []  # What the leak view follows in the FOLLOWING variant.


def remove_hooks():
    FOLLOWED.clear()
    if not reqscope.uninstall(memory=True):
        raise AssertionError("reqscope's allocator hooks could not be removed")


def install_hooks():
    with reqscope.profile(name="install", memory=True, sql=False, on_report=None):
        pass


def idle_hooks():
    """A memory scope ran and the leak view follows nothing: the hooks left the chain."""
    FOLLOWED.clear()
    reqscope.memory_growth(reset=True)
    install_hooks()


def hooks_in_chain():
    return _core.memory_hooks_chained()


def follow_an_allocation():
    """A finished request under a followed route (no warm-up) that left one block alive: the
    hooks stay in the allocator chain until it is freed."""
    if FOLLOWED:
        return
    warmup = reqscope.configure().memory_warmup
    reqscope.configure(memory_warmup=0)
    try:
        with reqscope.profile(name="GET /follow/", memory=True, memory_rate=1, sql=False,
                              on_report=None):
            FOLLOWED.append(bytearray(4096))
    finally:
        reqscope.configure(memory_warmup=warmup)
    if not reqscope.memory_growth(everything=True):
        raise AssertionError("the leak view follows nothing")


# ---------------- The yardstick: hooks that record nothing ----------------

ROOT = pathlib.Path(__file__).resolve().parent.parent


def passthrough_hooks():
    """Compiles the tests' pass-through allocator hooks into build/bench/ and loads them."""
    return ctypes.PyDLL(str(compile_passthrough(ROOT / "build" / "bench")))


@contextlib.contextmanager
def hooks_around(library):
    library.install_passthrough()
    try:
        yield
    finally:
        library.uninstall_passthrough()


# ---------------- Tracers, each wrapped around one run ----------------


def reqscope_memory(rate):
    def instrument():
        return reqscope.profile(name="memory_overhead", memory=True, memory_rate=rate, sql=False,
                                on_report=None)
    return instrument


def tracemalloc_tracer(frames):
    @contextlib.contextmanager
    def instrument():
        tracemalloc.start(frames)
        try:
            yield
        finally:
            tracemalloc.stop()
    return instrument


class MemrayCapture:
    """memray.Tracker around a batch, to a fresh file in `folder`; the file goes outside the
    clock (`prepare`)."""

    def __init__(self, folder, prefix):
        self.folder = folder
        self.prefix = prefix
        self.serial = 0
        self.last = None

    def prepare(self):
        remove_hooks()
        if self.last and os.path.exists(self.last):
            os.unlink(self.last)

    def tracker(self):
        import memray

        self.serial += 1
        self.last = os.path.join(self.folder, f"{self.prefix}-{self.serial}.bin")
        return memray.Tracker(self.last)


# ---------------- Batches and checks ----------------


def batch(prepare, instrument, run, runs, around_batch=contextlib.nullcontext):
    """A batch function: ``prepare()``, then ``runs`` runs each inside ``instrument()``, all
    inside ``around_batch()``; milliseconds per run."""
    def timed():
        prepare()
        start = time.perf_counter_ns()
        with around_batch():
            for _ in range(runs):
                with instrument():
                    run()
        return (time.perf_counter_ns() - start) / runs / 1e6
    return timed


def check_reqscope(instrument, run, runs):
    install_hooks()
    samples = allocated = 0
    for _ in range(runs):
        with instrument() as scope:
            run()
        memory = scope.report.to_dict()["memory"]
        samples += memory["samples"]
        allocated += memory["allocated_bytes"]
    if samples == 0:
        raise AssertionError(f"reqscope got no memory samples in {runs} run(s)")
    return samples, allocated


def check_exact(run, runs):
    samples, allocated = check_reqscope(reqscope_memory(1), run, runs)
    return f"{samples // runs} allocations, {allocated / runs / 1e6:.2f} MB/run"


def check_idle(run):
    idle_hooks()
    run()
    if hooks_in_chain():
        raise AssertionError("idle, the hooks did not leave the allocator chain")
    return "hooks out of the chain, no scope"


def check_passthrough(library):
    remove_hooks()
    plain = allocators_now()
    with hooks_around(library):
        if allocators_now() == plain:
            raise AssertionError("the pass-through hooks are not in the allocator chain")
    if allocators_now() != plain:
        raise AssertionError("the pass-through hooks stayed in the allocator chain")
    return "pass-through hooks in the chain"


def check_following(run):
    follow_an_allocation()
    run()
    if not hooks_in_chain():
        raise AssertionError("following an allocation, the hooks left the allocator chain")
    return "hooks in the chain, no scope"


def check_tracemalloc(instrument, run):
    remove_hooks()
    with instrument():
        run()
        _, peak = tracemalloc.get_traced_memory()
    if peak == 0:
        raise AssertionError("tracemalloc traced nothing")
    return f"peak {peak / 1e6:.1f} MB traced"


def check_memray(capture, run):
    capture.prepare()
    with capture.tracker():
        run()
    size = os.path.getsize(capture.last)
    if size == 0:
        raise AssertionError("memray wrote an empty capture")
    return f"capture of {size / 1e3:.0f} kB"


# ---------------- Variants ----------------


def close_variants(run, runs, passthrough):
    nothing = contextlib.nullcontext
    samples, allocated = check_reqscope(reqscope_memory(512 * 1024), run, runs)
    return {
        BASELINE: (batch(remove_hooks, nothing, run, runs), "hooks removed"),
        PASSTHROUGH: (batch(remove_hooks, nothing, run, runs,
                            lambda: hooks_around(passthrough)), check_passthrough(passthrough)),
        IDLE: (batch(idle_hooks, nothing, run, runs), check_idle(run)),
        FOLLOWING: (batch(follow_an_allocation, nothing, run, runs), check_following(run)),
        SAMPLED: (batch(install_hooks, reqscope_memory(512 * 1024), run, runs),
                  f"{samples} samples, ~{allocated / runs / 1e6:.2f} MB/run"),
    }


def peer_variants(run, runs, folder, prefix):
    nothing = contextlib.nullcontext
    capture = MemrayCapture(folder, prefix)
    samples, allocated = check_reqscope(reqscope_memory(512 * 1024), run, runs)
    result = {
        BASELINE: (batch(remove_hooks, nothing, run, runs), "hooks removed"),
        SAMPLED: (batch(install_hooks, reqscope_memory(512 * 1024), run, runs),
                  f"{samples} samples"),
        "reqscope memory=True, exact": (batch(install_hooks, reqscope_memory(1), run, runs),
                                        check_exact(run, runs)),
    }
    for frames in (1, 16):
        instrument = tracemalloc_tracer(frames)
        result[f"tracemalloc, {frames} frame{'s' if frames > 1 else ''}"] = (
            batch(remove_hooks, instrument, run, runs), check_tracemalloc(instrument, run))
    result["memray"] = (batch(capture.prepare, nothing, run, runs, capture.tracker),
                        check_memray(capture, run))
    return result


def django_request():
    client = django_view.setup_django()
    django_view.fill_database("default")
    url = django_view.url("default")

    def one_request():
        response = client.get(url)
        if response.status_code != 200:
            raise AssertionError(f"{url} answered {response.status_code}")
    return one_request


def run():
    request = django_request()
    passthrough = passthrough_hooks()
    workloads = [("alloc-heavy pure Python", alloc_heavy.run_once, ALLOC_RUNS_PER_BATCH,
                  "ms per run", "alloc"),
                 ("Django view through the test client", request, DJANGO_REQUESTS_PER_BATCH,
                  "ms per request", "django")]
    tables = []
    with tempfile.TemporaryDirectory(prefix="reqscope-memray-") as folder:
        for title, workload, runs, unit, prefix in workloads:
            tables.append(measure_overhead(
                f"Memory tracer overhead, {title} ({unit}): reqscope",
                close_variants(workload, runs, passthrough), BASELINE, TARGETS, CLOSE_ROUNDS,
                runs))
            # The targets are judged in the close table: 15 rounds cannot resolve 3%.
            tables.append(measure_overhead(
                f"Memory tracer overhead, {title} ({unit}): the peers",
                peer_variants(workload, runs, folder, prefix), BASELINE, {}, PEER_ROUNDS, runs))
    remove_hooks()
    return tables
