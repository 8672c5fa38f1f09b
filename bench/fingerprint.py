"""Fingerprint speed: the C normalizer on its own, then the cost of calling it from Python.

The C side is bench/fingerprint_speed.c, compiled here from the current sources into
build/bench/ with the flags the extension uses (-O2, NDEBUG) and run with a typical Django ORM
SELECT of about 300 bytes; it also times two 1 MB statements (a long INSERT ... VALUES and a
SELECT with a long IN list) and reports them as throughput. The Python side times
``reqscope.fingerprint()`` on the same SELECT, interleaved with the pure-Python reference
twin (reqscope/_fingerprint_ref.py) as a yardstick.
"""

import pathlib
import subprocess
import time

import reqscope
from reqscope import _fingerprint_ref

from interleave import compare
from table import Table

ROOT = pathlib.Path(__file__).resolve().parent.parent
HARNESS_SOURCE = ROOT / "bench" / "fingerprint_speed.c"
HARNESS_BINARY = ROOT / "build" / "bench" / "fingerprint_speed"

# A Django ORM query (filter on a join, LIKE with ESCAPE, ordering, the LIMIT of a slice).
TYPICAL_SELECT = (
    'SELECT "library_book"."id", "library_book"."title", "library_author"."name" '
    'FROM "library_book" INNER JOIN "library_author" '
    'ON ("library_book"."author_id" = "library_author"."id") '
    'WHERE ("library_book"."published" >= %s AND "library_author"."name" LIKE %s '
    "ESCAPE '\\') ORDER BY \"library_book\".\"title\" ASC LIMIT 21"
)

TARGET_NS = 1000
ROUNDS = 15

LARGE_LABELS = {
    "insert_values": "C, 1 MB INSERT ... VALUES ({} rows)",
    "select_in_list": "C, 1 MB SELECT ... IN ({} ids)",
}


def build_harness():
    """Compiles the harness against the current dbhooks/fingerprint.c; returns its path."""
    HARNESS_BINARY.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["gcc", "-std=gnu11", "-O2", "-DNDEBUG", "-Wall", "-Wextra", "-Icommon", "-Idbhooks",
         str(HARNESS_SOURCE), "dbhooks/fingerprint.c", "-pthread", "-o", str(HARNESS_BINARY)],
        cwd=ROOT, check=True)
    return HARNESS_BINARY


def run_harness():
    """Runs the harness; returns {case: (bytes, list items, median ns, min ns, max ns)}."""
    output = subprocess.run([str(build_harness()), TYPICAL_SELECT, str(ROUNDS)], check=True,
                            capture_output=True, text=True).stdout
    results = {}
    for line in output.splitlines():
        name, *figures = line.split("\t")
        results[name] = tuple(int(figure) for figure in figures)
    return results


def per_call_ns(function, calls):
    """A batch function: ``calls`` calls of ``function(TYPICAL_SELECT)``, ns per call."""
    def batch():
        start = time.perf_counter_ns()
        for _ in range(calls):
            function(TYPICAL_SELECT)
        return (time.perf_counter_ns() - start) / calls
    return batch


def megabytes_per_second(size, nanoseconds):
    return size / nanoseconds * 1e3


def run():
    if reqscope.fingerprint(TYPICAL_SELECT) != _fingerprint_ref.fingerprint(TYPICAL_SELECT):
        raise AssertionError("the C fingerprint and its Python twin disagree on the statement")
    c_results = run_harness()
    python_outcomes = compare({
        "reqscope.fingerprint()": per_call_ns(reqscope.fingerprint, 20000),
        "reference twin": per_call_ns(_fingerprint_ref.fingerprint, 100),
    }, baseline="reqscope.fingerprint()", rounds=ROUNDS)

    size, _, median, low, high = c_results["typical_select"]
    table = Table(
        f"Fingerprint speed (median of {ROUNDS} rounds; [min-max] of the rounds)",
        ["statement", "bytes", "median", "[min-max]", "target"],
        notes=[
            "C rows: bench/fingerprint_speed.c, no Python in the loop, each fingerprint "
            "allocated and released.",
            "Python rows: medians of interleaved rounds in one process, the C call and its "
            "pure-Python twin alternating.",
        ])
    verdict = "met" if median <= TARGET_NS else "MISSED"
    table.add_row("C rs_fp_normalize, typical ORM SELECT", size, f"{median} ns",
                  f"[{low}-{high}]", f"<= {TARGET_NS} ns: {verdict}")
    for name, label in LARGE_LABELS.items():
        size, items, median, low, high = c_results[name]
        throughput = megabytes_per_second(size, median)
        slowest, fastest = megabytes_per_second(size, high), megabytes_per_second(size, low)
        table.add_row(label.format(f"{items:,}"), size, f"{throughput:.0f} MB/s",
                      f"[{slowest:.0f}-{fastest:.0f}]", "")
    c_call = python_outcomes["reqscope.fingerprint()"]
    twin = python_outcomes["reference twin"]
    typical_size = len(TYPICAL_SELECT.encode())
    table.add_row("Python reqscope.fingerprint(), same SELECT", typical_size,
                  f"{c_call.median:.0f} ns", "", "")
    table.add_row("Python reference twin, same SELECT", typical_size,
                  f"{twin.median / 1000:.1f} us", f"{twin.median / c_call.median:.0f}x slower",
                  "")
    return [table]
