"""CPU profiler overhead: what profiling adds to a run, for reqscope's sampler and the peers.

Two workloads (bench/workloads/):

- call_heavy: a CPU-bound, call-heavy pure-Python run of about 25 ms (recursive Fibonacci,
  small helper functions, dict and list work), the worst case for a profiler that hooks calls;
- django_view: a Django view through the test client (three ORM queries on in-memory SQLite,
  a JSON catalogue built in Python), 10 requests per batch.

Variants: no profiler (the baseline); reqscope installed, its sampler thread started by an
earlier scope and asleep, no scope active (idle); reqscope ``cpu=True`` at 1 ms (SQL
recording on, its default; for the Django view also ``sql=False``, which leaves the sampler
alone); pyinstrument at 1 ms; cProfile. Each profiler is started and stopped around each run
(each request), as a middleware does, inside the clock; building or rendering a report is not.

A batch first puts the variant's state in place (the sampler thread stopped, or started), then
makes untimed runs of the variant, then times its runs: what is measured is the steady state
of a server that serves one request after another, with reqscope or without. The untimed runs
take what the batch's start leaves behind. The collector's pass before each batch
(interleave.py) leaves the caches and branch predictors cold: on the Django view the first
request after it took 27% longer than the fourth, the second 4%, the third 2%; and the
baseline timed right after its state change (joining the sampler thread) came out 2% slower
than an identical variant that followed it. So the view makes three untimed requests, and
call_heavy one untimed run (28 ms). Idle goes on with untimed runs until the sampler thread's
grace is over (it keeps its deadlines 20 ms after the last scope), so it is timed with the
thread asleep, as between two distant requests, and without a sleep: a 25 ms sleep before a
batch, even followed by one untimed request, left its requests 3% slower for ten requests.

All variants run in this one process, interleaved (interleave.py): two processes that run the
same code differ by several percent on call_heavy (their memory layouts differ), more than the
costs to measure. So "no profiler" is reqscope imported but inert: before each of its batches
(and the peers'), reqscope's sampler thread is stopped, and the view's Django connection runs
on a plain SQLite connection without reqscope's execute wrapper; the idle and active variants
get the same Django connection on an SQLite connection that reqscope's installed hook made, as
an application's would be, with the wrapper, and a sampler thread started outside the clock
(DjangoConnections). Installed but idle, reqscope puts no hook on pure-Python code, so for
call_heavy idle differs from the baseline by the sleeping thread alone.

Before timing, each variant is checked: reqscope's scope got samples, and its sampler does not
tick while idle; pyinstrument's session has samples; cProfile's stats are not empty. The check
of each active reqscope variant also gives the sampler thread's own CPU use, in % of a core:
the timed figures cannot show it, since here it runs on the second core.
"""

import contextlib
import cProfile
import os
import pstats
import threading
import time

import reqscope
from reqscope import _core
from reqscope.hooks import django as django_hook

from table import measure_overhead
from workloads import call_heavy, django_view

INTERVAL_SECONDS = 0.001
BASELINE = "no profiler"
IDLE = "reqscope installed, idle"
# Rounds per table, and timed runs per batch: each round times every variant once. reqscope's
# table resolves costs of a fraction of a percent, the peers' costs of 80% and more. A batch of
# one request and many rounds: a burst of load from elsewhere spoils a few rounds, which the
# median leaves out, instead of most batches of ten.
CALL_HEAVY_ROUNDS, CALL_HEAVY_PEER_ROUNDS = 301, 31
DJANGO_ROUNDS, DJANGO_PEER_ROUNDS = 801, 51
DJANGO_REQUESTS_PER_BATCH = 5
# Untimed runs before each batch's timed ones (see the module's documentation).
CALL_HEAVY_WARM_UP_RUNS, DJANGO_WARM_UP_RUNS = 1, 3
# Idle's untimed runs last at least this long: longer than the sampler thread's grace
# (IDLE_GRACE_NS in sampler/sampler.c, 20 ms), after which it sleeps.
SAMPLER_GRACE_SECONDS = 0.025
# Targets for the added cost, in % of the baseline.
TARGETS = {IDLE: 0.5, "reqscope cpu=True, 1 ms": 2.0, "reqscope cpu=True, 1 ms, sql=False": 2.0}
# The database of the Django view (djangoapp_bench/settings.py).
HOOKED_ALIAS = "reqscope"


# ---------------- The sampler thread's state, set outside the clock ----------------


def thread_count():
    return len(os.listdir("/proc/self/task"))


def stop_sampler():
    """No sampler thread: reqscope as good as absent."""
    _core.sampler_stop()


def start_sampler():
    """A sampler thread that exists and, once its grace is over, sleeps, as after any earlier
    CPU scope."""
    with reqscope.profile(name="start sampler", cpu=True, interval=INTERVAL_SECONDS,
                          on_report=None):
        pass


# ---------------- Profilers, each wrapped around one run ----------------


def reqscope_cpu(sql):
    def instrument():
        return reqscope.profile(name="cpu_overhead", cpu=True, interval=INTERVAL_SECONDS,
                                sql=sql, on_report=None)
    return instrument


@contextlib.contextmanager
def pyinstrument_profiler():
    from pyinstrument import Profiler

    profiler = Profiler(interval=INTERVAL_SECONDS)
    profiler.start()
    try:
        yield profiler
    finally:
        profiler.stop()


@contextlib.contextmanager
def cprofile_profiler():
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield profiler
    finally:
        profiler.disable()


# ---------------- Checks that each variant does what it says ----------------


def other_threads_cpu_ns():
    """CPU time of this process's threads other than the calling one (schedstat, in ns): the
    sampler's, in these benchmarks, which start no other thread."""
    own = str(threading.get_native_id())
    total = 0
    for task in os.listdir("/proc/self/task"):
        if task != own:
            try:
                with open(f"/proc/self/task/{task}/schedstat") as schedstat:
                    total += int(schedstat.read().split()[0])
            except FileNotFoundError:  # The thread ended meanwhile.
                pass
    return total


def check_reqscope(instrument, run, runs, records_sql):
    """Runs one batch, each run in its own scope as when timed, and sums what the scopes saw;
    then runs batches for half a second to measure the sampler thread's own CPU use (on a
    spare core here; on a loaded machine it is taken from the application)."""
    samples = missed = queries = 0
    for _ in range(runs):
        with instrument() as scope:
            run()
        report = scope.report.to_dict()
        samples += report["cpu"]["samples"]
        missed += report["cpu"]["missed"]
        if records_sql:
            queries += report["sql"]["count"]
    if samples == 0:
        raise AssertionError(f"reqscope got no CPU samples in {runs} run(s)")
    if records_sql and queries == 0:
        raise AssertionError("reqscope recorded no SQL")
    started, sampler_before = time.perf_counter_ns(), other_threads_cpu_ns()
    while time.perf_counter_ns() - started < 500_000_000:
        with instrument():
            run()
    share = (other_threads_cpu_ns() - sampler_before) / (time.perf_counter_ns() - started)
    recorded = f", {queries} queries" if records_sql else ""
    return (f"{samples} samples, {missed} missed{recorded} in {runs} run(s); "
            f"sampler thread {share * 100:.1f}% of a core")


def check_baseline(run, without):
    without()
    ticks_before = _core.sampler_ticks()
    run()
    if _core.sampler_ticks() != ticks_before:
        raise AssertionError("reqscope's sampler ticked after it was stopped")
    return "sampler stopped, 0 ticks"


def check_idle(run, without, with_reqscope):
    without()
    threads_without = thread_count()
    with_reqscope()
    if thread_count() != threads_without + 1:
        raise AssertionError("reqscope's sampler thread did not start")
    settled = time.perf_counter() + SAMPLER_GRACE_SECONDS  # As idle's batches do.
    while time.perf_counter() < settled:
        run()
    ticks_before = _core.sampler_ticks()
    run()
    idle_ticks = _core.sampler_ticks() - ticks_before
    if idle_ticks:
        raise AssertionError(f"reqscope's sampler ticked {idle_ticks} times while idle")
    return "sampler thread alive, 0 ticks"


def check_pyinstrument(run):
    with pyinstrument_profiler() as profiler:
        run()
    samples = profiler.last_session.sample_count
    if samples == 0:
        raise AssertionError("pyinstrument's session has no samples")
    return f"{samples} samples"


def check_cprofile(run):
    with cprofile_profiler() as profiler:
        run()
    stats = pstats.Stats(profiler)
    if not stats.stats:
        raise AssertionError("cProfile recorded no function")
    return f"{len(stats.stats)} functions, {stats.total_calls} calls"


# ---------------- Variants ----------------


def batch(prepare, instrument, run, runs, warm_up_runs, settle_seconds=0.0):
    """A batch function: ``prepare()``, ``warm_up_runs`` untimed runs each inside
    ``instrument()``, more until ``settle_seconds`` have passed, then ``runs`` runs each inside
    ``instrument()``; milliseconds per timed run."""
    def timed():
        prepare()
        settled = time.perf_counter() + settle_seconds
        warmed = 0
        while warmed < warm_up_runs or time.perf_counter() < settled:
            with instrument():
                run()
            warmed += 1
        start = time.perf_counter_ns()
        for _ in range(runs):
            with instrument():
                run()
        return (time.perf_counter_ns() - start) / runs / 1e6
    return timed


def variants(run, runs, warm_up_runs, runs_sql, hooks=None):
    """{name: (batch function, what its check saw)} for one workload.

    ``run`` is one run of the workload. ``hooks``, when given, has ``use_plain()`` and
    ``use_recording()``, which take reqscope's hooks off what the run uses and put them back
    (DjangoConnections); a workload that ``runs_sql`` also gets reqscope with ``sql=False``,
    and reqscope must record its queries.
    """
    def without():
        """reqscope as good as absent: no sampler thread, no hook on what the run uses."""
        if hooks is not None:
            hooks.use_plain()
        stop_sampler()

    def with_reqscope():
        """reqscope installed, its sampler thread started."""
        if hooks is not None:
            hooks.use_recording()
        start_sampler()

    nothing = contextlib.nullcontext
    reqscope_variants = {"reqscope cpu=True, 1 ms": True}
    if runs_sql:
        reqscope_variants["reqscope cpu=True, 1 ms, sql=False"] = False
    result = {
        BASELINE: (batch(without, nothing, run, runs, warm_up_runs),
                   check_baseline(run, without)),
        IDLE: (batch(with_reqscope, nothing, run, runs, warm_up_runs, SAMPLER_GRACE_SECONDS),
               check_idle(run, without, with_reqscope)),
    }
    for name, sql in reqscope_variants.items():
        instrument = reqscope_cpu(sql)
        with_reqscope()
        result[name] = (batch(with_reqscope, instrument, run, runs, warm_up_runs),
                        check_reqscope(instrument, run, runs, sql and runs_sql))
    without()
    result["pyinstrument, 1 ms"] = (batch(without, pyinstrument_profiler, run, runs,
                                          warm_up_runs), check_pyinstrument(run))
    result["cProfile"] = (batch(without, cprofile_profiler, run, runs, warm_up_runs),
                          check_cprofile(run))
    return result


class DjangoConnections:
    """One Django connection whose raw SQLite connection is swapped between batches: a plain
    one for the runs without reqscope, and one that reqscope's sqlite3 hook made (a recording
    subclass), with reqscope's execute wrapper on the Django connection, for the runs with it.
    Both hold the same tables and rows (the SQLite backup API copies them).

    Everything above SQLite is the same objects in both: with two Django connections instead,
    each variant's requests ran on objects of their own, whose places in memory alone made the
    idle variant, the same code as the baseline's but for a test per statement, measure from
    0.9% faster than the baseline to 0.5% slower in separate runs.
    """

    def __init__(self):
        from django.db import connections

        from reqscope.hooks import sqlite3 as sqlite3_hook

        self.client = django_view.setup_django()
        reqscope.install()
        self.connection = connections[HOOKED_ALIAS]
        django_view.fill_database(HOOKED_ALIAS)
        self.recording = self.connection.connection
        sqlite3_hook.uninstall()  # Django's next raw connection is sqlite3's own.
        try:
            self.plain = self.connection.get_new_connection(
                self.connection.get_connection_params())
        finally:
            sqlite3_hook.install()
        if hasattr(self.plain, "_reqscope_recording"):
            raise AssertionError("the plain SQLite connection is reqscope's")
        self.recording.backup(self.plain)
        self.use_plain()
        self.connection.init_connection_state()
        self.use_recording()

    def use_plain(self):
        self.connection.connection = self.plain
        django_hook.unwrap_connection(self.connection)

    def use_recording(self):
        self.connection.connection = self.recording
        django_hook.wrap_connection(self.connection)

    def request(self):
        response = self.client.get(django_view.url(HOOKED_ALIAS))
        if response.status_code != 200:
            raise AssertionError(f"the view answered {response.status_code}")


# ---------------- Tables ----------------


def measure(title, workload_variants, names, rounds, runs, warm_up_runs, targets):
    """The overhead table of the variants ``names`` (the baseline first), interleaved."""
    return measure_overhead(title, {name: workload_variants[name] for name in names}, BASELINE,
                            targets, rounds, runs, warm_up=f"{warm_up_runs} run(s)")


def tables(title, workload_variants, runs, warm_up_runs, rounds, peer_rounds):
    """reqscope's table (the baseline, idle and active: small costs, many rounds), where the
    targets are judged, and the peers' (the baseline, reqscope active, pyinstrument, cProfile:
    large costs, few rounds, too few to judge a 2% target). Apart, because in one rotation with
    the peers the baseline ran 2-3% slower than reqscope idle on call_heavy, in two runs, and
    not when the peers were left out: the batches that follow a profile hook's are disturbed
    (our guess: the interpreter state the hooks leave behind), and reqscope's costs are a
    fraction of that."""
    ours = [name for name in workload_variants if name.startswith("reqscope")]
    peers = [BASELINE, "reqscope cpu=True, 1 ms", "pyinstrument, 1 ms", "cProfile"]
    return [measure(f"{title}: reqscope", workload_variants, [BASELINE, *ours], rounds, runs,
                    warm_up_runs, TARGETS),
            measure(f"{title}: the peers", workload_variants, peers, peer_rounds, runs,
                    warm_up_runs, {})]


def run():
    django = DjangoConnections()
    requests, warm_up = DJANGO_REQUESTS_PER_BATCH, DJANGO_WARM_UP_RUNS
    return [
        *tables("CPU profiler overhead, call-heavy pure Python (ms per run)",
                variants(call_heavy.run_once, 1, CALL_HEAVY_WARM_UP_RUNS, runs_sql=False),
                1, CALL_HEAVY_WARM_UP_RUNS, CALL_HEAVY_ROUNDS, CALL_HEAVY_PEER_ROUNDS),
        *tables(f"CPU profiler overhead, Django view through the test client (ms per request, "
                f"{requests} requests per batch)",
                variants(django.request, requests, warm_up, runs_sql=True, hooks=django),
                requests, warm_up, DJANGO_ROUNDS, DJANGO_PEER_ROUNDS),
    ]
