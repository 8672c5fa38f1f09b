"""Settings: defaults, environment variables and their validation.

Every setting has a default, can be given to ``reqscope.profile()`` or ``reqscope.configure()``,
and most can be set from the environment (``REQSCOPE_<NAME>``). A bad value raises
``ConfigError`` naming the setting, the value and what is allowed; reqscope never guesses.
"""

import functools
import os
import site
import sysconfig
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from . import _core, _portable


class ConfigError(ValueError):
    """A reqscope setting has a value it cannot use."""


@functools.cache
def own_paths() -> tuple[str, ...]:
    """reqscope's own package folder, as imported and with links resolved."""
    package = os.path.dirname(os.path.abspath(__file__))
    return tuple(sorted({package + os.sep, os.path.realpath(package) + os.sep}))


def _default_exclude_paths() -> tuple[str, ...]:
    """Path prefixes that are never a call site: the stdlib, site-packages and reqscope."""
    paths = set(own_paths())
    for name in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(name)
        if path:
            paths.add(str(Path(path).resolve()) + os.sep)
            paths.add(path + os.sep)
    for path in site.getsitepackages() + [site.getusersitepackages()]:
        paths.add(path + os.sep)
    paths.add("<frozen ")
    return tuple(sorted(paths))


@dataclass(frozen=True)
class Settings:
    """What a scope records and how it judges what it saw."""

    cpu: bool = False
    interval: float = 0.001
    memory: bool = False
    memory_rate: int = 512 * 1024
    memory_nframes: int = 32
    memory_warmup: int = 20
    sql: bool = True
    show_params: bool = False
    explain: bool = True
    explain_analyze: bool = False
    slow_ms: float = 100.0
    slow_share: float = 0.2
    slow_min_ms: float = 10.0
    n_plus_one_min: int = 3
    exclude_paths: tuple[str, ...] = field(default_factory=_default_exclude_paths)
    extra_exclude_paths: tuple[str, ...] = ()

    def validate(self) -> "Settings":
        for name in ("cpu", "memory", "sql", "show_params", "explain", "explain_analyze"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be True or False, not {getattr(self, name)!r}")
        for name in ("slow_ms", "slow_min_ms"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"{name} must be a number of milliseconds >= 0, not {value!r}")
        if (isinstance(self.interval, bool) or not isinstance(self.interval, (int, float))
                or not 0.0001 <= self.interval <= 0.1):
            raise ConfigError(f"interval must be within 0.0001 and 0.1 seconds (100 us to 100 "
                              f"ms), not {self.interval!r}")
        if (isinstance(self.memory_rate, bool) or not isinstance(self.memory_rate, int)
                or self.memory_rate < 1):
            raise ConfigError(f"memory_rate must be a number of bytes >= 1 (1 traces every "
                              f"allocation), not {self.memory_rate!r}")
        if (isinstance(self.memory_nframes, bool) or not isinstance(self.memory_nframes, int)
                or not 1 <= self.memory_nframes <= 64):
            raise ConfigError(f"memory_nframes must be an int within 1 and 64, not "
                              f"{self.memory_nframes!r}")
        if (isinstance(self.memory_warmup, bool) or not isinstance(self.memory_warmup, int)
                or not 0 <= self.memory_warmup <= 1_000_000):
            raise ConfigError(f"memory_warmup must be a number of requests within 0 and "
                              f"1000000, not {self.memory_warmup!r}")
        if not isinstance(self.slow_share, (int, float)) or not 0 <= self.slow_share <= 1:
            raise ConfigError(f"slow_share must be within [0, 1], not {self.slow_share!r}")
        if (
            isinstance(self.n_plus_one_min, bool)
            or not isinstance(self.n_plus_one_min, int)
            or self.n_plus_one_min < 2
        ):
            raise ConfigError(f"n_plus_one_min must be an int >= 2, not {self.n_plus_one_min!r}")
        for name in ("exclude_paths", "extra_exclude_paths"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or not all(isinstance(p, str) for p in value):
                raise ConfigError(f"{name} must be a tuple of path prefixes (str), not {value!r}")
        self.core_options()  # Made now: profile() reads _core_options per request.
        return self

    def core_options(self) -> "_core.ScopeOptions":
        """The options ``_core.Scope`` takes, checked once per settings and kept with them."""
        options = self.__dict__.get("_core_options")
        if options is None:
            options = _core.ScopeOptions(
                cpu=self.cpu,
                interval=float(self.interval),
                memory=self.memory and not _portable.PORTABLE,  # No tracer there: _portable.
                memory_rate=self.memory_rate,
                memory_nframes=self.memory_nframes,
                sql=self.sql,
                show_params=self.show_params,
                explain=self.explain,
                explain_analyze=self.explain_analyze,
                slow_ms=float(self.slow_ms),
                slow_share=float(self.slow_share),
                slow_min_ms=float(self.slow_min_ms),
                n_plus_one_min=self.n_plus_one_min,
                exclude_paths=self.exclude_paths + self.extra_exclude_paths,
                own_paths=own_paths(),
            )
            object.__setattr__(self, "_core_options", options)  # Frozen: a cache, not a field.
        return options


_BOOLEANS = {"1": True, "true": True, "yes": True, "on": True,
             "0": False, "false": False, "no": False, "off": False, "": False}


def parse_bool(name: str, raw: str) -> bool:
    """A yes/no environment value; ConfigError naming ``name`` for anything else."""
    value = _BOOLEANS.get(raw.strip().lower())
    if value is None:
        raise ConfigError(f"{name}={raw!r}: expected 1/0, true/false, yes/no or on/off")
    return value


def _from_environment(environ) -> dict:
    """Settings given as REQSCOPE_* variables, converted and checked."""
    values = {}
    for setting in fields(Settings):
        raw = environ.get("REQSCOPE_" + setting.name.upper())
        if raw is None:
            continue
        name = "REQSCOPE_" + setting.name.upper()
        if setting.type is bool or setting.type == "bool":
            values[setting.name] = parse_bool(name, raw)
        elif setting.name.endswith("paths"):
            values[setting.name] = tuple(p for p in raw.split(os.pathsep) if p)
        else:
            try:
                integer = setting.name in ("n_plus_one_min", "memory_rate", "memory_nframes",
                                           "memory_warmup")
                values[setting.name] = (int if integer else float)(raw)
            except ValueError:
                raise ConfigError(f"{name}={raw!r}: expected a number") from None
    return values


_settings = None


def current() -> Settings:
    """The process-wide settings (defaults, then environment, then configure())."""
    global _settings
    if _settings is None:
        _settings = Settings(**_from_environment(os.environ)).validate()
        _core.set_growth_warmup(_settings.memory_warmup)
    return _settings


def configure(**changes) -> Settings:
    """Changes process-wide settings; unknown names and bad values raise ConfigError."""
    global _settings
    known = {f.name for f in fields(Settings)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)}; "
                          f"known: {', '.join(sorted(known))}")
    _settings = replace(current(), **changes).validate()
    _core.set_growth_warmup(_settings.memory_warmup)
    return _settings


# The settings that profile() may override, in the order of overridden()'s tuple.
OVERRIDABLE = ("sql", "cpu", "interval", "memory", "memory_rate", "memory_nframes",
               "show_params", "explain", "explain_analyze", "slow_ms", "slow_share",
               "slow_min_ms", "n_plus_one_min")


def overridden(values: tuple, base: Settings | None = None) -> Settings:
    """``base`` (default: the current settings) with per-scope overrides: ``values`` in
    OVERRIDABLE order, None meaning 'keep'. profile() keeps the result for each distinct
    ``values`` (common/profile.c), so a server that makes the same profile per request calls
    this once."""
    base = base if base is not None else current()
    changes = {name: value for name, value in zip(OVERRIDABLE, values) if value is not None}
    return replace(base, **changes).validate() if changes else base
