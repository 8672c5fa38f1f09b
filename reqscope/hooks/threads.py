"""Scope propagation into thread pools: work handed to a ``ThreadPoolExecutor`` (and so to
``asyncio.to_thread`` and ``loop.run_in_executor``, which use one) runs in the scope that was
current when it was submitted.

In the worker the scope becomes current for the call (its SQL is recorded there) and the
sampler samples the worker thread for it, whatever context the work switches to inside
(``asyncio.to_thread`` runs it in a copied context). Work submitted with no scope active is
passed through untouched, at the cost of one call that returns None. Work still running when
its scope ends stops being recorded then.
"""

import concurrent.futures
import functools

from .. import _core

_current_scope = _core.current_scope
_original_submit = None


def _run_in_scope(scope, function, /, *args, **kwargs):
    token = scope._adopt()
    try:
        return function(*args, **kwargs)
    finally:
        scope._release(token)


def _submit(self, function, /, *args, **kwargs):
    scope = _current_scope()
    if scope is None:
        return _original_submit(self, function, *args, **kwargs)
    return _original_submit(self, _run_in_scope, scope, function, *args, **kwargs)


def install():
    """Patches ``ThreadPoolExecutor.submit``. Idempotent."""
    global _original_submit
    if _original_submit is None:
        _original_submit = concurrent.futures.ThreadPoolExecutor.submit
        concurrent.futures.ThreadPoolExecutor.submit = functools.wraps(_original_submit)(_submit)


def uninstall():
    """Restores ``ThreadPoolExecutor.submit``."""
    global _original_submit
    if _original_submit is not None:
        concurrent.futures.ThreadPoolExecutor.submit = _original_submit
        _original_submit = None
