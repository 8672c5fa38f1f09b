"""The peers, each switched on for one batch of queries and fully off between batches.

django-debug-toolbar's SQL panel is built the way its middleware builds it for a request (a
``DebugToolbar`` on a request, then ``enable_instrumentation()``); when the batch ends, the
cursor patches it leaves on every connection are taken off again, so that the baseline runs
on untouched connections. zeal patches the ORM once and for good in ``zeal.patch.patch()``;
``ZealPatches`` records what that call changed and swaps it in and out, so zeal's patches are
present only while its context is active.
"""

import sys
from contextlib import contextmanager

from django.db import connections
from django.http import HttpResponse
from django.test import RequestFactory

# The attributes debug_toolbar.panels.sql.tracking.wrap_cursor sets on a connection.
DEBUG_TOOLBAR_CONNECTION_ATTRIBUTES = (
    "cursor", "chunked_cursor", "_djdt_cursor", "_djdt_chunked_cursor", "_djdt_logger")


@contextmanager
def debug_toolbar_sql_panel():
    """Records every query into a fresh toolbar's SQL panel; yields the panel."""
    from debug_toolbar.toolbar import DebugToolbar

    toolbar = DebugToolbar(RequestFactory().get("/"), lambda request: HttpResponse())
    panel = toolbar.get_panel_by_id("SQLPanel")
    panel.enable_instrumentation()
    try:
        yield panel
    finally:
        panel.disable_instrumentation()
        for connection in connections.all():
            for name in DEBUG_TOOLBAR_CONNECTION_ATTRIBUTES:
                connection.__dict__.pop(name, None)


_MISSING = object()


def _django_namespaces():
    """Every loaded Django module and every class defined in one."""
    for module_name, module in list(sys.modules.items()):
        if module is None or not (module_name == "django" or module_name.startswith("django.")):
            continue
        yield module
        for value in list(vars(module).values()):
            # type(value), not isinstance(): a lazy object would load what it stands for.
            if issubclass(type(value), type) and value.__module__ == module_name:
                yield value


class ZealPatches:
    """zeal's ORM patches, applied once, then switched on only for the batches that use zeal."""

    def __init__(self):
        import django.contrib.contenttypes.fields  # noqa: F401 (patch() would import it late)
        from zeal.constants import initialize_app_registry
        from zeal.patch import patch

        namespaces = list(_django_namespaces())
        before = [dict(vars(namespace)) for namespace in namespaces]
        initialize_app_registry()
        patch()
        self.changes = []  # (namespace, attribute, value without zeal, value with zeal)
        for namespace, original in zip(namespaces, before):
            current = vars(namespace)
            for name in original.keys() | current.keys():
                unpatched, patched = original.get(name, _MISSING), current.get(name, _MISSING)
                if unpatched is not patched:
                    self.changes.append((namespace, name, unpatched, patched))
        if not self.changes:
            raise RuntimeError("zeal.patch.patch() changed nothing that could be switched")
        self._apply(patched=False)

    def _apply(self, patched):
        for namespace, name, unpatched, with_zeal in self.changes:
            value = with_zeal if patched else unpatched
            if value is _MISSING:
                delattr(namespace, name)
            else:
                setattr(namespace, name, value)

    @contextmanager
    def active(self):
        """zeal's patches in place and its N+1 context entered, as its middleware does."""
        from zeal import zeal_context

        self._apply(patched=True)
        try:
            with zeal_context():
                yield
        finally:
            self._apply(patched=False)
