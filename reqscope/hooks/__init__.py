"""Driver and ORM hooks, and ``install()`` / ``uninstall()`` for all of them.

Each hook module hooks one library where it offers a hook (DESIGN.md, decision 3) and exposes
``install()`` and ``uninstall()``. ``install()`` hooks every library that can be imported and
skips the others; it returns the names it hooked. Hooks cost one branch when no scope is active.
"""

import importlib
import importlib.util

from .. import _core

# Hook module -> the library it needs.
HOOKS = {
    "threads": "concurrent.futures",
    "sqlite3": "sqlite3",
    "psycopg2": "psycopg2",
    "psycopg": "psycopg",
    "sqlalchemy": "sqlalchemy",
    "django": "django",
}

_installed = []


def _hook_module(name):
    return importlib.import_module(f"{__name__}.{name}")


def install(only=None):
    """Hooks the given libraries (default: every importable one); returns the names hooked."""
    names = list(HOOKS) if only is None else list(only)
    unknown = sorted(set(names) - set(HOOKS))
    if unknown:
        raise ValueError(f"unknown hook(s) {', '.join(unknown)}; known: {', '.join(HOOKS)}")
    hooked = []
    for name in names:
        if importlib.util.find_spec(HOOKS[name]) is None:
            continue
        module = _hook_module(name)
        module.install()
        hooked.append(name)
        if name not in _installed:
            _installed.append(name)
    return hooked


def uninstall(*, memory: bool = False) -> bool:
    """Removes every hook ``install()`` put in place; with ``memory=True``, also the allocator
    hooks the first memory scope installed.

    The allocator hooks stay (idle, one test per allocation) while a memory scope records, or
    when another tracer (tracemalloc started after reqscope) chained its hooks above them:
    removing ours would remove that tracer's too. Returns whether they are gone (True when
    ``memory`` is False)."""
    while _installed:
        _hook_module(_installed.pop()).uninstall()
    return _core.memory_uninstall() if memory else True
