"""The sampler tests' workloads: a and b busy on the CPU (in spin), c asleep; a and b on two
threads in scopes of their own; interleaved asyncio
requests each burning CPU in a function of its own; a request awaiting while another task
burns the loop; a fork under a sampled scope.

Imported by the in-process tests (tests/unit/test_cpu_sampler.py) and by the scripts that
test_portable.py runs against the portable build, so both builds are held to the same
scenarios (the portable one with longer phases: it samples at 100 Hz at most).
"""

import asyncio
import os
import threading
import time

import reqscope


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


def function_names(report):
    return {f["function"] for f in report["cpu"]["functions"]}


def two_threads(rounds, seconds):
    """a on one thread and b on another, each `rounds` times `seconds` in a scope of its own;
    returns the two reports as dicts: {"first": a's, "second": b's}."""
    reports = {}

    def run(name, function):
        with reqscope.profile(name=name, cpu=True, on_report=None) as scope:
            for _ in range(rounds):
                function(seconds)
        reports[name] = scope.report.to_dict()

    threads = [threading.Thread(target=run, args=("first", a)),
               threading.Thread(target=run, args=("second", b))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return reports


def make_work(index):
    """A distinct function per request, named work_<index>."""
    namespace = {"spin": spin}
    exec(f"def work_{index}(seconds):\n    spin(seconds)\n", namespace)
    return namespace[f"work_{index}"]


def interleaved_requests(count, rounds, seconds):
    """`count` asyncio requests on one loop, each its own scope, each `rounds` times spinning
    `seconds` in its work_<index> and yielding to the others; returns their reports as dicts,
    in order."""
    works = [make_work(index) for index in range(count)]

    async def request(index):
        async with reqscope.profile(name=f"request {index}", cpu=True, on_report=None) as scope:
            for _ in range(rounds):
                works[index](seconds)
                await asyncio.sleep(0)
        return scope.report.to_dict()

    async def main():
        return await asyncio.gather(*(request(index) for index in range(count)))

    return asyncio.run(main())


async def fetch_remote(seconds):
    await asyncio.sleep(seconds)


async def busy_other_task(seconds):
    spin(seconds)


def awaited_request(wait_seconds, busy_seconds):
    """A request awaits fetch_remote for `wait_seconds` while another task spins on the loop
    for `busy_seconds`; returns the request's report as a dict."""

    async def request():
        async with reqscope.profile(cpu=True, on_report=None) as scope:
            await fetch_remote(wait_seconds)
        return scope

    async def main():
        requested = asyncio.create_task(request())
        await asyncio.sleep(0.01)
        await busy_other_task(busy_seconds)  # Runs on the loop while the request is suspended.
        return await requested

    return asyncio.run(main()).report.to_dict()


def fork_under_a_sampled_scope(parent_seconds, child_seconds):
    """Runs a in a sampled scope, forks there, and runs a in a sampled scope of the child;
    returns the child's exit code (0 when its report has a, 3 when not) and the parent's
    report as a dict."""
    with reqscope.profile(cpu=True, on_report=None) as parent_scope:
        a(parent_seconds)
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                with reqscope.profile(cpu=True, on_report=None) as child_scope:
                    a(child_seconds)
                status = 0 if "a" in function_names(child_scope.report.to_dict()) else 3
            finally:
                os._exit(status)
        _, wait_status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(wait_status), parent_scope.report.to_dict()
