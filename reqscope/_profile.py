"""``reqscope.profile()``: a context manager (sync and async) and a decorator.

Entering creates a ``_core.Scope`` with the current settings and makes it current for this
thread and this asyncio context; exiting restores the scope that was current before, so scopes
nest. As a decorator, each call runs in a fresh scope whose report goes to ``on_report``
(default: the console summary on stderr).
"""

import contextvars
import functools
import inspect
import sys

from . import _config, _core, _portable
from ._report import Report


class Scope:
    """A running or finished profile: ``scope.report`` once it is done (or a snapshot)."""

    __slots__ = ("_core_scope", "_report")

    def __init__(self, core_scope):
        self._core_scope = core_scope
        self._report = None

    @property
    def report(self) -> Report:
        """The scope's report (made on first use: most servers' scopes are never asked)."""
        if self._report is None:
            self._report = Report(self._core_scope)
        return self._report

    id = property(lambda self: self._core_scope.id)
    active = property(lambda self: self._core_scope.active)
    wall_ms = property(lambda self: self._core_scope.wall_ms)

    @property
    def name(self) -> str:
        return self._core_scope.name

    @name.setter
    def name(self, value: str):
        self._core_scope.name = value

    def close(self) -> None:
        """Ends this scope, from any thread or context (what a server's close() hook needs)."""
        self._core_scope._exit()

    @property
    def request(self):
        return self._core_scope.request

    @request.setter
    def request(self, value):
        self._core_scope.request = value

    def __repr__(self) -> str:
        state = "active" if self.active else "done"
        return f"<reqscope.Scope {self.id} {self.name!r} {state}>"


def _task_root_coroutine():
    """The running asyncio task's root coroutine, for a CPU scope to sample its awaits; or None.

    asyncio is looked up, not imported: a program that never imported it runs no task.
    """
    asyncio = sys.modules.get("asyncio")
    if asyncio is None or asyncio._get_running_loop() is None:
        return None  # No running event loop in this thread (checked without an exception).
    task = asyncio.current_task()
    coroutine = task.get_coro() if task is not None else None
    return coroutine if inspect.iscoroutine(coroutine) else None


_PORTABLE = _portable.PORTABLE


def _enter_scope(name, settings):
    """A new scope, entered. Called per request: after a request's own work every line of this
    path runs cold (measured in a Django test client loop: about 40 us for enter and exit, about
    6 us warm), so it makes few Python calls; the asyncio lookup only for CPU scopes."""
    if _PORTABLE and (settings.cpu or settings.memory):
        _portable.warn_limits(settings)
    core_scope = _core.Scope(name, settings.core_options())
    core_scope._enter(_task_root_coroutine() if settings.cpu else None)
    return Scope(core_scope)


# The with-blocks open in this thread or task, innermost first: (profile, scope, rest) or None.
# One variable for all profile objects, so a shared profile object ends the scope its own
# with-block began, and long-lived contexts (a server thread's) never accumulate keys.
_entered = contextvars.ContextVar("reqscope.entered", default=None)


def _pop_entered(profile_object):
    """Removes the innermost block of ``profile_object`` from this context; returns its scope."""
    outer_blocks = []
    node = _entered.get()
    while node is not None and node[0] is not profile_object:
        outer_blocks.append(node)
        node = node[2]
    if node is None:
        return None
    rest = node[2]
    for block in reversed(outer_blocks):
        rest = (block[0], block[1], rest)
    _entered.set(rest)
    return node[1]


def print_console(scope: Scope) -> None:
    """The default ``on_report``: the console summary on stderr."""
    print(scope.report.render("console"), file=sys.stderr)


class profile:
    """Profile a block, a function or a coroutine function.

    ``with reqscope.profile(name="job") as scope: ...`` then ``scope.report``.
    Settings not given here come from ``reqscope.configure()`` and ``REQSCOPE_*`` variables.
    ``cpu=True`` samples the Python stacks of the threads running the scope every ``interval``
    seconds (default 1 ms) with reqscope's native sampler. ``memory=True`` samples Python
    allocations, one per ``memory_rate`` bytes on average (1 traces every allocation), keeping
    ``memory_nframes`` frames of each.
    """

    __slots__ = ("_name", "_settings", "_on_report")

    def __init__(self, name=None, *, sql=None, cpu=None, interval=None, memory=None,
                 memory_rate=None, memory_nframes=None, show_params=None,
                 explain=None, explain_analyze=None, slow_ms=None, slow_share=None,
                 slow_min_ms=None, n_plus_one_min=None, on_report=print_console, **unknown):
        if unknown:
            raise TypeError(f"profile() got unknown argument(s): {', '.join(sorted(unknown))}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"profile name must be a str, not {type(name).__name__}")
        self._name = name
        self._settings = _config.overridden((  # In _config.OVERRIDABLE's order.
            sql, cpu, interval, memory, memory_rate, memory_nframes, show_params, explain,
            explain_analyze, slow_ms, slow_share, slow_min_ms, n_plus_one_min))
        self._on_report = on_report

    def __enter__(self) -> Scope:
        scope = _enter_scope(self._name, self._settings)
        _entered.set((self, scope, _entered.get()))
        return scope

    def __exit__(self, *exc_info):
        scope = _pop_entered(self)
        if scope is not None:
            core_scope = scope._core_scope
            if core_scope.active:  # Not already ended by scope.close().
                core_scope._exit()
        return False

    async def __aenter__(self) -> Scope:
        return self.__enter__()

    async def __aexit__(self, *exc_info):
        return self.__exit__()

    def __call__(self, function):
        name = self._name or f"{function.__module__}.{function.__qualname__}"
        settings, on_report = self._settings, self._on_report

        def finish(scope):
            scope._core_scope._exit()
            if on_report is not None:
                on_report(scope)

        if inspect.iscoroutinefunction(function):
            @functools.wraps(function)
            async def async_wrapper(*args, **kwargs):
                scope = _enter_scope(name, settings)
                try:
                    return await function(*args, **kwargs)
                finally:
                    finish(scope)
            return async_wrapper

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            scope = _enter_scope(name, settings)
            try:
                return function(*args, **kwargs)
            finally:
                finish(scope)
        return wrapper
