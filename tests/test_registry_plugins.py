"""The helpers the registries share: plug-in discovery (prunebench.plugins.import_plugins) and the
one-line unknown-key check (prunebench.config.check_known_keys)."""

from __future__ import annotations

import sys

import pytest

from prunebench.config import check_known_keys
from prunebench.errors import PrunebenchError
from prunebench.plugins import import_plugins


@pytest.fixture
def plugin_package(tmp_path, monkeypatch):
    """A package ``fakeplugins`` with modules a, b, c, a private _d and an infrastructure module core."""
    package = tmp_path / "fakeplugins"
    package.mkdir()
    (package / "__init__.py").write_text("LOADED = []\n")
    for name in ("a", "b", "c", "_d", "core"):
        (package / f"{name}.py").write_text(f"from fakeplugins import LOADED\nLOADED.append({name!r})\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "fakeplugins"
    for name in [m for m in sys.modules if m == "fakeplugins" or m.startswith("fakeplugins.")]:
        del sys.modules[name]


def test_import_plugins_skips_infrastructure_and_private_modules_and_honours_first(plugin_package):
    modules = import_plugins(plugin_package, skip={"core"}, first=("c",))
    assert [m.__name__ for m in modules] == ["fakeplugins.c", "fakeplugins.a", "fakeplugins.b"]
    assert sys.modules[plugin_package].LOADED == ["c", "a", "b"]


def test_the_metric_registry_loads_its_plugins_through_import_plugins():
    from prunebench.metrics.registry import _INFRASTRUCTURE, list_metrics

    modules = {m.__name__.rsplit(".", 1)[1] for m in import_plugins("prunebench.metrics", skip=_INFRASTRUCTURE)}
    assert {"el2n", "dynamics", "prototypes"} <= modules and not modules & _INFRASTRUCTURE
    assert {"el2n", "forgetting", "ssl-prototypes"} <= set(list_metrics())


def test_check_known_keys_is_one_line_naming_the_unknown_and_the_known():
    check_known_keys({"lr": 1}, {"lr", "epochs"}, where="probe")
    with pytest.raises(PrunebenchError) as err:
        check_known_keys({"lr": 1, "epoch": 2, "bacth": 3}, {"lr", "epochs"}, where="probe")
    assert str(err.value) == "probe has no key(s) bacth, epoch; known: epochs, lr"
    with pytest.raises(PrunebenchError, match=r"^metric 'x' has no parameter\(s\) k; known: \(none\)$"):
        check_known_keys({"k": 1}, {}, where="metric 'x'", noun="parameter")
    with pytest.raises(PrunebenchError, match=r"^s has no key\(s\) k; rename it$"):
        check_known_keys({"k": 1}, {"j"}, where="s", fix="rename it")


def test_metric_parameters_and_sweep_train_use_the_check():
    from prunebench.config import check_sweep_train
    from prunebench.metrics.registry import get_metric

    with pytest.raises(PrunebenchError, match=r"^metric 'el2n' has no parameter\(s\) ensemble_sise; known: .*epoch"):
        get_metric("el2n").params({"ensemble_sise": 2})
    with pytest.raises(PrunebenchError, match=r"^invalid config: sweep.train has no probe key\(s\) epoch; use keys"):
        check_sweep_train({"sweep": {"train": {"epoch": 2}}})
