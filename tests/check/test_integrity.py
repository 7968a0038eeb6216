import numpy as np
import pandas as pd
import pytest

from scanflow.check import CheckerError, IntegrityChecker

from .data import mixed_table


def test_clean_batches_pass():
    checker = IntegrityChecker().fit(mixed_table(1000, seed=0))
    results = [checker.check(mixed_table(300, seed=s)) for s in range(1, 11)]
    assert all(r.verdict == "ok" for r in results)
    assert "well-formed" in results[0].explanation


def test_malformed_batch_lists_every_problem():
    checker = IntegrityChecker().fit(mixed_table(1000, seed=0))
    batch = mixed_table(100, seed=1).drop(columns="score")
    batch["income"] = batch["income"].astype(object)
    batch.loc[0, "income"] = "n/a"
    batch.loc[1, "income"] = np.inf
    batch.loc[2, "income"] = -999_999.0
    batch.loc[3:5, "age"] = np.nan
    batch.loc[6, "city"] = "atlantis"
    batch["extra"] = 1
    result = checker.check(batch)
    assert result.verdict == "drift"
    found = {(f.feature, f.detail.split(" ")[1]) for f in result.features}
    details = " | ".join(f"{f.feature}: {f.detail}" for f in result.features)
    assert ("score", "missing") in found, details
    assert "not numbers, e.g. 'n/a'" in details
    assert "infinite" in details
    assert "outside" in details and "-1e+06" in details
    assert "age: 3 missing value(s)" in details
    assert "new level(s) 'atlantis'" in details
    assert "unexpected column(s) 'extra'" in details
    # problems that affect every row (a missing column, an extra one) rank first
    assert {f.feature for f in result.features[:2]} == {"<columns>", "score"}


def test_user_rules_override_what_was_learned():
    reference = pd.DataFrame({"age": [20, 30, 40, 50], "city": ["a", "b", "a", "b"]})
    checker = IntegrityChecker(rules={"age": {"min": 0, "max": 120}, "city": {"levels": None}}, min_rows=3)
    checker.fit(reference)
    assert checker.check(pd.DataFrame({"age": [1, 119, 60], "city": ["z", "y", "x"]})).verdict == "ok"
    result = checker.check(pd.DataFrame({"age": [130, 5], "city": ["a", "b"]}))
    details = [f.detail for f in result.features]
    assert any("outside [0, 120]" in d for d in details)
    assert any("expected at least 3" in d for d in details)


def test_never_negative_columns_stay_non_negative():
    checker = IntegrityChecker().fit(pd.DataFrame({"count": [0, 1, 3, 7, 2]}))
    assert checker.schema["count"]["min"] == 0
    assert checker.check(pd.DataFrame({"count": [-1]})).drifted


def test_unknown_rule_keys_are_rejected():
    with pytest.raises(CheckerError, match="unknown key.*'maximum'"):
        IntegrityChecker(rules={"age": {"maximum": 3}})
