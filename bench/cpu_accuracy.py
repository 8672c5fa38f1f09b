"""CPU profiler accuracy: how reqscope, py-spy and pyinstrument split a known workload.

The workload (bench/workloads/known_split.py) spends 60% of its time on CPU in ``a``, 30% on
CPU in ``b`` and 10% asleep in ``c``, over 100 loops of about 10 ms, and times each call by
the clock; the clock's split is the truth, and the thread's CPU clock says how much of the
loop was really on CPU. Each profiler samples at 1 ms, and a function's share is the time of
the samples whose stack holds it over the time of all the workload's samples:

- reqscope: ``total_ms`` of ``a``, ``b`` and ``c`` over ``sampled_ms`` (the scope wraps the
  loop alone); its on-CPU share is ``on_cpu_ms`` over ``sampled_ms``;
- py-spy: ``py-spy record --rate 1000 --idle --format raw`` on the workload run as a script,
  in its own process (``--idle`` keeps the samples of a sleeping thread, without which ``c``
  is invisible); the count of samples whose stack holds the function over the count of those
  that hold ``known_split``;
- pyinstrument: ``Profiler(interval=0.001)`` around the loop; the time of the function's frames
  over the time of ``known_split``'s.

Each profiler measures the workload 3 times, one after the other in each round, never two at
once; a figure is the median and [min-max] of those runs.
"""

import json
import pathlib
import statistics
import subprocess
import sys
import tempfile

import reqscope

from table import Table
from workloads import known_split

INTERVAL_SECONDS = 0.001
RATE_HZ = round(1 / INTERVAL_SECONDS)
RUNS = 3
WORKLOAD = pathlib.Path(known_split.__file__).resolve()
PY_SPY = pathlib.Path(sys.executable).parent / "py-spy"
ON_CPU = "on CPU (a + b)"


class Measurement:
    """One profiler's view of one run: shares by row label, and how it sampled."""

    def __init__(self, shares, samples, rate_hz, missed):
        self.shares = shares  # {"a": 0.6, ..., ON_CPU: 0.9}; a row left out is not measured.
        self.samples = samples
        self.rate_hz = rate_hz
        self.missed = missed  # Ticks missed (reqscope) or errors (py-spy); None if not told.


def clock_shares(timing):
    """The truth from ``known_split()``'s result: shares by the clock, on CPU by the thread's
    CPU clock."""
    seconds = timing["seconds"]
    total = sum(seconds.values())
    shares = {name: seconds[name] / total for name in known_split.FUNCTIONS}
    shares[ON_CPU] = timing["cpu_seconds"] / total
    return shares


def is_workload_function(function, file, name):
    return function == name and pathlib.Path(file).name == WORKLOAD.name


# ---------------- reqscope ----------------


def measure_reqscope():
    """Returns (Measurement, what ``known_split()`` returned)."""
    with reqscope.profile(name="known_split", cpu=True, interval=INTERVAL_SECONDS,
                          on_report=None) as scope:
        timing = known_split.known_split()
    cpu = scope.report.to_dict()["cpu"]
    shares = {}
    for name in known_split.FUNCTIONS:
        total_ms = sum(entry["total_ms"] for entry in cpu["functions"]
                       if is_workload_function(entry["function"], entry["file"], name))
        shares[name] = total_ms / cpu["sampled_ms"]
    shares[ON_CPU] = cpu["on_cpu_ms"] / cpu["sampled_ms"]
    return Measurement(shares, cpu["samples"], cpu["rate_hz"], cpu["missed"]), timing


# ---------------- py-spy ----------------


class PySpyError(Exception):
    """py-spy could not record the workload; the message is its own."""


def parse_folded_frame(frame):
    """``function (file:line)`` -> (function, file)."""
    function, _, location = frame.rpartition(" (")
    return function, location.rsplit(":", 1)[0]


def py_spy_shares(raw_output):
    """Shares from py-spy's raw (folded) output; returns (shares, workload samples)."""
    counts = dict.fromkeys(known_split.FUNCTIONS, 0)
    workload_samples = 0
    for line in raw_output.splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [parse_folded_frame(frame) for frame in stack.split(";") if frame]
        if not any(is_workload_function(function, file, "known_split")
                   for function, file in frames):
            continue
        workload_samples += int(count)
        for name in known_split.FUNCTIONS:
            if any(is_workload_function(function, file, name) for function, file in frames):
                counts[name] += int(count)
    if workload_samples == 0:
        raise PySpyError("py-spy recorded no sample inside known_split()")
    return {name: count / workload_samples for name, count in counts.items()}, workload_samples


def py_spy_errors(messages):
    """The error count py-spy prints at the end ("Samples: N Errors: M"), or None."""
    for line in messages.splitlines():
        if "Errors:" in line:
            return int(line.rsplit("Errors:", 1)[1].split()[0])
    return None


def measure_py_spy():
    """Returns (Measurement, what ``known_split()`` returned); raises PySpyError."""
    with tempfile.TemporaryDirectory() as folder:
        output = pathlib.Path(folder) / "known_split.txt"
        command = [str(PY_SPY), "record", "--rate", str(RATE_HZ), "--idle", "--format", "raw",
                   "-o", str(output), "--", sys.executable, str(WORKLOAD)]
        try:
            finished = subprocess.run(command, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise PySpyError(str(error)) from error
        messages = finished.stdout + finished.stderr
        if finished.returncode != 0 or not output.exists():
            message = (finished.stderr.strip().splitlines()
                       or finished.stdout.strip().splitlines() or ["no output"])[-1]
            raise PySpyError(f"exit status {finished.returncode}: {message}")
        shares, samples = py_spy_shares(output.read_text())
    # py-spy writes its own messages to stdout too; the workload's is the JSON line.
    timing = json.loads(next(line for line in finished.stdout.splitlines()
                             if line.startswith("{")))
    return Measurement(shares, samples, samples / sum(timing["seconds"].values()),
                       py_spy_errors(messages)), timing


# ---------------- pyinstrument ----------------


def frames_of(frame):
    yield frame
    for child in frame.children:
        yield from frames_of(child)


def measure_pyinstrument():
    """Returns (Measurement, what ``known_split()`` returned)."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=INTERVAL_SECONDS)
    profiler.start()
    timing = known_split.known_split()
    profiler.stop()
    session = profiler.last_session
    frames = list(frames_of(session.root_frame()))

    def time_in(name):
        return sum(frame.time for frame in frames
                   if is_workload_function(frame.function, frame.file_path or "", name))

    workload_time = time_in("known_split")
    shares = {name: time_in(name) / workload_time for name in known_split.FUNCTIONS}
    return Measurement(shares, session.sample_count, session.sample_count / workload_time,
                       None), timing


# ---------------- Tables ----------------

PROFILERS = {
    "reqscope": measure_reqscope,
    "py-spy --idle": measure_py_spy,
    "pyinstrument": measure_pyinstrument,
}


def spread(values, scale=100, digits=1, unit="%"):
    """Median and [min-max] of ``values``, scaled (a share becomes a percentage)."""
    scaled = [value * scale for value in values]
    return (f"{statistics.median(scaled):.{digits}f}{unit} "
            f"[{min(scaled):.{digits}f}-{max(scaled):.{digits}f}]")


def shares_table(measurements, clock_runs, failures):
    title = (f"CPU profiler accuracy, known split: per loop a spins 6 ms, b spins 3 ms, c sleeps "
             f"1 ms; {known_split.LOOPS} loops (median [min-max] of {RUNS} runs each)")
    table = Table(title, ["share of time", "nominal", "by the clock", *PROFILERS], notes=[
        "A function's share counts every sample whose stack holds it (total time), over all "
        "samples of the workload.",
        "'by the clock' times each call with time.perf_counter in the loop, and the loop with "
        "the thread's CPU clock (on CPU), over every run of every profiler.",
        "py-spy and pyinstrument give no on-CPU / off-CPU split (n/a); py-spy without --idle "
        "drops the samples of c.",
        *(f"{name} failed: {failure}" for name, failure in failures.items())])
    nominal = {**known_split.NOMINAL_SHARES, ON_CPU: 0.9}
    for row in [*known_split.FUNCTIONS, ON_CPU]:
        cells = [row, f"{nominal[row] * 100:.0f}%", spread(run[row] for run in clock_runs)]
        for name in PROFILERS:
            if name in failures:
                cells.append("error (below)")
                continue
            values = [measurement.shares.get(row) for measurement in measurements[name]]
            cells.append("n/a" if None in values else spread(values))
        table.add_row(*cells)
    return table


def sampling_table(measurements, failures):
    table = Table(f"CPU profiler sampling at {RATE_HZ} Hz on the known split "
                  f"(median [min-max] of {RUNS} runs)",
                  ["profiler", "samples", "achieved rate", "missed ticks / errors"], notes=[
                      "reqscope: its own rate_hz and missed ticks; py-spy: samples inside "
                      "known_split() over the clock's time, and the errors it reports;",
                      "pyinstrument: its session's sample count over the workload's time (it "
                      "samples on Python calls and returns, so long C calls are one sample)."])
    for name in PROFILERS:
        if name in failures:
            table.add_row(name, "error", "", failures[name])
            continue
        runs = measurements[name]
        missed = [measurement.missed for measurement in runs]
        table.add_row(name, spread((m.samples for m in runs), 1, 0, ""),
                      spread((m.rate_hz for m in runs), 1, 0, " Hz"),
                      "n/a" if None in missed else spread(missed, 1, 0, ""))
    return table


def run():
    measurements = {name: [] for name in PROFILERS}
    clock_runs = []
    failures = {}
    for _ in range(RUNS):
        for name, measure in PROFILERS.items():
            if name in failures:
                continue
            try:
                measurement, timing = measure()
            except PySpyError as error:
                failures[name] = str(error)
                continue
            measurements[name].append(measurement)
            clock_runs.append(clock_shares(timing))
    return [shares_table(measurements, clock_runs, failures),
            sampling_table(measurements, failures)]
