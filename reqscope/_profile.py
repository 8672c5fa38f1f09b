"""``reqscope.profile()``: a context manager (sync and async), a decorator, and ``start()``.

Entering creates a scope (``reqscope.Scope``, implemented in C) with the current settings and
makes it current for this thread and this asyncio context; exiting restores the scope that was
current before, so scopes nest. Entry and exit run per request, cold, after the request's work,
so they are C (``_core.ProfileBase``, common/profile.c); this module resolves the settings once
per profile object. As a decorator, each call runs in a fresh scope whose report goes to
``on_report`` (default: the console summary on stderr).
"""

import functools
import inspect
import sys

from . import _config, _core, _portable

Scope = _core.Scope

_PORTABLE = _portable.PORTABLE


def print_console(scope: Scope) -> None:
    """The default ``on_report``: the console summary on stderr."""
    print(scope.report.render("console"), file=sys.stderr)


class profile(_core.ProfileBase):
    """Profile a block, a function or a coroutine function.

    ``with reqscope.profile(name="job") as scope: ...`` then ``scope.report``.
    Settings not given here come from ``reqscope.configure()`` and ``REQSCOPE_*`` variables.
    ``cpu=True`` samples the Python stacks of the threads running the scope every ``interval``
    seconds (default 1 ms) with reqscope's native sampler. ``memory=True`` samples Python
    allocations, one per ``memory_rate`` bytes on average (1 traces every allocation), keeping
    ``memory_nframes`` frames of each.
    """

    __slots__ = ()  # _name, _settings, _options, _on_report, _warn: ProfileBase's.

    def __init__(self, name=None, *, sql=None, cpu=None, interval=None, memory=None,
                 memory_rate=None, memory_nframes=None, show_params=None,
                 explain=None, explain_analyze=None, slow_ms=None, slow_share=None,
                 slow_min_ms=None, n_plus_one_min=None, on_report=print_console, **unknown):
        if unknown:
            raise TypeError(f"profile() got unknown argument(s): {', '.join(sorted(unknown))}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"profile name must be a str, not {type(name).__name__}")
        settings = _config.overridden((  # In _config.OVERRIDABLE's order.
            sql, cpu, interval, memory, memory_rate, memory_nframes, show_params, explain,
            explain_analyze, slow_ms, slow_share, slow_min_ms, n_plus_one_min))
        self._name = name
        self._settings = settings
        self._options = settings.core_options()
        self._on_report = on_report
        # Called at each entry: the portable build warns (once) about what it degrades.
        degraded = _PORTABLE and (settings.cpu or settings.memory)
        self._warn = _portable.warn_limits if degraded else None

    async def __aenter__(self) -> Scope:
        return self.__enter__()

    async def __aexit__(self, *exc_info):
        return self.__exit__()

    def start(self) -> Scope:
        """A new scope, entered outside any with-block; end it with ``scope.close()``. For a
        server whose request ends in a callback (the WSGI middleware's response close())."""
        if self._warn is not None:
            self._warn(self._settings, 2)
        return _core.enter_scope(self._name, self._options)

    def __call__(self, function):
        name = self._name or f"{function.__module__}.{function.__qualname__}"
        settings, options, warn, on_report = (self._settings, self._options, self._warn,
                                              self._on_report)

        def finish(scope):
            scope.close()
            if on_report is not None:
                on_report(scope)

        if inspect.iscoroutinefunction(function):
            @functools.wraps(function)
            async def async_wrapper(*args, **kwargs):
                if warn is not None:
                    warn(settings, 2)
                scope = _core.enter_scope(name, options)
                try:
                    return await function(*args, **kwargs)
                finally:
                    finish(scope)
            return async_wrapper

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            if warn is not None:
                warn(settings, 2)
            scope = _core.enter_scope(name, options)
            try:
                return function(*args, **kwargs)
            finally:
                finish(scope)
        return wrapper
