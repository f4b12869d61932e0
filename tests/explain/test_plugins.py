"""Plugin loading: built-ins through the hook, entry points one by one, failures recorded."""

from __future__ import annotations

import types

import pytest

from emotionkit.errors import PluginError, UnknownExplainerError
from emotionkit.explain import hookimpl, plugins
from emotionkit.explain.methods.saliency import Saliency

BUILTINS = {"saliency", "guided-backprop", "grad-cam", "guided-grad-cam", "smoothgrad",
            "integrated-gradients", "occlusion", "activation-max", "layer-outputs"}


class FakeDist:
    def __init__(self, name: str, version: str) -> None:
        self.name, self.version = name, version


class FakeEntryPoint:
    def __init__(self, name, obj=None, error=None, package=None, version="1.0"):
        self.name, self._obj, self._error = name, obj, error
        self.dist = FakeDist(package or f"{name}-pkg", version)
        self.loads = 0

    def load(self):
        self.loads += 1
        if self._error is not None:
            raise self._error
        return self._obj


def plugin_module(name: str, *explainers, hook_name: str = "register_explainers", fail=None):
    module = types.ModuleType(name)

    def register_explainers(register):
        for cls in explainers:
            register(cls)
        if fail is not None:
            raise fail

    register_explainers.__name__ = hook_name
    setattr(module, hook_name, hookimpl(register_explainers))
    return module


def named(name: str) -> type:
    return type(name.title().replace("-", ""), (Saliency,), {"name": name})


@pytest.fixture
def entry_points(monkeypatch):
    """Install fake entry points; plugin state is reset before and after the test."""
    eps: list[FakeEntryPoint] = []
    monkeypatch.setattr(plugins, "_entry_points", lambda: list(eps))
    monkeypatch.delenv(plugins.ENV_VAR, raising=False)
    plugins.reset_plugins()
    yield eps
    plugins.reset_plugins()


def info_by_name() -> dict:
    return {row["name"]: row for row in plugins.plugins_info(include_builtin=True)}


def test_builtins_register_through_the_same_hook(entry_points):
    assert set(plugins.available()) == BUILTINS
    row = info_by_name()["emotionkit"]
    assert row["builtin"] and row["error"] is None and set(row["explainers"]) == BUILTINS
    assert plugins.plugins_info() == []  # built-ins only listed on request
    assert plugins.explainer_plugin("saliency") == "emotionkit"


def test_good_plugin_loads_with_version(entry_points):
    entry_points.append(FakeEntryPoint("good", plugin_module("good", named("fake-one"),
                                                             named("fake-two")),
                                       package="emotionkit-good", version="2.5"))
    assert {"fake-one", "fake-two"} <= set(plugins.available())
    assert plugins.get("fake-one").name == "fake-one"
    row = info_by_name()["good"]
    assert (row["package"], row["version"], row["error"]) == ("emotionkit-good", "2.5", None)
    assert row["explainers"] == ["fake-one", "fake-two"]


def test_failures_are_recorded_and_never_break_the_rest(entry_points):
    entry_points += [
        FakeEntryPoint("broken-import", error=ImportError("No module named 'missing_dep'")),
        FakeEntryPoint("raises", plugin_module("raises", named("half-done"),
                                               fail=RuntimeError("oops"))),
        FakeEntryPoint("typo", plugin_module("typo", named("typo-x"),
                                             hook_name="register_explainer")),
        FakeEntryPoint("not-explainer", plugin_module("not-explainer", object)),
        FakeEntryPoint("bad-name", plugin_module("bad-name", named("Bad Name"))),
        FakeEntryPoint("good", plugin_module("good", named("fake-one"))),
    ]
    assert set(plugins.available()) == BUILTINS | {"fake-one"}
    info = info_by_name()
    assert info["broken-import"]["error"] == (
        "import failed: ImportError: No module named 'missing_dep'")
    assert info["raises"]["error"] == "register_explainers failed: RuntimeError: oops"
    assert info["raises"]["explainers"] == []  # nothing kept from a failed registration
    assert "unknown hook 'register_explainer'" in info["typo"]["error"]
    assert "is not an emotionkit.explain.Explainer" in info["not-explainer"]["error"]
    assert "invalid name 'Bad Name'" in info["bad-name"]["error"]
    assert info["good"]["error"] is None


def test_duplicate_names_are_an_error_naming_both_plugins(entry_points):
    entry_points += [FakeEntryPoint("dup", plugin_module("dup", named("saliency"),
                                                         named("dup-ok")))]
    with pytest.raises(PluginError, match="explainer 'saliency' is registered by both plugin "
                                          "'emotionkit' and plugin 'dup'"):
        plugins.get("saliency")
    assert "saliency" not in plugins.available()
    assert plugins.get("dup-ok").name == "dup-ok"  # the rest of the plugin still works
    assert info_by_name()["dup"]["error"] == (
        "explainer 'saliency' is registered by both plugin 'emotionkit' and plugin 'dup'")
    plugins.unregister_plugin("dup")
    assert plugins.get("saliency").name == "saliency"  # the remaining claim is usable again


def test_same_name_twice_in_one_plugin(entry_points):
    entry_points.append(FakeEntryPoint("twice", plugin_module("twice", named("x-a"),
                                                              named("x-a"))))
    assert "registered explainer 'x-a' twice" in info_by_name()["twice"]["error"]
    assert "x-a" not in plugins.available()


@pytest.mark.parametrize("setting, loaded", [
    (None, {"one", "two"}),
    ("", set()),
    ("two", {"two"}),
    ("one-pkg, two", {"one", "two"}),  # a distribution name works too
    ("emotionkit", set()),  # the built-ins always load; naming them is no error
])
def test_load_plugins_env_filter(entry_points, monkeypatch, setting, loaded):
    entry_points += [FakeEntryPoint("one", plugin_module("one", named("e-one"))),
                     FakeEntryPoint("two", plugin_module("two", named("e-two")))]
    if setting is not None:
        monkeypatch.setenv(plugins.ENV_VAR, setting)
    plugins.load_plugins()
    assert {row["name"] for row in plugins.plugins_info()} == loaded
    assert [ep.loads for ep in entry_points] == [int("one" in loaded), int("two" in loaded)]


def test_env_names_that_are_not_installed_are_reported(entry_points, monkeypatch):
    monkeypatch.setenv(plugins.ENV_VAR, "ghost")
    row = info_by_name()["ghost"]
    assert "listed in EMOTIONKIT_LOAD_PLUGINS but no installed entry point" in row["error"]


def test_loading_is_lazy_and_idempotent(entry_points):
    ep = FakeEntryPoint("one", plugin_module("one", named("e-one")))
    entry_points.append(ep)
    assert ep.loads == 0
    for _ in range(3):
        plugins.get("e-one")
        plugins.available()
    assert ep.loads == 1


def test_unknown_explainer_suggests_close_matches(entry_points):
    with pytest.raises(UnknownExplainerError, match="unknown explainer 'saliancy'; did you mean "
                                                    "'saliency'"):
        plugins.get("saliancy")


def test_register_plugin_at_run_time(entry_points):
    record = plugins.register_plugin(plugin_module("mine", named("my-method")), name="mine")
    assert record.explainers == ["my-method"]
    assert "my-method" in plugins.available()
    with pytest.raises(PluginError, match="already registered"):
        plugins.register_plugin(plugin_module("mine", named("other")), name="mine")
    with pytest.raises(PluginError, match="registered by both"):
        plugins.register_plugin(plugin_module("again", named("my-method")), name="again")
    plugins.unregister_plugin("mine")
    plugins.unregister_plugin("again")
    assert "my-method" not in plugins.available()
