import numpy as np
import pandas as pd
import pytest

from scanflow.check import CheckerError, LabelShiftChecker


def _labels(n, seed, shares=None):
    shares = np.full(10, 0.1) if shares is None else np.asarray(shares) / np.sum(shares)
    return np.random.default_rng(seed).choice(10, n, p=shares)


def test_balanced_batches_rarely_alarm():
    checker = LabelShiftChecker().fit(_labels(1000, 0))
    alarms = sum(checker.check(_labels(100, s)).drifted for s in range(1, 41))
    assert alarms <= 5


def test_a_vanishing_class_is_named():
    checker = LabelShiftChecker().fit(_labels(1000, 0))
    shares = np.full(10, 0.1)
    shares[3] = 0.0
    result = checker.check(_labels(300, 1, shares))
    assert result.drifted
    assert result.features[0].feature == "3" and "vanished" in result.features[0].detail
    assert "'3'" in result.explanation


def test_a_new_class_is_named_and_predictions_as_probabilities_work():
    reference = np.eye(3)[np.random.default_rng(0).integers(0, 3, 600)] * 0.8 + 0.1
    checker = LabelShiftChecker().fit(reference)
    assert checker.counts.keys() == {"0", "1", "2"}
    frame = pd.DataFrame({"prediction": ["0"] * 40 + ["1"] * 40 + ["2"] * 40 + ["7"] * 15})
    result = LabelShiftChecker(column="prediction").fit(pd.DataFrame({"prediction": ["0", "1", "2"] * 200}))
    result = result.check(frame)
    assert result.drifted and result.features[0].feature == "7"
    assert "new class" in result.features[0].detail


def test_several_columns_need_a_column_name():
    with pytest.raises(CheckerError, match="name the label or prediction column"):
        LabelShiftChecker().fit(pd.DataFrame({"a": [1, 2], "b": [1, 2]}))


def test_a_table_without_a_named_column_says_how_to_name_it_from_both_sides():
    table = pd.DataFrame({"age": [30, 40] * 50, "prediction": ["a", "b"] * 50})
    expected = r"2 columns \(age, prediction\).*-o column=NAME.*column=NAME\) in Python"
    with pytest.raises(CheckerError, match=expected):
        LabelShiftChecker().fit(table)
