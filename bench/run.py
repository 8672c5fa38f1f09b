"""Runs reqscope's benchmarks and prints one side-by-side table per benchmark.

    .venv/bin/python bench/run.py                  # every benchmark, each in a fresh process
    .venv/bin/python bench/run.py sql_overhead     # only the ones named

A benchmark is a module in bench/ whose ``run()`` returns the tables to print. Each runs in a
process of its own, so the hooks one installs cannot slow another. bench/README.md says what
each measures and how to read it.
"""

import importlib
import pathlib
import subprocess
import sys
import time

BENCHMARKS = ["fingerprint", "sql_overhead", "cpu_overhead", "cpu_accuracy", "memory_overhead"]

# reqscope is built in place (make build), not installed: import it from the work tree.
sys.path.insert(1, str(pathlib.Path(__file__).resolve().parent.parent))


def run_one(name):
    module = importlib.import_module(name)
    started = time.monotonic()
    for table in module.run():
        print(table.render(), end="\n\n", flush=True)
    print(f"({name}: {time.monotonic() - started:.0f} s)", end="\n\n", flush=True)


def main(argv):
    names = argv or BENCHMARKS
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        sys.exit(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    if len(names) == 1:
        run_one(names[0])
        return
    for name in names:
        subprocess.run([sys.executable, pathlib.Path(__file__).resolve(), name], check=True)


if __name__ == "__main__":
    main(sys.argv[1:])
