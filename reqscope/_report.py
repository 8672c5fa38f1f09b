"""The Report object: a finished scope's report dict and its renderers.

The dict is built once, in C (``_core.Scope._report``); this class only hands it out and picks
the renderer for a format.
"""

import copy
import json
import os
import sys

from . import _core

FORMATS = ("console", "json", "folded", "speedscope")


def use_colour(stream=None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    stream = stream if stream is not None else sys.stderr
    if os.environ.get("NO_COLOR", "") != "":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Report:
    """What one scope recorded. ``to_dict()`` follows DESIGN.md's schema."""

    def __init__(self, scope):
        self._scope = scope

    def to_dict(self) -> dict:
        """The report as plain data (JSON-serialisable); a snapshot while the scope runs.

        Each call returns a fresh copy: editing it (to scrub a value, say) changes nothing else.
        """
        return copy.deepcopy(self._scope._report())

    def render(self, format: str = "console", *, color: bool | None = None) -> str:
        """The report as text: "console" (colour decided by use_colour() unless given),
        "json", "folded" (flamegraph.pl, speedscope) or "speedscope" (its JSON file format).

        "folded" needs a scope profiled with cpu=True; "speedscope" one with cpu=True (a CPU
        profile) or memory=True (allocated and retained bytes profiles), or both.
        """
        if format == "console":
            return _core.render_console(self._scope._report(),
                                        use_colour() if color is None else color)
        if format == "json":
            return json.dumps(self._scope._report(), indent=2, sort_keys=True)
        if format == "folded":
            report = self._scope._report()
            if "cpu" not in report:
                raise ValueError("'folded' needs CPU samples: profile with cpu=True")
            return report["cpu"]["folded"]
        if format == "speedscope":
            report = self._scope._report()
            if "cpu" not in report and "memory" not in report:
                raise ValueError("'speedscope' needs CPU or memory samples: profile with "
                                 "cpu=True or memory=True")
            return json.dumps(_core.speedscope(report))
        raise ValueError(f"unknown report format {format!r}; available: {', '.join(FORMATS)}")

    def __repr__(self) -> str:
        return f"<reqscope.Report of scope {self._scope.id} {self._scope.name!r}>"
