"""reqscope: why was this request slow or fat? SQL, CPU and memory, per request, in one report.

    import reqscope
    reqscope.install()                     # hook the database drivers and ORMs present
    with reqscope.profile(name="job") as scope:
        ...
    print(scope.report.render("console"))
    print(reqscope.render_memory_growth())  # lines whose memory grows across requests
"""

import atexit
import os

from . import _core
from ._config import ConfigError, configure
from ._growth import memory_growth, memory_growth_dropped, render_memory_growth
from ._profile import Scope, profile
from ._report import Report
from .hooks import install, uninstall

__all__ = ["ConfigError", "Report", "Scope", "configure", "fingerprint", "install",
           "memory_growth", "memory_growth_dropped", "profile", "render_memory_growth", "uninstall"]
__version__ = "0.1.0"

# The sampling thread must be gone before the interpreter frees thread states.
atexit.register(_core.sampler_stop)
# A forked child has only the forking thread: the other threads' scopes end there.
os.register_at_fork(after_in_child=_core.after_fork_in_child)


def fingerprint(sql):
    """The (64-bit id, normalized text) of a SQL statement; see DESIGN.md."""
    return _core.fingerprint(sql)
