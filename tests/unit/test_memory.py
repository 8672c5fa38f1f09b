"""The memory tracer: estimates against tracemalloc, frees, and coexistence with tracemalloc."""

import json
import os
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import pytest

import reqscope
from reqscope import _core

from helpers.allocators import allocators_now, compile_passthrough

KEEP = []
ROOT = Path(__file__).resolve().parent.parent.parent
HELPERS = Path(__file__).resolve().parent / "helpers"


def keep_blocks(count, size=1000):
    for _ in range(count):
        KEEP.append(bytes(size))


def churn_blocks(count, size=1000):
    for _ in range(count):
        block = bytes(size)
        del block


ALLOCATING_LINE = keep_blocks.__code__.co_firstlineno + 2  # KEEP.append(bytes(size))


def allocated_at_line(memory, function, line):
    return sum(s["allocated_bytes"] for s in site_at(memory, function) if s["line"] == line)


def memory_of(scope):
    return scope.report.to_dict()["memory"]


def site_at(memory, function):
    return [site for site in memory["sites"] if site["function"] == function]


@pytest.fixture(autouse=True)
def released_blocks():
    yield
    KEEP.clear()
    if tracemalloc.is_tracing():
        tracemalloc.stop()


def run_child(script, timeout):
    """Runs `script` in a child interpreter that imports reqscope and helpers/ (allocators);
    returns what it printed. A child, because a hook gone wrong there crashes the process."""
    path = os.pathsep.join([str(ROOT), str(HELPERS)])
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True,
                            text=True, timeout=timeout, env=dict(os.environ, PYTHONPATH=path))
    assert result.returncode == 0, result.stderr
    return result.stdout


def tracemalloc_sizes_by_line(run):
    """What tracemalloc says `run` left alive, by (file, line)."""
    tracemalloc.start(1)
    before = tracemalloc.take_snapshot()
    run()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    return {(stat.traceback[0].filename, stat.traceback[0].lineno): stat.size_diff
            for stat in after.compare_to(before, "lineno")}


def test_exact_mode_matches_tracemalloc_line_by_line():
    truth = tracemalloc_sizes_by_line(lambda: keep_blocks(5000, 700))
    KEEP.clear()
    with reqscope.profile(memory=True, memory_rate=1, on_report=None) as scope:
        keep_blocks(5000, 700)
    [site] = [s for s in memory_of(scope)["sites"]
              if s["function"] == "keep_blocks" and s["line"] == ALLOCATING_LINE]
    expected = truth[(__file__, ALLOCATING_LINE)]
    assert abs(site["net_bytes"] - expected) <= 0.02 * expected, (site, expected)


def test_sampled_estimates_are_within_ten_percent_for_sites_of_a_thousand_rates():
    """At 1,000 x the rate a site has about 1,000 samples: one standard error is 3%. (At 100 x,
    any Poisson byte sampler's standard error is 10%, so "within 10%" would fail a third of
    the time there.)"""
    with reqscope.profile(memory=True, memory_rate=1, on_report=None) as exact:
        keep_blocks(8000, 1000)
    truth = allocated_at_line(memory_of(exact), "keep_blocks", ALLOCATING_LINE)
    KEEP.clear()
    rate = 8 * 1024
    with reqscope.profile(memory=True, memory_rate=rate, on_report=None) as sampled:
        keep_blocks(8000, 1000)
    estimate = allocated_at_line(memory_of(sampled), "keep_blocks", ALLOCATING_LINE)
    assert truth >= 1000 * rate
    assert abs(estimate - truth) <= 0.10 * truth, (estimate, truth)


def test_memory_freed_within_the_scope_is_not_net_growth():
    with reqscope.profile(memory=True, memory_rate=1, on_report=None) as scope:
        churn_blocks(3000)
    memory = memory_of(scope)
    churned = site_at(memory, "churn_blocks")
    assert sum(s["allocated_bytes"] for s in churned) >= 3000 * 1000
    assert sum(s["net_bytes"] for s in churned) == 0
    assert memory["peak_bytes"] < 3000 * 1000


@pytest.mark.parametrize("tracemalloc_first", [True, False])
@pytest.mark.parametrize("tracemalloc_stops_first", [True, False])
def test_tracemalloc_started_and_stopped_in_either_order(tracemalloc_first,
                                                          tracemalloc_stops_first):
    """Our hooks are out of the chain while nothing needs them. A tracemalloc started then
    sits below them once a scope chains them in, and its stop puts back what it found, which
    takes ours out too: that scope misses what followed, and says so."""
    block = 1000 + bytes.__basicsize__
    assert reqscope.uninstall(memory=True) is True  # Out of the chain, whatever ran before.
    if tracemalloc_first:
        tracemalloc.start()
    scope = reqscope.profile(memory=True, memory_rate=1, on_report=None).__enter__()
    if not tracemalloc_first:
        tracemalloc.start()
    keep_blocks(100)
    traced, _peak = tracemalloc.get_traced_memory()
    if tracemalloc_stops_first:
        tracemalloc.stop()
        keep_blocks(100)
        scope.close()
    else:
        scope.close()
        tracemalloc.stop()
    assert traced >= 100 * block
    removed = tracemalloc_first and tracemalloc_stops_first
    blocks = 200 if tracemalloc_stops_first and not removed else 100
    allocated = allocated_at_line(memory_of(scope), "keep_blocks", ALLOCATING_LINE)
    assert blocks * block <= allocated <= blocks * block + 16 * 1024  # Plus the list's growth.
    assert memory_of(scope)["hooks_removed"] is removed
    assert ("incomplete: another tool" in scope.report.render("console")) is removed
    with reqscope.profile(memory=True, memory_rate=1, on_report=None) as later:
        keep_blocks(50)
    allocated = allocated_at_line(memory_of(later), "keep_blocks", ALLOCATING_LINE)
    assert 50 * block <= allocated <= 50 * block + 16 * 1024


def test_a_tracemalloc_started_before_our_first_scope_and_stopped_leaves_us_working():
    """tracemalloc.stop() puts back the allocator it found, which removes hooks installed
    after it; the next memory scope chains them again. Needs a fresh interpreter."""
    printed = run_child("""
        import tracemalloc, reqscope
        tracemalloc.start()
        with reqscope.profile(memory=True, memory_rate=1, on_report=None) as first:
            kept = [bytes(1000) for _ in range(100)]
        tracemalloc.stop()
        with reqscope.profile(memory=True, memory_rate=1, on_report=None) as second:
            more = [bytes(1000) for _ in range(100)]
        print(first.report.to_dict()["memory"]["net_bytes"] >= 100_000,
              second.report.to_dict()["memory"]["net_bytes"] >= 100_000)
    """, timeout=60)
    assert printed.split() == ["True", "True"]


def test_bad_memory_settings_are_refused():
    with pytest.raises(reqscope.ConfigError, match="memory_rate"):
        reqscope.profile(memory=True, memory_rate=0)
    with pytest.raises(reqscope.ConfigError, match="memory_nframes"):
        reqscope.profile(memory=True, memory_nframes=500)


def test_speedscope_carries_allocated_and_retained_byte_profiles_beside_the_cpu_one():
    with reqscope.profile(memory=True, memory_rate=1, cpu=True, on_report=None) as scope:
        keep_blocks(200, 1000)
        churn_blocks(300, 1000)
    document = json.loads(scope.report.render("speedscope"))
    units = [profile["unit"] for profile in document["profiles"]]
    assert units == ["milliseconds", "bytes", "bytes"]
    frames = document["shared"]["frames"]
    allocated, retained = document["profiles"][1:]

    def bytes_under(profile, function):
        return sum(weight for stack, weight in zip(profile["samples"], profile["weights"])
                   if frames[stack[-1]]["name"] == function)

    # A bytes(1000) object is 1,033 bytes; the list KEEP grows too.
    assert 300 * 1000 <= bytes_under(allocated, "churn_blocks") < 320 * 1000
    assert 200 * 1000 <= bytes_under(allocated, "keep_blocks") < 225 * 1000
    assert 200 * 1000 <= bytes_under(retained, "keep_blocks") < 225 * 1000
    assert bytes_under(retained, "churn_blocks") < 2000
    assert all(frames[stack[0]]["name"] != "keep_blocks" for stack in allocated["samples"])


def test_speedscope_of_a_memory_only_scope_and_its_error_without_either():
    with reqscope.profile(memory=True, memory_rate=1, on_report=None) as scope:
        keep_blocks(10)
    assert [p["name"] for p in json.loads(scope.report.render("speedscope"))["profiles"]] == [
        f"{scope.name} (allocated)", f"{scope.name} (retained)"]
    with reqscope.profile(on_report=None) as plain:
        pass
    with pytest.raises(ValueError, match="cpu=True or memory=True"):
        plain.report.render("speedscope")


def test_uninstall_removes_our_hooks_but_never_a_tracer_chained_above_them():
    scope = reqscope.profile(memory=True, on_report=None).__enter__()
    tracemalloc.start()
    try:
        scope.close()
        assert reqscope.uninstall(memory=True) is False  # tracemalloc sits above ours.
        before, _ = tracemalloc.get_traced_memory()
        KEEP.append(bytes(100_000))
        after, _ = tracemalloc.get_traced_memory()
        assert after - before >= 100_000  # tracemalloc still traces.
    finally:
        tracemalloc.stop()
    with reqscope.profile(memory=True, on_report=None):
        assert reqscope.uninstall(memory=True) is False  # A scope records.
    assert reqscope.uninstall(memory=True) is True
    assert reqscope.uninstall(memory=True) is True  # Already gone.
    with reqscope.profile(memory=True, memory_rate=1, on_report=None) as scope:
        keep_blocks(100)  # The next memory scope installs them again.
    assert memory_of(scope)["net_bytes"] >= 100 * 1000


def test_the_hooks_are_in_the_chain_only_while_a_scope_records_or_a_sample_lives():
    """An idle process pays nothing per allocation: the hooks leave the chain when the last
    memory scope ends and no sampled allocation is alive; they stay while the leak view follows
    one (its free must be seen), and leave when that is freed and a later scope ends."""
    reqscope.memory_growth(reset=True)
    assert reqscope.uninstall(memory=True) is True
    original = allocators_now()
    assert not _core.memory_hooks_chained()
    with reqscope.profile(memory=True, memory_rate=1, on_report=None) as scope:
        assert allocators_now() != original and _core.memory_hooks_chained()
        churn_blocks(100)
    assert memory_of(scope)["allocated_bytes"] >= 100 * 1000
    assert allocators_now() == original  # Nothing alive: out again.
    warmup = reqscope.configure().memory_warmup
    reqscope.configure(memory_warmup=0)
    followed = []
    try:
        with reqscope.profile(name="GET /keeps/", memory=True, memory_rate=1, on_report=None):
            followed.append(bytes(50_000))
        assert allocators_now() != original  # The leak view follows that block.
        assert reqscope.memory_growth(everything=True)
        followed.clear()
        with reqscope.profile(memory=True, on_report=None):
            pass
        assert allocators_now() == original  # Its free was seen; nothing alive now.
        assert not _core.memory_hooks_chained()
    finally:
        reqscope.configure(memory_warmup=warmup)
        reqscope.memory_growth(reset=True)


def test_frees_of_null_never_match_an_empty_slot_of_the_live_table():
    """PyMem_Free(NULL) is common; looking NULL up once matched an empty slot (address 0) and
    undid a random sample: exact scopes in a row, with many frees, crashed."""
    for _ in range(3):
        with reqscope.profile(memory=True, memory_rate=1, on_report=None) as scope:
            rows = [{"id": i, "name": f"user{i}", "tags": [i % 7]} for i in range(5000)]
            text = ",".join(f"{row['id']}:{row['name']}" for row in rows)
            del rows
        assert memory_of(scope)["allocated_bytes"] > len(text)


def test_a_tool_chained_above_our_hooks_is_kept_and_we_keep_recording(tmp_path):
    """Another tool's hooks above ours (not tracemalloc): the next memory scope must see that
    ours are still called, not chain them again above that tool (which made every allocation
    loop between the two), and must still record. In a child interpreter: a loop crashes."""
    library = compile_passthrough(tmp_path)
    printed = run_child(f"""
        import ctypes, reqscope
        kept = []
        with reqscope.profile(memory=True, memory_rate=1, on_report=None):
            pass
        ctypes.PyDLL({str(library)!r}).install_passthrough()
        with reqscope.profile(memory=True, memory_rate=1, on_report=None) as scope:
            kept.append(bytes(50_000))
        print(scope.report.to_dict()["memory"]["net_bytes"])
    """, timeout=60)
    assert int(printed) >= 50_000


def test_a_tool_chained_above_keeps_whichever_malloc_hook_it_found_and_both_record_right(
        tmp_path):
    """Our malloc hook differs while a scope records (no test of whether one does) and while
    none does; it is switched only while ours are first, since a tool chained above keeps
    calling the one it found. Either must be right in both cases: the idle one found while a
    followed block kept ours in the chain must count an exact scope's blocks, the recording one
    found inside a scope must record nothing for the allocations outside any scope (a million
    of them: its countdown reaches, finds no scope, goes on) and everything for the next scope."""
    library = compile_passthrough(tmp_path)
    printed = run_child(f"""
        import ctypes, json, reqscope
        from reqscope import _core
        from allocators import allocators_now

        def obj_malloc():
            return allocators_now()[1][1]

        def net(scope):
            return scope.report.to_dict()["memory"]["net_bytes"]

        def block(i):  # 1,000 characters by PyObject_Malloc (bytes(n) would be a calloc).
            return ("%04d" % i) * 250

        library = ctypes.PyDLL({str(library)!r})
        reqscope.configure(memory_warmup=0)
        kept, found = [], {{}}
        with reqscope.profile(name="GET /follow/", memory=True, memory_rate=1, on_report=None):
            found["recording"] = obj_malloc()
            kept.append(bytearray(4096))  # Followed: ours stay in the chain.
        found["idle"] = obj_malloc()
        library.install_passthrough()  # Keeps calling the idle hook.
        with reqscope.profile(memory=True, memory_rate=1, on_report=None) as first:
            kept.extend(block(i) for i in range(100))
        library.uninstall_passthrough()
        with reqscope.profile(memory=True, memory_rate=1, on_report=None) as second:
            library.install_passthrough()  # Keeps calling the recording hook.
            kept.append(block(0))
        outside = [str(i) for i in range(1_000_000)]
        with reqscope.profile(memory=True, memory_rate=1, on_report=None) as third:
            kept.extend(block(i) for i in range(100))
        print(json.dumps({{"switched": found["recording"] != found["idle"],
                          "chained": _core.memory_hooks_chained(),
                          "nets": [net(first), net(second), net(third)]}}))
    """, timeout=120)
    outcome = json.loads(printed)
    assert outcome["switched"] and outcome["chained"]
    first, second, third = outcome["nets"]
    assert 100 * 1000 <= first < 100 * 1000 + 64 * 1024
    assert 1000 <= second < 64 * 1024
    assert 100 * 1000 <= third < 100 * 1000 + 64 * 1024  # The million strings are not in it.


def test_tracemalloc_restarted_after_it_removed_our_hooks_does_not_hide_them():
    """tracemalloc started, a memory scope (ours chained above it), tracemalloc stopped (which
    puts back what it found, removing ours) and started again: ours are no longer called, and
    the next scope must notice and chain them again."""
    tracemalloc.start()
    with reqscope.profile(memory=True, on_report=None):
        pass
    tracemalloc.stop()
    tracemalloc.start()
    try:
        with reqscope.profile(memory=True, memory_rate=1, on_report=None) as scope:
            keep_blocks(100)
    finally:
        tracemalloc.stop()
    assert memory_of(scope)["net_bytes"] >= 100 * 1000


def test_what_profile_itself_allocates_is_the_callers_line_not_a_reqscope_site():
    with reqscope.profile(memory=True, memory_rate=1, on_report=None) as scope:
        keep_blocks(10)
    package = str(Path(reqscope.__file__).parent)
    assert memory_of(scope)["sites"]
    assert not any(site["file"].startswith(package) for site in memory_of(scope)["sites"])


def test_samples_forgotten_when_our_hooks_are_chained_again_leave_the_scopes_peak_alone():
    """tracemalloc's stop takes our hooks out under a recording scope; the next scope chains
    them again and forgets the samples whose frees it may have missed. The recording scope's
    live bytes drop those samples too: what it allocates afterwards does not stack on them
    and inflate its peak."""
    assert reqscope.uninstall(memory=True) is True
    tracemalloc.start()
    outer = reqscope.profile(memory=True, memory_rate=1, on_report=None).__enter__()
    first = [bytes(1000) for _ in range(100)]
    tracemalloc.stop()  # Puts back what it found: ours are out.
    with reqscope.profile(memory=True, memory_rate=1, on_report=None):
        pass  # Chains them in again; the first blocks' samples are forgotten.
    del first  # Frees the hooks no longer follow.
    second = [bytes(1000) for _ in range(60)]
    outer.close()
    memory = memory_of(outer)
    assert 60 * 1000 <= memory["peak_bytes"] < 130 * 1000, memory["peak_bytes"]
    assert memory["hooks_removed"] is True  # What it allocated meanwhile went unseen.
    assert second


@pytest.mark.parametrize("chained_again_by_a_nested_scope", [False, True])
def test_a_scope_whose_hooks_were_taken_out_says_so_even_if_another_scope_chained_them_again(
        chained_again_by_a_nested_scope):
    assert reqscope.uninstall(memory=True) is True
    tracemalloc.start()
    with reqscope.profile(memory=True, memory_rate=1, on_report=None) as outer:
        tracemalloc.stop()  # Takes ours out: what follows goes unseen.
        gap = [bytearray(1000) for _ in range(200)]
        if chained_again_by_a_nested_scope:
            with reqscope.profile(memory=True, on_report=None) as inner:
                pass
            assert memory_of(inner)["hooks_removed"] is False  # It recorded with them in.
    assert memory_of(outer)["hooks_removed"] is True
    assert len(gap) == 200


def test_an_exact_scope_counts_every_block_again_once_an_inner_sampled_scope_ended():
    with reqscope.profile(memory=True, memory_rate=1, on_report=None) as outer:
        with reqscope.profile(memory=True, memory_rate=512 * 1024, on_report=None):
            pass
        keep_blocks(100)  # Each one counted: the countdown is back at rate 1.
    allocated = allocated_at_line(memory_of(outer), "keep_blocks", ALLOCATING_LINE)
    assert 100 * 1000 <= allocated <= 100 * 1000 + 16 * 1024


def test_a_followed_block_that_realloc_moves_counts_as_freed():
    """Outside any scope, a realloc is picked by no countdown: only the old block's filter mark
    sends it to the recording path. A followed buffer grown there must still count as freed,
    or the hooks would stay in the chain for a block long gone."""
    reqscope.memory_growth(reset=True)
    warmup = reqscope.configure().memory_warmup
    reqscope.configure(memory_warmup=0)
    try:
        with reqscope.profile(name="GET /grows/", memory=True, memory_rate=1, on_report=None):
            grown = bytearray(50_000)
        assert _core.memory_hooks_chained()  # The leak view follows the buffer.
        for _ in range(20):
            grown.extend(bytes(50_000))  # Reallocs, outside every scope.
        del grown
        with reqscope.profile(memory=True, on_report=None):
            pass
        assert not _core.memory_hooks_chained()  # Every free seen: nothing alive, out again.
    finally:
        reqscope.configure(memory_warmup=warmup)
        reqscope.memory_growth(reset=True)
