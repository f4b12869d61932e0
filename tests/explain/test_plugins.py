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


def test_builtin_name_is_shadowed_and_the_builtin_keeps_working(entry_points):
    """A plugin registering 'saliency' neither disables it nor smoothgrad (its default base)."""
    import torch

    from emotionkit.testing import TinyCNN

    entry_points += [FakeEntryPoint("dup", plugin_module("dup", named("saliency"),
                                                         named("dup-ok")))]
    with pytest.warns(plugins.PluginWarning, match=r"plugin dup-pkg 1\.0 registers explainer "
                      r"'saliency', a built-in's name: the built-in is used"):
        plugins.load_plugins()
    assert plugins.explainer_plugin("saliency") == "emotionkit"
    assert type(plugins.get("saliency")) is Saliency
    assert plugins.get("dup-ok").name == "dup-ok"  # the rest of the plugin works
    row = info_by_name()["dup"]
    assert (row["error"], row["explainers"], row["shadowed"]) == (None, ["dup-ok"], ["saliency"])
    result = plugins.get("smoothgrad").explain(TinyCNN(), torch.rand(1, 1, 48, 48),
                                               samples=2, seed=0)
    assert result.options["base"] == "saliency" and result.maps.shape == (1, 1, 48, 48)


def test_two_third_party_plugins_claiming_one_name_name_both(entry_points):
    entry_points += [FakeEntryPoint("one", plugin_module("one", named("same"))),
                     FakeEntryPoint("two", plugin_module("two", named("same"), named("two-ok")))]
    with pytest.raises(PluginError, match="explainer 'same' is registered by both plugin "
                                          "'one' and plugin 'two'"):
        plugins.get("same")
    assert "same" not in plugins.available()
    assert plugins.get("two-ok").name == "two-ok"
    assert info_by_name()["two"]["error"] == (
        "explainer 'same' is registered by both plugin 'one' and plugin 'two'")
    plugins.unregister_plugin("two")
    assert plugins.explainer_plugin("same") == "one"  # the remaining claim is usable again


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
    ("one_pkg", {"one"}),  # PEP 503: ek_rise, Ek.Rise and ek-rise are one name
    ("One.Pkg,TWO", {"one", "two"}),
    (" , ", set()),  # blank is empty: no third-party plugin
    ("emotionkit", set()),  # the built-ins always load; naming them is no error
])
def test_load_plugins_env_filter(entry_points, monkeypatch, setting, loaded):
    entry_points += [FakeEntryPoint("one", plugin_module("one", named("e-one"))),
                     FakeEntryPoint("two", plugin_module("two", named("e-two")))]
    if setting is not None:
        monkeypatch.setenv(plugins.ENV_VAR, setting)
    plugins.load_plugins()
    assert {row["name"] for row in plugins.plugins_info()} == loaded  # no "not installed" rows
    assert [ep.loads for ep in entry_points] == [int("one" in loaded), int("two" in loaded)]
    assert {row["name"] for row in plugins.skipped_plugins()} == {"one", "two"} - loaded


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


# --------------------------------------------------------------------------- hardening


class Boom(Saliency):
    """An attribution plugin whose maps fail with a foreign (non-emotionkit) exception."""

    name = "rise"
    smoothable = True

    def attribute(self, state, x, target, options):
        raise RuntimeError("CUDA error: device-side assert\n  triggered")


def test_foreign_exception_becomes_one_line_plugin_error(entry_points):
    import torch

    from emotionkit.errors import ConfigError, EmotionKitError
    from emotionkit.testing import TinyCNN

    entry_points.append(FakeEntryPoint("rise", plugin_module("rise", Boom),
                                       package="ek-rise", version="0.1"))
    model, x = TinyCNN(), torch.rand(2, 1, 48, 48)
    with pytest.raises(PluginError) as info:
        plugins.get("rise").explain(model, x)
    assert str(info.value) == ("explainer 'rise' (plugin ek-rise 0.1) failed: RuntimeError: "
                               "CUDA error: device-side assert triggered")
    assert isinstance(info.value.__cause__, RuntimeError)  # the traceback is kept
    with pytest.raises(ConfigError, match="unknown option 'nope'"):  # emotionkit's own: as is
        plugins.get("rise").explain(model, x, nope=1)
    # reached through a built-in (smoothgrad calls the base's attribute): named too
    with pytest.raises(PluginError, match=r"^explainer 'rise' \(plugin ek-rise 0\.1\) failed"):
        plugins.get("smoothgrad").explain(model, x, base="rise", samples=2)
    assert all(p.grad is None and p.requires_grad for p in model.parameters())
    assert issubclass(PluginError, EmotionKitError)


def test_runtime_plugin_error_names_the_plugin_and_builtins_are_not_wrapped(entry_points):
    import torch

    from emotionkit.testing import TinyCNN

    plugins.register_plugin(plugin_module("mine", Boom), name="mine")
    with pytest.raises(PluginError, match=r"^explainer 'rise' \(plugin mine\) failed: "):
        plugins.get("rise").explain(TinyCNN(), torch.rand(1, 1, 48, 48))
    assert "explain" not in vars(plugins.get("saliency"))  # built-ins run unwrapped


def test_register_plugin_without_hooks_is_a_clear_error(entry_points):
    before = (plugins.available(), plugins.plugins_info(include_builtin=True))
    for obj in (types.SimpleNamespace(), types.ModuleType("empty"), object()):
        with pytest.raises(PluginError, match="has no hook implementations"):
            plugins.register_plugin(obj, name="ns")
        assert (plugins.available(), plugins.plugins_info(include_builtin=True)) == before
    # a namespace that does carry the hook works (pluggy itself needs hashable plugins)
    ns = types.SimpleNamespace(register_explainers=hookimpl(lambda register: register(
        named("from-ns"))))
    assert plugins.register_plugin(ns, name="ns").explainers == ["from-ns"]


def test_entry_point_without_hooks_is_recorded(entry_points):
    entry_points.append(FakeEntryPoint("empty", types.ModuleType("empty_plugin")))
    assert info_by_name()["empty"]["error"] == (
        "invalid plugin: module 'empty_plugin' has no hook implementations (functions decorated "
        "with emotionkit.explain.hookimpl, e.g. register_explainers)")


@pytest.mark.parametrize("bad", [
    lambda: plugin_module("p", named("p-a"), fail=RuntimeError("oops")),   # hook raises
    lambda: plugin_module("p", named("p-a"), named("taken")),              # a third-party name
    lambda: plugin_module("p", named("p-a"), object),                      # not an explainer
    lambda: plugin_module("p", named("p-a"), hook_name="register_explainer"),  # typo
])
def test_failed_runtime_registration_leaves_no_trace(entry_points, bad):
    plugins.register_plugin(plugin_module("first", named("taken")), name="first")
    state = (plugins.available(), plugins.plugins_info(include_builtin=True))
    with pytest.raises(PluginError, match="^plugin 'p': "):
        plugins.register_plugin(bad(), name="p")
    assert (plugins.available(), plugins.plugins_info(include_builtin=True)) == state
    assert plugins.explainer_plugin("taken") == "first"  # not turned into a conflict
    # no stale record: the name is free again
    assert plugins.register_plugin(plugin_module("p", named("p-a")), name="p").explainers == [
        "p-a"]


def test_same_entry_point_name_twice_keeps_the_first_record(entry_points):
    entry_points += [FakeEntryPoint("same", plugin_module("same", named("s-one")), package="a"),
                     FakeEntryPoint("same", plugin_module("same", named("s-two")), package="b")]
    first, second = plugins.plugins_info()
    assert (first["package"], first["explainers"], first["error"]) == ("a", ["s-one"], None)
    assert (second["package"], second["error"]) == ("b", "a plugin named 'same' is already "
                                                         "registered")
    assert plugins.get("s-one").name == "s-one"


def test_empty_env_disables_loading_and_says_so(entry_points, monkeypatch):
    from click.testing import CliRunner

    from emotionkit.cli.main import cli

    entry_points.append(FakeEntryPoint("rise", plugin_module("rise", named("rise")),
                                       package="ek-rise", version="0.1"))
    monkeypatch.setenv(plugins.ENV_VAR, "")
    assert plugins.loading_filter() == [] and plugins.plugins_info() == []
    assert plugins.skipped_plugins()[0]["package"] == "ek-rise"
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "Third-party plugins are disabled: EMOTIONKIT_LOAD_PLUGINS is set to an empty value "
        "(unset it to load every installed plugin). Installed but not loaded: "
        "rise (ek-rise 0.1)."]
    plugins.reset_plugins()
    monkeypatch.setenv(plugins.ENV_VAR, "ek_rise")  # the normalized distribution name
    lines = CliRunner().invoke(cli, ["plugins"]).output.splitlines()
    assert lines[0] == "rise (ek-rise 0.1)" and lines[1].split()[0] == "rise"
    assert lines[2:] == ["EMOTIONKIT_LOAD_PLUGINS=ek_rise loads only the plugins named there."]


def test_plugins_command_lists_shadowed_explainers_and_warns(entry_points):
    from click.testing import CliRunner

    from emotionkit.cli.main import cli

    entry_points.append(FakeEntryPoint("dup", plugin_module("dup", named("saliency")),
                                       package="ek-dup", version="2"))
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        "Warning: plugin ek-dup 2 registers explainer 'saliency', a built-in's name: the "
        "built-in is used and the plugin's explainer is ignored (shadowed); rename it in the "
        "plugin to use it"]
    assert result.stdout.splitlines() == [
        "dup (ek-dup 2)",
        "  saliency               SHADOWED: the built-in explainer of this name is used; this "
        "one is ignored"]
    (row,) = __import__("json").loads(CliRunner().invoke(cli, ["plugins", "--json"]).stdout)
    assert row["shadowed"] == ["saliency"] and row["details"][0]["shadowed"] is True


def _cli_run(*args, env=None):
    from click.testing import CliRunner

    from emotionkit.cli.main import cli

    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def test_explain_cli_plugin_failure_is_one_line(entry_points, tmp_path):
    entry_points.append(FakeEntryPoint("rise", plugin_module("rise", Boom),
                                       package="ek-rise", version="0.1"))
    args = ("explain", "-m", "rise", "--model", "compact", "synthetic:1", "--n", "1",
            "--out", tmp_path)
    result = _cli_run(*args)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        "Error: explainer 'rise' (plugin ek-rise 0.1) failed: RuntimeError: CUDA error: "
        "device-side assert triggered")
    assert "Traceback" not in result.output
    result = _cli_run(*args, env={"EMOTIONKIT_DEBUG": "1"})  # re-raised, with its cause
    assert isinstance(result.exception, PluginError)
    assert isinstance(result.exception.__cause__, RuntimeError)
