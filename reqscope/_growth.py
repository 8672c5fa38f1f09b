"""The leak view: which lines of your code keep memory alive, request after request.

Every scope that traces memory hands what it leaves alive to a tracker, per scope name (the
route, for the middlewares) and per line of your code that allocated it. After a warm-up of
``memory_warmup`` requests per route (default 20: caches and lazy imports fill then), each
route's history is followed in windows of requests. A line *grows* when what the older half of
that history left behind is still mostly alive and the newer half keeps adding at a comparable
pace; a cache that evicts (its old entries were freed) or that filled and plateaus (nothing new
stays) does not grow. See memtrace/growth.h for the details.
"""

from . import _core
from ._report import use_colour


def memory_growth(min_confidence: float = 0.9, *, everything: bool = False,
                  reset: bool = False) -> list[dict]:
    """The lines whose memory grows across finished scopes, largest growth per request first.

    Each entry: route, function, file, line, growing, bytes_per_request, alive_bytes (still
    alive, from the requests followed), samples, requests (followed since the warm-up),
    confidence (0 to 1), first_request and last_request (the first and last request whose
    allocations there survived, counted from the route's first), first_seen and last_seen
    (their times, seconds since the epoch).

    ``min_confidence`` filters growing lines; ``everything=True`` returns every line followed,
    growing or not; ``reset=True`` forgets everything after reading it (start a new hunt).
    """
    if (isinstance(min_confidence, bool) or not isinstance(min_confidence, (int, float))
            or not 0 <= min_confidence <= 1):
        raise ValueError(f"min_confidence must be within 0 and 1, not {min_confidence!r}")
    sites = _core.memory_growth(min_confidence=float(min_confidence), everything=everything,
                                reset=reset)
    sites.sort(key=lambda site: site["bytes_per_request"], reverse=True)
    return sites


def memory_growth_dropped() -> dict:
    """{"routes": n, "sites": n}: what the leak view could not follow because its tables (1,024
    routes, 8,192 lines) were full. Cleared by ``memory_growth(reset=True)``."""
    return _core.memory_growth_dropped()


def render_memory_growth(sites: list[dict] | None = None, *, color: bool | None = None) -> str:
    """The console text of ``sites`` (by default, ``memory_growth()`` now), with a line saying
    what was not followed when the tables were full."""
    if sites is None:
        sites = memory_growth()
    text = _core.render_growth(list(sites), use_colour() if color is None else color)
    dropped = memory_growth_dropped()
    if dropped["routes"] or dropped["sites"]:
        text += (f"\n  not followed (tables full): {dropped['routes']} route(s), "
                 f"{dropped['sites']} line(s)")
    return text
