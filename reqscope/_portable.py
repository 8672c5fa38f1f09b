"""The portable build's limits, and its one-time warnings.

On a CPython whose frame layouts reqscope does not know (any but 3.11, 3.12 and 3.13), or when
built with REQSCOPE_PORTABLE=1, ``reqscope._core`` uses CPython's public C API only
(``_core.PORTABLE``). The CPU sampler then holds the GIL to read stacks, at 100 Hz at most
(shorter intervals become 10 ms), and the memory tracer is not available: ``memory=True``
records nothing and the report has no "memory" section. Each is said once per process, with a
``RuntimeWarning``, when a scope first asks for it.
"""

import platform
import warnings

from . import _core

PORTABLE = _core.PORTABLE
MIN_INTERVAL = 0.01  # Seconds; sampler/sampler.h, RS_SAMPLER_PORTABLE_MIN_INTERVAL_NS.

_warned = set()


def _warn_once(topic: str, message: str, depth: int) -> None:
    if topic not in _warned:
        _warned.add(topic)
        warnings.warn(message, RuntimeWarning, stacklevel=depth + 2)  # Past us and warn_limits.


def warn_limits(settings, depth: int) -> None:
    """Warns, once per process each, about what ``settings`` ask that this build degrades; the
    warning names the line of the Python frame ``depth`` levels up (1: warn_limits' caller;
    C functions have no frame)."""
    where = f"CPython {platform.python_version()}, portable build"
    if settings.cpu:
        _warn_once("cpu", f"reqscope: {where}: the CPU sampler falls back to a walker that "
                          f"holds the GIL, at 100 Hz at most (interval {MIN_INTERVAL * 1000:g} ms "
                          f"or longer); native frame readers exist for CPython 3.11 to 3.13", depth)
    if settings.memory:
        _warn_once("memory", f"reqscope: {where}: the memory tracer is not available; "
                             f"memory=True records nothing and reports have no 'memory' section",
                   depth)


def warning_for(settings):
    """What profile() calls at each entry of a scope with ``settings`` (common/profile.c):
    warn_limits when this build degrades what they ask, else None."""
    return warn_limits if PORTABLE and (settings.cpu or settings.memory) else None
