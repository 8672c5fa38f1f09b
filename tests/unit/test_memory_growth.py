"""The leak view across requests: growing lines are found, caches and transient memory are not;
and memory attribution across nested scopes and interleaved asyncio tasks."""

import asyncio
import functools

import pytest

import reqscope

RATE = 64 * 1024  # A 10 KB leak is sampled about once in 7 requests (see test docstrings).
LEAKED = []


def leaky_view():
    LEAKED.append(bytes(10_000))


LEAK_LINE = leaky_view.__code__.co_firstlineno + 1


@functools.lru_cache(maxsize=32)
def evicting_entry(key):
    return bytes(10_000)


@functools.lru_cache(maxsize=128)
def plateau_entry(key):
    return bytes(10_000)


def transient_view():
    block = bytes(10_000)
    return len(block)


@pytest.fixture(autouse=True)
def fresh_growth():
    reqscope.memory_growth(reset=True)
    yield
    LEAKED.clear()
    evicting_entry.cache_clear()
    plateau_entry.cache_clear()
    reqscope.memory_growth(reset=True)


def serve(route, view, requests, rate=RATE):
    for number in range(requests):
        with reqscope.profile(name=route, memory=True, memory_rate=rate, sql=False):
            view(number)


def sites_of(route, **options):
    return [site for site in reqscope.memory_growth(**options) if site["route"] == route]


def test_a_view_that_appends_10_kb_per_request_grows_within_200_requests():
    """At 64 KiB a request's 10 KB is sampled with p = 0.14: ~25 samples after the warm-up, ~12
    in each half, so a miss (no sample in a half) has odds below 1e-5."""
    serve("GET /leak/", lambda number: leaky_view(), 200)
    [site] = sites_of("GET /leak/")
    assert (site["file"], site["line"], site["function"]) == (__file__, LEAK_LINE, "leaky_view")
    assert site["growing"] and site["confidence"] >= 0.9
    assert 3_000 <= site["bytes_per_request"] <= 30_000  # 10 KB; about 3 SE either side.
    assert site["requests"] == 180  # 200 minus the default warm-up of 20.
    assert 21 <= site["first_request"] <= site["last_request"] <= 200
    assert site["first_seen"] <= site["last_seen"]
    text = reqscope.render_memory_growth(color=False)
    assert "[MEM growth] 1 site grows" in text and f"{LEAK_LINE} in leaky_view" in text


def test_a_bounded_lru_cache_that_evicts_does_not_grow():
    serve("GET /evicting/", lambda number: evicting_entry(number % 64), 200)
    assert sites_of("GET /evicting/") == []
    followed = sites_of("GET /evicting/", everything=True)
    assert followed and not any(site["growing"] for site in followed)


def test_a_cache_that_fills_and_plateaus_does_not_grow():
    """The cache fills in requests 21 to 64 after the warm-up: 44 entries of 10 KB. At 16 KiB
    each is sampled with p = 0.46, so none is with odds of 1e-12 (at 64 KiB they were 1e-3:
    CI saw it once)."""
    serve("GET /plateau/", lambda number: plateau_entry(number % 64), 200, rate=16 * 1024)
    assert sites_of("GET /plateau/") == []
    followed = sites_of("GET /plateau/", everything=True)
    assert followed and not any(site["growing"] for site in followed)
    assert sum(site["alive_bytes"] for site in followed) > 0  # Filled after the warm-up.


def test_memory_freed_within_its_own_request_never_counts_as_growth():
    serve("GET /transient/", lambda number: transient_view(), 200, rate=1)
    assert sites_of("GET /transient/") == []
    followed = sites_of("GET /transient/", everything=True)
    assert not any(site["function"] == "transient_view" for site in followed)
    # The context's latest nodes (profile() sets a ContextVar) stay alive until the next
    # request replaces them: a followed line may hold the last request's few bytes, never more.
    assert all(site["alive_bytes"] < 1024 and not site["growing"] for site in followed)


def test_reset_forgets_and_frees_are_still_followed_after_the_scope():
    serve("GET /leak/", lambda number: leaky_view(), 120, rate=1)
    [site] = sites_of("GET /leak/")
    assert site["alive_bytes"] >= 100 * 10_000
    LEAKED.clear()  # Freed long after the requests that allocated ended.
    [site] = [site for site in sites_of("GET /leak/", everything=True)
              if site["function"] == "leaky_view"]
    assert not site["growing"] and site["alive_bytes"] == 0
    reqscope.memory_growth(reset=True)
    assert sites_of("GET /leak/", everything=True) == []


def test_the_warm_up_is_a_setting():
    reqscope.configure(memory_warmup=5)
    try:
        serve("GET /leak/", lambda number: leaky_view(), 30, rate=1)
    finally:
        reqscope.configure(memory_warmup=20)
    [site] = sites_of("GET /leak/")
    assert site["requests"] == 25
    with pytest.raises(reqscope.ConfigError, match="memory_warmup"):
        reqscope.configure(memory_warmup=-1)
    with pytest.raises(ValueError, match="min_confidence"):
        reqscope.memory_growth(min_confidence=2)


def test_route_names_are_printed_safely():
    serve("GET /\x1b[2Jleak/", lambda number: leaky_view(), 60, rate=1)
    text = reqscope.render_memory_growth(color=False)
    assert "\x1b" not in text and "?[2Jleak/" in text


KEPT = []


def keep(size):
    KEPT.append(bytes(size))


def test_an_inner_scope_hands_what_it_keeps_to_the_outer_one():
    with reqscope.profile(name="outer", memory=True, memory_rate=1, sql=False) as outer:
        with reqscope.profile(name="inner", memory=True, memory_rate=1, sql=False) as inner:
            keep(50_000)
        with reqscope.profile(name="no memory", sql=False):
            keep(30_000)
    KEPT.clear()
    inner_memory = inner.report.to_dict()["memory"]
    outer_memory = outer.report.to_dict()["memory"]
    assert 50_000 <= inner_memory["net_bytes"] < 55_000
    assert 80_000 <= outer_memory["net_bytes"] < 90_000
    outer_keep = sum(s["net_bytes"] for s in outer_memory["sites"] if s["function"] == "keep")
    assert 80_000 <= outer_keep < 81_000
    # The inner scope's figures froze at its end: the later free is not theirs.
    assert inner.report.to_dict()["memory"]["net_bytes"] == inner_memory["net_bytes"]


def allocate_in_task(size, rounds, kept):
    kept.append(bytes(size))


async def task_request(name, size, rounds):
    kept = []
    async with reqscope.profile(name=name, memory=True, memory_rate=1, sql=False) as scope:
        for _ in range(rounds):
            kept.append(bytes(size))
            await asyncio.sleep(0)
    return scope.report.to_dict()["memory"]


def test_interleaved_asyncio_requests_get_only_their_own_allocations():
    async def main():
        return await asyncio.gather(task_request("small", 1_000, 50),
                                    task_request("large", 20_000, 50))

    small, large = asyncio.run(main())
    assert 50_000 <= small["net_bytes"] < 150_000
    assert 1_000_000 <= large["net_bytes"] < 1_200_000


def test_the_console_report_has_memory_lines():
    with reqscope.profile(name="job", memory=True, memory_rate=1, sql=False) as scope:
        keep(100_000)
    KEPT.clear()
    text = scope.report.render("console", color=False)
    assert "[MEM] +" in text and "(exact," in text
    assert f"{__file__.rsplit('/', 1)[-1]}:" in text and "in keep" in text


def test_at_the_default_rate_the_same_leak_is_found_within_1600_requests():
    """At 512 KiB a 10 KB leak is sampled once in ~53 requests: 200 requests give ~4 samples,
    too few to tell a leak from a cache; 1,600 give ~30, about 15 in each half."""
    serve("GET /leak/", lambda number: leaky_view(), 1600, rate=512 * 1024)
    found = sites_of("GET /leak/")
    # Not reproduced in 1,000 runs of this test alone, once in a full suite: say what was seen.
    assert len(found) == 1, (found, sites_of("GET /leak/", everything=True),
                             reqscope.memory_growth_dropped())
    [site] = found
    assert site["function"] == "leaky_view" and site["confidence"] >= 0.9
    assert 3_000 <= site["bytes_per_request"] <= 30_000  # 10 KB; about 3 SE either side.


def test_the_console_shows_what_allocated_most_and_then_what_kept_most():
    churners = []
    for index in range(6):  # Six lines that allocate much and keep nothing.
        namespace = {}
        exec(f"def churn_{index}():\n    for _ in range(50):\n        bytes(100_000)\n",
             namespace)
        churners.append(namespace[f"churn_{index}"])
    with reqscope.profile(name="job", memory=True, memory_rate=1, sql=False) as scope:
        for churner in churners:
            churner()
        keep(30_000)  # Kept, but allocates less than any churner.
    KEPT.clear()
    site_lines = [line for line in scope.report.render("console", color=False).splitlines()
                  if line.startswith("  net ")]
    assert all(" in churn_" in line for line in site_lines[:5]), site_lines
    assert site_lines[5].endswith(" in keep"), site_lines


class RouteName(str):
    """A str subclass whose hash fails: exiting its scope must not run it (or raise)."""

    def __hash__(self):
        raise ValueError("hash of a route name")


def test_a_scope_named_by_a_str_subclass_exits_cleanly_and_is_not_followed():
    with reqscope.profile(name=RouteName("GET /odd/"), memory=True, memory_rate=1, sql=False,
                          on_report=None) as scope:
        KEPT.append(bytes(10_000))
    KEPT.clear()
    assert scope.report.to_dict()["memory"]["allocated_bytes"] >= 10_000
    assert sites_of("GET /odd/", everything=True) == []


def test_routes_past_the_table_are_counted_and_said():
    for number in range(1030):  # The route table holds 1,024.
        with reqscope.profile(name=f"GET /route/{number}", memory=True, memory_rate=1,
                              sql=False, on_report=None):
            pass
    assert reqscope.memory_growth_dropped()["routes"] >= 6
    assert "not followed (tables full): " in reqscope.render_memory_growth(color=False)
    reqscope.memory_growth(reset=True)
    assert reqscope.memory_growth_dropped() == {"routes": 0, "sites": 0}
