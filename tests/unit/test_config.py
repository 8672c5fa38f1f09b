"""Settings: defaults, environment variables, configure(), and clear errors for bad values."""

import inspect

import pytest

import reqscope
from reqscope import _config, _core


@pytest.fixture(autouse=True)
def fresh_settings(monkeypatch):
    monkeypatch.setattr(_config, "_settings", None)
    yield
    _config._settings = None


def test_defaults_hide_parameters_and_use_the_documented_thresholds():
    settings = _config.current()
    assert settings.show_params is False and settings.explain is True
    assert (settings.slow_ms, settings.slow_share, settings.slow_min_ms) == (100.0, 0.2, 10.0)
    assert any("site-packages" in path for path in settings.exclude_paths)


def test_environment_variables_are_read(monkeypatch):
    monkeypatch.setenv("REQSCOPE_SHOW_PARAMS", "1")
    monkeypatch.setenv("REQSCOPE_SLOW_MS", "250")
    settings = _config.current()
    assert settings.show_params is True and settings.slow_ms == 250.0


@pytest.mark.parametrize("name, value, message", [
    ("REQSCOPE_SHOW_PARAMS", "maybe", "REQSCOPE_SHOW_PARAMS='maybe'"),
    ("REQSCOPE_SLOW_MS", "fast", "REQSCOPE_SLOW_MS='fast'"),
    ("REQSCOPE_SLOW_MS", "-5", "slow_ms"),
])
def test_bad_environment_values_name_the_variable(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(reqscope.ConfigError, match=message):
        _config.current()


def test_configure_rejects_unknown_names_and_bad_values():
    with pytest.raises(reqscope.ConfigError, match="unknown setting"):
        reqscope.configure(slow_msec=5)
    with pytest.raises(reqscope.ConfigError, match="slow_share"):
        reqscope.configure(slow_share=3)
    with pytest.raises(reqscope.ConfigError, match="n_plus_one_min"):
        reqscope.profile(n_plus_one_min=1)


def test_configure_changes_what_new_scopes_use():
    reqscope.configure(slow_ms=5.0)
    assert _config.current().slow_ms == 5.0


def test_overrides_are_kept_per_settings_and_never_confuse_a_bool_with_an_int():
    first = reqscope.profile(cpu=True)._settings
    assert first.cpu is True and reqscope.profile(cpu=True)._settings is first
    assert reqscope.profile(name="other", cpu=True, on_report=None)._settings is first
    with pytest.raises(reqscope.ConfigError, match="cpu must be True or False"):
        reqscope.profile(cpu=1)  # Equal to True, and kept apart from it.
    assert reqscope.profile(memory_rate=1)._settings.memory_rate == 1
    with pytest.raises(reqscope.ConfigError, match="memory_rate"):
        reqscope.profile(memory_rate=True)
    assert reqscope.profile(slow_ms=5)._settings.slow_ms == 5  # Not 5.0's, though equal.
    assert type(reqscope.profile(slow_ms=5.0)._settings.slow_ms) is float
    reqscope.configure(slow_ms=7.0)  # New settings: overrides apply to them, not the old ones.
    assert reqscope.profile(cpu=True)._settings.slow_ms == 7.0
    assert reqscope.profile(cpu=True)._settings.cpu
    assert reqscope.profile()._settings is _config.current()


def test_overrides_found_by_the_identity_of_their_values_are_never_another_value():
    """profile() finds recent overrides by their objects' identity: a float freed and its
    address given to the next one must not bring back the first one's settings."""
    for tenths in range(50, 150):
        slow_ms = float(tenths) / 10  # A new object each time, freed after the call.
        assert reqscope.profile(slow_ms=slow_ms)._settings.slow_ms == slow_ms
    interval = 0.002
    first = reqscope.profile(cpu=True, interval=interval)._settings
    assert reqscope.profile(cpu=True, interval=interval)._settings is first


def test_profile_arguments_are_checked_where_the_profile_is_made():
    with pytest.raises(TypeError, match="at most 1 positional"):
        reqscope.profile("a", "b")
    with pytest.raises(TypeError, match="multiple values for 'name'"):
        reqscope.profile("a", name="b")
    with pytest.raises(TypeError, match=r"unknown argument\(s\): colour, slowms"):
        reqscope.profile(slowms=5, colour=True, cpu=True)
    assert reqscope.profile("positional")._name == "positional"
    assert not hasattr(reqscope.profile(), "_on_report")  # The console summary, by default.
    assert reqscope.profile(on_report=None)._on_report is None
    made = reqscope.profile("made")
    with pytest.raises(AttributeError):
        del made._name  # What profile() resolved stays as made: entry counts on it.
    with pytest.raises(TypeError, match="ScopeOptions"):
        _core.enter_scope("unmade", None)
    parameters = inspect.signature(reqscope.profile).parameters
    assert list(parameters) == ["name", *_config.OVERRIDABLE, "on_report"]


def test_an_unhashable_override_gets_the_settings_error():
    with pytest.raises(reqscope.ConfigError, match="slow_ms"):
        reqscope.profile(slow_ms=[5])


def test_scope_options_are_checked_once_and_kept_with_the_settings():
    settings = _config.current()
    assert settings.core_options() is settings.core_options()
    assert _config.overridden((False,) + (None,) * 12).core_options() is not (
        settings.core_options())
    with pytest.raises(ValueError, match="interval"):
        _core.ScopeOptions(interval=5.0)
    with pytest.raises(TypeError, match="tuples of str"):
        _core.ScopeOptions(exclude_paths=(1,))
    with pytest.raises(TypeError, match="ScopeOptions"):
        _core.Scope("named", {"cpu": True})
