"""The native CPU sampler: accuracy, attribution to the right scope, propagation, lifecycle."""

import asyncio
import concurrent.futures
import gc
import json
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
import types

import pytest

import reqscope
from helpers.sampler_workloads import (a, awaited_request, b, c, fork_under_a_sampled_scope,
                                       function_names, interleaved_requests, spin, two_threads)
from reqscope import _core

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def shares(report):
    """Each function's share of the sampled time, by total time (a and b spend theirs in spin)."""
    cpu = report["cpu"]
    total = cpu["sampled_ms"]
    return {f["function"]: 100.0 * f["total_ms"] / total for f in cpu["functions"]}, cpu


def stolen_seconds():
    """CPU time the hypervisor gave other guests, summed over this VM's CPUs (/proc/stat)."""
    with open("/proc/stat") as stat:
        fields = stat.readline().split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK") if len(fields) > 8 else 0.0


def known_split_errors():
    """Runs the known split once in a scope: the points by which each share misses the truth
    (what each call actually took, timed alongside), the report's cpu section, and whether the
    machine was disturbed: CPU stolen by the hypervisor during the run (over 2% of it), or
    sleeps that took over 1.5 times as long as asked."""
    spent = {"a": 0.0, "b": 0.0, "c": 0.0}

    def timed(function, seconds):
        started = time.perf_counter()
        function(seconds)
        spent[function.__name__] += time.perf_counter() - started

    stolen = stolen_seconds()
    with reqscope.profile(cpu=True, interval=0.001, on_report=None) as scope:
        for _ in range(100):
            timed(a, 0.006)
            timed(b, 0.003)
            timed(c, 0.001)
    stolen = stolen_seconds() - stolen
    measured, cpu = shares(scope.report.to_dict())
    total = sum(spent.values())
    errors = {name: abs(measured.get(name, 0.0) * cpu["sampled_ms"] / (1000 * total)
                        - 100.0 * spent[name] / total) for name in "abc"}
    return errors, cpu, stolen > 0.02 * total or spent["c"] > 1.5 * 100 * 0.001


def test_a_known_split_is_measured_within_five_points():
    """60% on CPU in a, 30% in b, 10% asleep in c over 1 s, each share within 5 points of the
    truth. A host that holds the sampler's CPU for milliseconds (steal on a shared VM: up to 25%
    on 2026-11-22, when this test failed at every commit tried) skews the shares, since a late
    tick weighs its whole gap onto the stack it then reads (starved while a spins, the sampler
    catches up while c sleeps: a comes out low and c high). So a run on a disturbed machine is
    measured again after a pause, up to five times; if every run was disturbed, the shares are
    held to 15 points (the bench's cpu_accuracy table shows the 5 on a quiet machine)."""
    for attempt in range(5):
        errors, cpu, disturbed = known_split_errors()
        if max(errors.values()) <= 5 or not disturbed:
            break
        time.sleep(1)  # Steal comes in bursts.
    assert max(errors.values()) <= (15 if disturbed else 5), (errors, disturbed, attempt)
    assert cpu["sampled_ms"] >= 1000 * 0.9
    assert cpu["rate_hz"] >= 500


def test_sleeping_is_waiting_time_and_on_cpu_time_is_the_threads_cpu_clock():
    with reqscope.profile(cpu=True, on_report=None) as sleeping:
        c(0.2)
    cpu_before = time.thread_time()
    with reqscope.profile(cpu=True, on_report=None) as spinning:
        a(0.2)
    thread_cpu_ms = 1000 * (time.thread_time() - cpu_before)
    asleep, busy = sleeping.report.to_dict()["cpu"], spinning.report.to_dict()["cpu"]
    assert asleep["on_cpu_ms"] < 0.1 * asleep["sampled_ms"], asleep
    assert asleep["off_cpu_ms"] > 0.9 * asleep["sampled_ms"], asleep
    assert abs(busy["on_cpu_ms"] - thread_cpu_ms) <= 0.15 * thread_cpu_ms + 5, (
        busy["on_cpu_ms"], thread_cpu_ms)


def test_samples_weigh_the_elapsed_time_they_stand_for():
    with reqscope.profile(cpu=True, interval=0.01, on_report=None) as scope:
        a(0.3)
    report = scope.report.to_dict()
    cpu = report["cpu"]
    assert cpu["interval_ms"] == 10.0
    assert 20 <= cpu["samples"] <= 40
    assert abs(cpu["sampled_ms"] - report["wall_ms"]) <= 25, cpu  # Within two intervals.


def descend(levels, function, *arguments):
    """Recurses `levels` frames deep, then calls ``function(*arguments)``."""
    if levels == 0:
        return function(*arguments)
    return descend(levels - 1, function, *arguments)


def test_late_ticks_weigh_their_whole_gap_and_the_ticks_they_stand_for_are_missed():
    """Reading a 400-frame stack (128 of them kept) takes longer than a 100 us interval, so
    every tick is late: fewer samples than the interval asks for, each weighing its real gap."""
    with reqscope.profile(cpu=True, interval=0.0001, on_report=None) as scope:
        descend(400, spin, 0.3)
    report = scope.report.to_dict()
    cpu, asked = report["cpu"], report["wall_ms"] / 0.1
    assert cpu["samples"] < 0.85 * asked, cpu  # Late indeed: the interval alone would weigh short.
    assert abs(cpu["sampled_ms"] - report["wall_ms"]) <= 0.05 * report["wall_ms"], cpu
    assert abs(cpu["samples"] + cpu["missed"] - asked) <= 0.1 * asked, (cpu, asked)
    assert abs(cpu["rate_hz"] - 1000 * cpu["samples"] / cpu["sampled_ms"]) <= 0.1 * cpu["rate_hz"]


def test_a_tick_stands_for_the_longest_gap_of_the_scopes_threads():
    """A scope hands short tasks to a pool thread, which attaches for each one just before a
    tick, and takes a sampler slot ahead of the scope's own thread (the slot a scope on another
    thread left). Each tick is late (the tasks run 300 frames deep at 100 us), and it must
    count as the scope's own thread's gap, not the worker's short one: the ticks made and
    missed add up to those asked for over the scope's time (when the first sampled thread's gap
    counted, they came to 0.78 of them)."""
    entered, leave = threading.Event(), threading.Event()

    def earlier_scope():
        with reqscope.profile(cpu=True, interval=0.0001, on_report=None):
            entered.set()
            leave.wait()

    reqscope.install(only=["threads"])
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(int).result()  # The worker exists before the scopes.
            holder = threading.Thread(target=earlier_scope)
            holder.start()
            entered.wait()
            with reqscope.profile(cpu=True, interval=0.0001, on_report=None) as scope:
                leave.set()
                holder.join()  # Its slot is free for the worker's attaches.
                end = time.perf_counter() + 0.3
                while time.perf_counter() < end:
                    pool.submit(descend, 300, spin, 0.0003).result()
    finally:
        reqscope.uninstall()
    report = scope.report.to_dict()
    cpu, asked = report["cpu"], report["wall_ms"] / 0.1
    ticks = cpu["rate_hz"] * report["wall_ms"] / 1000
    assert ticks < 0.8 * asked, cpu  # Late indeed.
    assert abs(ticks + cpu["missed"] - asked) <= 0.1 * asked, (ticks, cpu["missed"], asked)


def test_a_stack_deeper_than_128_frames_keeps_its_innermost_128_and_is_counted():
    with reqscope.profile(cpu=True, on_report=None) as scope:
        descend(300, spin, 0.05)
    report = scope.report.to_dict()
    cpu = report["cpu"]
    # A tick may come while the recursion is still shallow, before it or after it.
    assert cpu["samples"] - 2 <= report["dropped"]["cpu_truncated_stacks"] <= cpu["samples"]
    assert cpu["samples"] > 10
    assert max(len(stack["frames"]) for stack in cpu["stacks"]) == 128
    heaviest = max(cpu["stacks"], key=lambda stack: stack["wall_ms"])["frames"]
    names = [cpu["frames"][number]["function"] for number in heaviest]
    assert len(names) == 128 and names[-1] == "spin" and set(names[:-1]) == {"descend"}, names


def test_a_scope_samples_every_millisecond_unless_asked_otherwise():
    with reqscope.profile(cpu=True, on_report=None) as scope:
        a(0.1)
    cpu = scope.report.to_dict()["cpu"]
    assert cpu["interval_ms"] == 1.0
    assert 50 <= cpu["samples"] <= 110 and cpu["rate_hz"] >= 500, cpu


def test_self_time_is_the_innermost_frames_and_total_time_any_frame_on_the_stack():
    def outer(seconds):
        a(seconds)
        b(seconds / 2)

    with reqscope.profile(cpu=True, on_report=None) as scope:
        outer(0.06)
    cpu = scope.report.to_dict()["cpu"]
    functions = {f["function"].rsplit(".", 1)[-1]: f for f in cpu["functions"]}
    sampled = cpu["sampled_ms"]
    assert functions["spin"]["self_ms"] == functions["spin"]["total_ms"] >= 0.95 * sampled
    assert functions["outer"]["self_ms"] <= 0.05 * sampled
    assert functions["outer"]["total_ms"] >= 0.95 * sampled
    assert abs(functions["a"]["total_ms"] - 2 * functions["b"]["total_ms"]) <= 0.2 * sampled


def test_names_of_every_kind_of_str_are_read_whole():
    """Function and file names in Latin-1, in the BMP and beyond it: the three compact layouts
    of str other than ASCII, each copied by the sampler from its own layout."""
    source = "def café(s):\n    spin(s)\ndef π_loop(s):\n    spin(s)\ndef 𠀀_loop(s):\n    spin(s)\n"
    namespace = {"spin": spin}
    exec(compile(source, "<ünïcode ☃ 𝄞>", "exec"), namespace)
    with reqscope.profile(cpu=True, on_report=None) as scope:
        for name in ("café", "π_loop", "𠀀_loop"):
            namespace[name](0.02)
    files = {f["function"]: f["file"] for f in scope.report.to_dict()["cpu"]["functions"]}
    for name in ("café", "π_loop", "𠀀_loop"):
        assert files.get(name) == "<ünïcode ☃ 𝄞>", files


def test_two_threads_with_their_own_scopes_see_only_their_own_functions():
    reports = two_threads(40, 0.003)
    assert "a" in function_names(reports["first"]) and "b" not in function_names(reports["first"])
    assert "b" in function_names(reports["second"]) and "a" not in function_names(reports["second"])


def test_interleaved_asyncio_requests_get_only_their_own_samples():
    reports = interleaved_requests(50, 8, 0.002)
    seen_own = 0
    for index, report in enumerate(reports):
        names = function_names(report) if report["cpu"]["samples"] else set()
        others = {name for name in names if name.startswith("work_")} - {f"work_{index}"}
        assert others == set(), (index, names)
        seen_own += f"work_{index}" in names
    assert seen_own >= 45  # 16 ms of CPU each: nearly every request is sampled.


def test_work_handed_to_a_thread_pool_or_to_thread_is_sampled_in_the_scope():
    reqscope.install(only=["threads"])
    try:
        async def main():
            with reqscope.profile(cpu=True, on_report=None) as scope:
                await asyncio.to_thread(a, 0.05)
                with concurrent.futures.ThreadPoolExecutor(2) as pool:
                    pool.submit(b, 0.05).result()
            return scope
        scope = asyncio.run(main())
    finally:
        reqscope.uninstall()
    # Each ran 50 ms on a worker: judged by its own time, not by its share, which depends on
    # how long the event loop waited around it. Usually 49-50 ms are seen; a loaded machine
    # makes some reads of a spinning thread inconsistent, and those samples are dropped.
    totals = {f["function"]: f["total_ms"] for f in scope.report.to_dict()["cpu"]["functions"]}
    assert totals.get("a", 0) >= 20 and totals.get("b", 0) >= 20, totals


def test_folded_and_speedscope_outputs_hold_the_samples():
    with reqscope.profile(cpu=True, on_report=None) as scope:
        a(0.03)
    folded = scope.report.render("folded").splitlines()
    frame = f"a ({a.__code__.co_filename}:{a.__code__.co_firstlineno})"
    assert any(line.rsplit(" ", 1)[0].split(";")[-2] == frame for line in folded), folded
    assert all(line.rsplit(" ", 1)[1].isdigit() for line in folded)
    document = json.loads(scope.report.render("speedscope"))
    profile = document["profiles"][0]
    assert profile["type"] == "sampled" and profile["unit"] == "milliseconds"
    assert len(profile["samples"]) == len(profile["weights"]) > 0
    names = {frame["name"] for frame in document["shared"]["frames"]}
    assert "a" in names


def test_console_shows_the_hottest_path_and_top_functions():
    with reqscope.profile(cpu=True, on_report=None) as scope:
        a(0.05)
    text = scope.report.render("console", color=False)
    assert "[CPU] " in text and " on CPU, " in text
    assert "hottest: " in text
    assert text.split("hottest: ")[1].splitlines()[0].endswith("> a > spin")
    top = text.split("hottest: ")[1].splitlines()[1]
    assert re.fullmatch(r"  self +\d+\.\d%  total +\d+\.\d%  \S+sampler_workloads\.py:\d+ spin", top), top


def test_folded_without_cpu_samples_says_how_to_get_them():
    with reqscope.profile(on_report=None) as scope:
        pass
    with pytest.raises(ValueError, match="cpu=True"):
        scope.report.render("folded")


@pytest.mark.parametrize("interval", [0.00005, 0.2, 0])
def test_intervals_outside_100us_to_100ms_are_refused(interval):
    with pytest.raises(reqscope.ConfigError, match="interval"):
        reqscope.profile(cpu=True, interval=interval)


# CPython 3.12+ warns on any fork of a multi-threaded process; the sampler thread is one, and
# its pthread_atfork handler is what makes this fork safe.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_gets_a_fresh_working_sampler():
    child_status, parent_report = fork_under_a_sampled_scope(0.01, 0.05)
    assert child_status == 0
    assert "a" in function_names(parent_report)


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_forks_while_the_sampler_reads_stacks_and_names_new_code_leave_working_children():
    """The fork handler waits for a stack read in progress, which interns names and fills the
    code cache that the child keeps. A thread sampled every 100 us, 300 frames deep in code
    compiled afresh each time, keeps the sampler reading and naming; each child then samples
    code of its own and must name it, in time (a fork handler that deadlocked would hang)."""
    stop = threading.Event()

    def deep_in_new_code():
        with reqscope.profile(cpu=True, interval=0.0001, on_report=None):
            serial = 0
            while not stop.is_set():
                namespace = {}
                exec(compile(f"def deep_{serial}(n, f):\n"
                             f"    return f(n - 1, f) if n else sum(range(3000))\n",
                             f"<deep {serial}>", "exec"), namespace)
                namespace[f"deep_{serial}"](300, namespace[f"deep_{serial}"])
                serial += 1

    churner = threading.Thread(target=deep_in_new_code)
    churner.start()
    try:
        for index in range(20):
            time.sleep(0.005)  # The churner runs and the sampler reads its stack meanwhile.
            pid = os.fork()
            if pid == 0:
                status = 1
                try:
                    namespace = {"spin": spin}
                    exec(compile(f"def child_{index}(s):\n    spin(s)\n", "<child>", "exec"),
                         namespace)
                    with reqscope.profile(cpu=True, on_report=None) as scope:
                        namespace[f"child_{index}"](0.02)
                    named = f"child_{index}" in function_names(scope.report.to_dict())
                    status = 0 if named else 3
                finally:
                    os._exit(status)
            deadline = time.monotonic() + 30
            while (waited := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            if waited[0] == 0:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                pytest.fail(f"fork {index}: the child hung")
            assert os.waitstatus_to_exitcode(waited[1]) == 0, index
    finally:
        stop.set()
        churner.join()


def test_interpreter_exit_while_sampling_neither_crashes_nor_hangs():
    code = textwrap.dedent("""
        import threading, time, reqscope
        def busy():
            with reqscope.profile(cpu=True, on_report=None):
                end = time.perf_counter() + 5
                while time.perf_counter() < end:
                    pass
        threading.Thread(target=busy, daemon=True).start()
        scope = reqscope.profile(cpu=True, on_report=None).__enter__()
        time.sleep(0.05)
        print("exiting")
    """)
    environment = dict(os.environ, PYTHONPATH=ROOT)
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, env=environment)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "exiting"
    assert time.monotonic() - started < 30


def test_an_idle_installed_sampler_does_not_tick():
    with reqscope.profile(cpu=True, on_report=None):
        a(0.005)
    time.sleep(0.01)
    before = _core.sampler_ticks()
    time.sleep(0.05)
    assert _core.sampler_ticks() == before


def test_time_waiting_in_a_query_is_off_cpu_under_execute_and_matches_the_sql_section(
        sqlite_hooked):
    import sqlite3

    connection = sqlite3.connect(":memory:")
    connection.create_function("pause", 1, lambda ms: time.sleep(ms / 1000) or 1)
    with reqscope.profile(cpu=True, on_report=None) as scope:
        connection.execute("SELECT pause(150)").fetchall()
    report = scope.report.to_dict()
    sql_ms, cpu = report["sql"]["time_ms"], report["cpu"]
    under_execute = [stack for stack in cpu["stacks"]
                     if any(cpu["frames"][number]["function"].endswith("execute")
                            for number in stack["frames"])]
    execute_wall = sum(stack["wall_ms"] for stack in under_execute)
    execute_cpu = sum(stack["cpu_ms"] for stack in under_execute)
    assert sql_ms >= 150
    # Within 25%: a sample carries the time since the previous one, so when the sampler thread
    # is starved on a loaded machine the end of the wait can land in the frames after execute
    # (seen on CI: 150 of 177 ms).
    assert abs(execute_wall - sql_ms) <= 0.25 * sql_ms, (execute_wall, sql_ms)
    assert execute_cpu < 0.2 * execute_wall


def test_awaited_time_goes_to_the_requests_suspended_coroutine_chain():
    report = awaited_request(0.2, 0.1)
    totals = {f["function"]: f["total_ms"] for f in report["cpu"]["functions"]}
    assert "busy_other_task" not in totals and "spin" not in totals, totals
    assert totals.get("fetch_remote", 0) >= 0.75 * report["wall_ms"], totals
    assert report["cpu"]["off_cpu_ms"] >= 0.75 * report["wall_ms"]


def test_a_cpu_scope_looks_asyncio_up_again_when_sys_modules_holds_another(monkeypatch):
    """The running loop is asked through the asyncio in sys.modules, whichever it is now; one
    that is still being imported (no functions yet) runs no loop and never fails the scope."""
    asked = []
    stand_in = types.ModuleType("asyncio")
    stand_in._get_running_loop = lambda: asked.append("loop")  # Returns None: no loop.
    stand_in.current_task = lambda: None
    monkeypatch.setitem(sys.modules, "asyncio", stand_in)
    with reqscope.profile(cpu=True, on_report=None):
        pass
    assert asked == ["loop"]
    monkeypatch.setitem(sys.modules, "asyncio", types.ModuleType("asyncio"))
    with reqscope.profile(cpu=True, on_report=None) as scope:
        spin(0.005)
    assert scope.report.to_dict()["cpu"]["samples"] > 0
    monkeypatch.undo()
    test_awaited_time_goes_to_the_requests_suspended_coroutine_chain()


def test_an_idle_sampler_thread_goes_away_and_comes_back_when_needed():
    def thread_count():
        return len(os.listdir("/proc/self/task"))

    with reqscope.profile(cpu=True, on_report=None):
        a(0.005)
    deadline = time.monotonic() + 5
    with_sampler = thread_count()
    while thread_count() >= with_sampler and time.monotonic() < deadline:
        time.sleep(0.1)
    assert thread_count() == with_sampler - 1  # Gone after a second with nothing to sample.
    with reqscope.profile(cpu=True, on_report=None) as scope:
        a(0.02)
    assert scope.report.to_dict()["cpu"]["samples"] > 0


def test_stops_from_several_threads_at_once_never_join_the_sampler_twice():
    errors = []

    def profile_and_stop():
        try:
            for _ in range(30):
                with reqscope.profile(cpu=True, on_report=None):
                    sum(range(2_000))
                _core.sampler_stop()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=profile_and_stop) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors and not any(thread.is_alive() for thread in threads)
    with reqscope.profile(cpu=True, on_report=None) as scope:
        a(0.02)
    assert scope.report.to_dict()["cpu"]["samples"] > 0  # It starts again after all that.


def test_a_scope_that_begins_while_a_stop_joins_the_sampler_is_sampled():
    """A stop joins the sampler thread without the GIL; a scope another thread opens meanwhile
    finds the thread still running and attaches, and the stop must then start a new one for
    it. A thread asleep 400 frames deep in a scope of its own makes every tick slow to read, so
    the join waits for one and the other thread gets the GIL inside it."""
    deep_ready, deep_done = threading.Event(), threading.Event()

    def asleep():
        deep_ready.set()
        deep_done.wait()

    def deep_scope():
        with reqscope.profile(cpu=True, interval=0.0001, on_report=None):
            descend(400, asleep)

    deep = threading.Thread(target=deep_scope)
    deep.start()
    deep_ready.wait()
    unsampled = []
    try:
        for attempt in range(30):
            go, scopes = threading.Event(), []

            def late_scope():
                go.wait()
                with reqscope.profile(cpu=True, interval=0.0001, on_report=None) as scope:
                    spin(0.02)
                scopes.append(scope)

            late = threading.Thread(target=late_scope)
            late.start()
            with reqscope.profile(cpu=True, interval=0.0001, on_report=None):
                spin(0.002)  # The sampler runs: a tick for the stop to wait for.
            go.set()
            _core.sampler_stop()
            late.join()
            if scopes[0].report.to_dict()["cpu"]["samples"] == 0:
                unsampled.append(attempt)
    finally:
        deep_done.set()
        deep.join()
    assert unsampled == []


def test_tasks_a_request_spawns_are_sampled_for_it_and_not_twice():
    """asyncio.gather runs each child in a copy of the request's context: the children's CPU
    goes to the request (on CPU, under their own functions), not to a request running beside
    it, and the request's await of them is not counted again."""
    async def child_a():
        for _ in range(10):
            spin(0.004)
            await asyncio.sleep(0)

    async def child_b():
        for _ in range(10):
            spin(0.004)
            await asyncio.sleep(0)

    async def spawning_request():
        async with reqscope.profile(name="spawning", cpu=True, on_report=None) as scope:
            await asyncio.gather(child_a(), child_b())
        return scope.report.to_dict()

    async def other_request():
        async with reqscope.profile(name="other", cpu=True, on_report=None) as scope:
            for _ in range(10):
                b(0.004)
                await asyncio.sleep(0)
        return scope.report.to_dict()

    async def main():
        return await asyncio.gather(spawning_request(), other_request())

    spawning, other = asyncio.run(main())
    spawning_totals = {f["function"]: f["total_ms"] for f in spawning["cpu"]["functions"]}
    other_names = function_names(other)
    for child in (child_a, child_b):
        assert spawning_totals.get(child.__qualname__, 0) >= 20, spawning_totals  # 40 ms each.
        assert child.__qualname__ not in other_names
    assert "b" not in spawning_totals
    # Children's time is on CPU (80 ms of spinning; less CPU when the machine is loaded), and
    # the request's samples add up to its wall time once, not twice.
    assert spawning["cpu"]["on_cpu_ms"] >= 40
    assert spawning["cpu"]["sampled_ms"] <= 1.3 * spawning["wall_ms"]


def sampler_switches():
    """Voluntary context switches (wake-ups) of this process's threads but the calling one,
    by thread id: the sampler's, in these tests."""
    own = {str(threading.get_native_id())}
    counts = {}
    for task in set(os.listdir("/proc/self/task")) - own:
        with open(f"/proc/self/task/{task}/status") as status:
            for line in status:
                if line.startswith("voluntary_ctxt_switches"):
                    counts[task] = int(line.split()[1])
    return counts


def test_the_sampler_stops_waking_soon_after_the_last_scope():
    """Between scopes it keeps its deadlines for a moment (the next attach then signals
    nothing), then sleeps until the next scope: an idle process gets no wake-ups."""
    with reqscope.profile(cpu=True, interval=0.001, on_report=None):
        a(0.005)
    time.sleep(0.005)
    in_grace = sampler_switches()
    time.sleep(0.1)
    after_grace = sampler_switches()
    time.sleep(0.3)
    idle = sampler_switches()
    woken_in_grace = sum(after_grace[t] - in_grace[t] for t in in_grace)
    woken_idle = sum(idle[t] - after_grace[t] for t in after_grace)
    assert woken_in_grace >= 5, (in_grace, after_grace)
    assert woken_idle == 0, (after_grace, idle)


def test_a_scope_ended_before_the_sampler_woke_sets_the_grace_interval():
    """A scope shorter than the sampler's wake-up (it never sees it attached): the moment of
    deadlines after it still runs at its interval, not at an older scope's longer one, which
    made the attach of every such short request signal the thread. Tried up to three times: a
    sampler thread kept off the CPU by the host for the whole 15 ms (seen once under ASan, in a
    full suite) wakes zero times either way."""
    for _ in range(3):
        with reqscope.profile(cpu=True, interval=0.1, on_report=None):
            time.sleep(0.25)  # Ticked at 100 ms.
        time.sleep(0.05)  # Past its grace: the sampler waits idle.
        with reqscope.profile(cpu=True, interval=0.001, on_report=None):
            pass
        before = sampler_switches()
        time.sleep(0.015)  # Within the 20 ms grace.
        after = sampler_switches()
        woken = sum(after[t] - before[t] for t in before if t in after)
        if woken >= 4:
            break
    assert woken >= 4, (before, after)  # About 15 at 1 ms; at 100 ms, none.


def test_a_code_object_freed_and_its_address_reused_is_named_anew():
    """The sampler keeps what it read of code objects across ticks (sampler/code_cache.h): a
    code object freed and replaced by another at the same address must not keep its name.
    Each round compiles a function of its own name, samples it, and frees it; CPython's
    allocator hands the next one the same addresses more often than not."""
    addresses, rounds = set(), 40
    for number in range(rounds):
        namespace = {"time": time}
        exec(compile(textwrap.dedent(f"""
            def own_function_{number}(seconds):
                end = time.perf_counter() + seconds
                while time.perf_counter() < end:
                    pass
            """), f"<round {number}>", "exec"), namespace)
        function = namespace[f"own_function_{number}"]
        addresses.add(id(function.__code__))
        # A round the sampler never ticked in (its thread kept off the CPU for the whole
        # 15 ms: seen once in a full suite) is run again: what is tested is the names of
        # samples taken, not that the machine schedules the thread.
        for _ in range(3):
            with reqscope.profile(cpu=True, interval=0.0005, on_report=None) as scope:
                function(0.015)
            report = scope.report.to_dict()
            if report["cpu"]["samples"] > 0:
                break
        names = {name for name in function_names(report) if name.startswith("own_function_")}
        assert names == {f"own_function_{number}"}, (number, names, report["cpu"]["samples"])
        del namespace, function
        gc.collect()  # The function and its globals are a cycle.
    if not os.environ.get("REQSCOPE_TEST_SANITIZED"):  # ASan's quarantine never reuses them.
        assert len(addresses) < rounds  # Addresses were reused: the case this test is about.


@pytest.mark.parametrize("earlier_interval", [0.001, 0.1])
def test_a_scope_right_after_another_is_sampled_from_its_start(earlier_interval):
    """The sampler keeps its deadlines for a moment after the last scope, and a scope that
    attaches then sends it no signal: its first tick must still come within a millisecond or
    so, even when the scope before asked for 100 ms, or ended before the thread first ran."""
    for _ in range(5):
        _core.sampler_stop()
        with reqscope.profile(cpu=True, interval=earlier_interval, on_report=None):
            pass  # Starts the thread, and may end before it runs.
        with reqscope.profile(cpu=True, interval=0.001, on_report=None) as scope:
            a(0.03)
        assert scope.report.to_dict()["cpu"]["samples"] >= 10


def test_a_scope_right_after_another_on_its_thread_never_gets_the_earlier_ones_samples():
    """A scope's state is reused by the next scope, at the same address. A stack the sampler
    read for the first scope while it ended (the read runs without the sampler's lock) must
    not be recorded into the second one: 100 us ticks put many reads across the switch."""
    leaked = []
    for round_number in range(1500):
        with reqscope.profile(cpu=True, interval=0.0001, on_report=None):
            a(0.0003)
        with reqscope.profile(cpu=True, interval=0.0001, on_report=None) as scope:
            b(0.0003)
        if "a" in function_names(scope.report.to_dict()):
            leaked.append(round_number)
    assert leaked == [], f"{len(leaked)} of 1500 second scopes got a sample of the first"
