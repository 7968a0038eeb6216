import numpy as np
import pandas as pd
import pytest

from scanflow.check import CheckerError, UnivariateChecker, load_checker

from .data import breast_cancer_split, mixed_table


def test_same_distribution_rarely_alarms():
    checker = UnivariateChecker().fit(mixed_table(2000, seed=0))
    alarms = sum(checker.check(mixed_table(200, seed=s)).drifted for s in range(1, 41))
    assert alarms <= 5  # 40 batches at alpha 0.05: about 2 expected


def test_shifted_column_is_found_and_ranked_first():
    checker = UnivariateChecker().fit(mixed_table(2000, seed=0))
    result = checker.check(mixed_table(200, seed=1, shift=1.0))
    assert result.verdict == "drift"
    assert result.features[0].feature == "income" and result.features[0].drifted
    assert not any(f.drifted for f in result.features[1:])
    assert "income" in result.explanation
    assert result.p_value < 0.001 and result.threshold == 0.05


def test_unseen_category_is_drift_not_an_error():
    checker = UnivariateChecker().fit(mixed_table(2000, seed=0))
    batch = mixed_table(200, seed=1)
    batch.loc[:39, "city"] = "marseille"
    result = checker.check(batch)
    city = next(f for f in result.features if f.feature == "city")
    assert city.drifted and "marseille" in city.detail
    assert result.features[0].feature == "city"


def test_constant_missing_and_empty_columns_are_judged_without_errors():
    reference = mixed_table(500, seed=0)
    batch = mixed_table(100, seed=1)
    batch["score"] = np.nan  # every value missing
    batch.loc[:10, "city"] = None
    result = UnivariateChecker().fit(reference).check(batch)
    by_name = {f.feature: f for f in result.features}
    assert by_name["version"].statistic == 0 and not by_name["version"].drifted
    assert "<missing>" in by_name["city"].detail
    # a column production stopped filling is drift, not "no change"
    assert by_name["score"].drifted and "no values in the batch" in by_name["score"].detail


def test_numeric_missing_share_is_tested_alongside_the_values():
    reference = mixed_table(2000, seed=0)
    reference.loc[reference.index[::10], "income"] = np.nan  # 10% missing all along
    checker = UnivariateChecker().fit(reference)
    alarms = 0
    for seed in range(1, 21):
        same = mixed_table(200, seed=seed)
        same.loc[same.sample(frac=0.1, random_state=seed).index, "income"] = np.nan
        alarms += checker.check(same).drifted
    assert alarms <= 3  # the same missing share holds the test's level
    batch = mixed_table(200, seed=1)
    batch.loc[:79, "income"] = np.nan  # 40% missing, values left unchanged in distribution
    income = next(f for f in checker.check(batch).features if f.feature == "income")
    assert income.drifted and "missing 10% → 40%" in income.detail


def test_constant_reference_column_flags_any_change():
    reference = pd.DataFrame({"flag": np.zeros(300)})
    result = (
        UnivariateChecker().fit(reference).check(pd.DataFrame({"flag": np.r_[np.zeros(30), np.ones(20)]}))
    )
    assert result.drifted


def test_missing_column_is_a_clear_error():
    checker = UnivariateChecker().fit(mixed_table(300, seed=0))
    with pytest.raises(CheckerError, match="lacks 1 column.*'income'"):
        checker.check(mixed_table(50, seed=1).drop(columns="income"))


def test_arrays_work_like_frames_and_real_data_noise_is_detected():
    reference, rest = breast_cancer_split()
    checker = load_checker("ks").fit(reference)
    assert not checker.check(rest[:100]).drifted
    noisy = rest[:100] + np.random.default_rng(0).normal(size=(100, 30)) * reference.std(axis=0)
    result = checker.check(noisy)
    assert result.drifted and len(result.drifted_features) >= 5
    assert result.features[0].feature.startswith("x")


def test_fdr_flags_at_least_as_many_features_as_bonferroni():
    reference, rest = breast_cancer_split()
    noisy = rest[:60] + np.random.default_rng(1).normal(size=(60, 30)) * reference.std(axis=0) * 0.8
    bonferroni = UnivariateChecker(correction="bonferroni").fit(reference).check(noisy)
    fdr = UnivariateChecker(correction="fdr").fit(reference).check(noisy)
    assert len(fdr.drifted_features) >= len(bonferroni.drifted_features) > 0


def test_cramer_von_mises_detects_a_change_of_spread():
    rng = np.random.default_rng(3)
    checker = load_checker("cvm").fit(rng.normal(size=(1000, 2)))
    assert not checker.check(rng.normal(size=(150, 2))).drifted
    wider = rng.normal(size=(150, 2)) * [1.0, 1.8]
    result = checker.check(wider)
    assert result.drifted and result.features[0].feature == "x1"


def test_bad_options_are_rejected():
    with pytest.raises(CheckerError, match="correction"):
        UnivariateChecker(correction="holm")
    with pytest.raises(CheckerError, match="not fitted"):
        UnivariateChecker().check(mixed_table(10, seed=0))


def test_a_small_kept_reference_is_named_when_it_hides_a_shift_in_a_large_batch(tmp_path):
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"x": rng.normal(size=40_000)})
    batch = pd.DataFrame({"x": rng.normal(0.06, 1, size=40_000)})  # a small shift, seen with enough rows
    result = UnivariateChecker().fit(reference).check(batch)
    assert result.verdict == "ok"
    assert "compared the batch with 5000 of the reference's 40000 rows (max_reference)" in result.explanation
    assert UnivariateChecker(max_reference=40_000).fit(reference).check(batch).verdict == "drift"
    UnivariateChecker().fit(reference).save(tmp_path / "saved")
    assert "40000 rows" in load_checker(tmp_path / "saved").check(batch).explanation, "kept when saved"
    small = pd.DataFrame({"x": rng.normal(0.06, 1, size=500)})
    assert "max_reference" not in UnivariateChecker().fit(reference).check(small).explanation


def test_columns_tested_in_blocks_get_the_same_statistics_as_scipy(monkeypatch):
    """Large batches go through in blocks of columns (bounded memory): same answers as one at a time."""
    from scipy import stats

    from scanflow.check import ks

    rng = np.random.default_rng(3)
    reference, batch = rng.normal(size=(300, 7)), rng.normal(0.2, 1, size=(400, 7))
    batch[::5, 2] = np.nan
    monkeypatch.setattr(ks, "BLOCK_VALUES", 1500)  # two columns per block
    statistic, _ = ks.ks_columns(reference, batch)
    for j in range(7):
        column = batch[:, j][~np.isnan(batch[:, j])]
        assert statistic[j] == pytest.approx(stats.ks_2samp(reference[:, j], column).statistic)
