"""Reliability of the memory hooks, each workload in its own interpreter (so a crash or a hang
fails the test instead of the run): allocations freed on other threads, forked children, and
interpreter shutdown. `make asan` runs them under ASan and UBSan, the cross-thread workload for
60 s (REQSCOPE_MEMORY_STRESS_SECONDS; 5 s otherwise)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

WORKLOADS = Path(__file__).resolve().parent / "memory_workloads"
ROOT = WORKLOADS.parent.parent.parent


def run_workload(name, *arguments, timeout):
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        path for path in (environment.get("PYTHONPATH"), str(ROOT)) if path)
    return subprocess.run([sys.executable, str(WORKLOADS / name), *map(str, arguments)],
                          capture_output=True, text=True, timeout=timeout, env=environment)


def test_eight_threads_allocating_and_freeing_across_threads():
    seconds = float(os.environ.get("REQSCOPE_MEMORY_STRESS_SECONDS", "5"))
    result = run_workload("cross_thread.py", seconds, timeout=seconds + 120)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = dict(item.split("=", 1) for item in result.stdout.split()[:2])
    assert int(summary["min_per_thread"]) >= 3, result.stdout


def test_two_hundred_forked_children_with_the_hooks_on():
    result = run_workload("forks.py", timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "succeeded=200" in result.stdout


@pytest.mark.parametrize("how", ["exit", "return"])
def test_interpreter_shutdown_with_the_hooks_installed(how):
    result = run_workload("shutdown.py", how, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Fatal" not in result.stderr and "Traceback" not in result.stderr, result.stderr
