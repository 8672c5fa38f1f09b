"""``reqscope.profile()``: a context manager (sync and async), a decorator, and ``start()``.

Entering creates a scope (``reqscope.Scope``, implemented in C) with the current settings and
makes it current for this thread and this asyncio context; exiting restores the scope that was
current before, so scopes nest. Entry and exit run per request, cold, after the request's work,
so they are C (``_core.ProfileBase``, common/profile.c), and so is making a profile object,
which resolves its settings (reqscope._config makes them, once per distinct overrides). As a
decorator, each call runs in a fresh scope whose report goes to ``on_report`` (default: the
console summary on stderr).
"""

import functools
import inspect
import sys

from . import _config, _core

Scope = _core.Scope


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

    # profile(name=None, *, <setting>=None, ..., on_report=print_console): construction,
    # __enter__ and __exit__ are _core.ProfileBase's (common/profile.c), which keeps the
    # resolved settings in _name, _settings, _options, _on_report (unset when not given) and
    # _warn (the portable build's warning, or None).
    __slots__ = ()

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
        settings, options, warn = self._settings, self._options, self._warn
        on_report = getattr(self, "_on_report", print_console)

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


def _signature() -> inspect.Signature:
    """profile()'s arguments, for help() and editors: its __init__ is C, which has none."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    return inspect.Signature(
        [inspect.Parameter("name", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)]
        + [inspect.Parameter(name, keyword, default=None) for name in _config.OVERRIDABLE]
        + [inspect.Parameter("on_report", keyword, default=print_console)])


profile.__signature__ = _signature()
