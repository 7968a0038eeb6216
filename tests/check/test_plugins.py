"""Plugins: the example checker found through an entry point, a dotted path, and the registry."""

import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from scanflow.check import Checker, CheckerError, available, load_checker, register

EXAMPLE = Path(__file__).parents[2] / "examples" / "checker_plugin"


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    """The example plugin installed the way pip would: its package plus a dist-info with entry points."""
    site = tmp_path / "site"
    shutil.copytree(EXAMPLE / "scanflow_sanity", site / "scanflow_sanity")
    info = site / "scanflow_sanity-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: scanflow-sanity\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(
        "[scanflow.checkers]\nprobability_sanity = scanflow_sanity.checks:ProbabilitySanityChecker\n"
    )
    monkeypatch.syspath_prepend(str(site))
    yield
    for name in [m for m in sys.modules if m.startswith("scanflow_sanity")]:
        del sys.modules[name]


def _probabilities(n, seed):
    rows = np.random.default_rng(seed).random((n, 3))
    return rows / rows.sum(axis=1, keepdims=True)


def test_plugin_from_an_entry_point_checks_and_round_trips(installed_plugin, tmp_path):
    assert "probability_sanity" in available()
    checker = load_checker("probability_sanity").fit(_probabilities(50, 0))
    assert checker.check(_probabilities(20, 1)).verdict == "ok"
    broken = _probabilities(20, 2)
    broken[:4] *= 2
    result = checker.check(broken)
    assert result.drifted and result.score == pytest.approx(0.2)
    assert result.features[0].feature == "sums to 1"
    checker.save(tmp_path / "sanity")
    loaded = load_checker(tmp_path / "sanity")
    assert type(loaded).__name__ == "ProbabilitySanityChecker" and loaded.n_classes == 3


def test_plugin_by_dotted_path(installed_plugin):
    checker = load_checker("scanflow_sanity.checks:ProbabilitySanityChecker", max_bad_share=0.5)
    assert checker.config["max_bad_share"] == 0.5


def test_registered_class_and_clear_errors():
    @register
    class AlwaysOk(Checker):
        name = "always_ok_for_test"

        def fit(self, reference):
            self._mark_fitted()
            return self

        def check(self, batch):
            from scanflow.check import CheckResult

            return CheckResult(self.name, "ok", 0.0, None, None, len(batch), [], "fine")

    assert load_checker("always_ok_for_test").fit([1]).check([1, 2]).verdict == "ok"
    with pytest.raises(CheckerError, match="no checker named 'nope'.*ks"):
        load_checker("nope")
    with pytest.raises(CheckerError, match="has no 'Nope'"):
        load_checker("scanflow.check.univariate:Nope")
    with pytest.raises(CheckerError, match="not a Checker subclass"):
        load_checker("pathlib:Path")
    with pytest.raises(CheckerError, match="checker 'ks' has no option 'colour'; its options are: test,"):
        load_checker("ks", colour="red")


@pytest.mark.parametrize(
    ("detector", "options", "expected"),
    [
        ("ks", {"alpha": "abc"}, "option 'alpha' of checker 'ks' takes a number, got 'abc'"),
        ("cvm", {"correction": "holm"}, "takes one of 'bonferroni', 'fdr', got 'holm'"),
        ("mmd", {"n_permutations": 2.5}, "'n_permutations' of checker 'mmd' takes a whole number"),
        ("label_shift", {"column": 3}, "'column' of checker 'label_shift' takes text or nothing (null)"),
        ("mmd", {"permutations": 50}, "has no option 'permutations'; its options are: reducer,"),
        ("autoencoder", {"epochs": -1}, "option 'epochs' must be at least 1, got -1"),
        ("autoencoder", {"learning_rate": 0}, "option 'learning_rate' must be above 0, got 0"),
        ("mmd", {"n_permutations": 0}, "option 'n_permutations' must be at least 1, got 0"),
        ("ks", {"max_reference": 0}, "option 'max_reference' must be at least 1, got 0"),
        ("integrity", {"min_rows": 5, "max_rows": 2}, "option 'max_rows' must be at least 5, got 2"),
    ],
)
def test_options_of_the_wrong_kind_are_named_with_what_they_take(detector, options, expected):
    with pytest.raises(CheckerError, match=re.escape(expected)):
        load_checker(detector, **options)


def test_a_plugin_without_a_constructor_keeps_any_option_in_its_config():
    @register
    class Open(Checker):
        name = "open_for_test"

        def fit(self, reference):
            return self

        def check(self, batch):
            raise NotImplementedError

    assert load_checker("open_for_test", threshold=3).config == {"threshold": 3}
