import numpy as np

from scanflow.check import MMDChecker

from .data import breast_cancer_split, mixed_table


def test_mmd_keeps_its_level_on_clean_batches():
    reference, rest = breast_cancer_split()
    checker = MMDChecker(n_permutations=100).fit(reference)
    rng = np.random.default_rng(0)
    alarms = sum(checker.check(rest[rng.choice(len(rest), 50, replace=False)]).drifted for _ in range(20))
    assert alarms <= 4  # 20 batches at alpha 0.05: 1 expected


def test_mmd_sees_a_correlation_change_that_leaves_every_column_alone():
    rng = np.random.default_rng(1)
    covariance = [[1.0, 0.9], [0.9, 1.0]]
    reference = rng.multivariate_normal([0, 0], covariance, 1000)
    flipped = rng.multivariate_normal([0, 0], [[1.0, -0.9], [-0.9, 1.0]], 200)
    from scanflow.check import UnivariateChecker

    assert not UnivariateChecker().fit(reference).check(flipped).drifted
    result = MMDChecker(reducer="none").fit(reference).check(flipped)
    assert result.drifted and result.p_value < 0.01
    assert "joint distribution" in result.explanation


def test_mmd_on_a_mixed_table_ranks_the_shifted_feature_first():
    checker = MMDChecker().fit(mixed_table(800, seed=0))
    result = checker.check(mixed_table(150, seed=1, shift=1.0))
    assert result.drifted
    assert result.features[0].feature == "income"
    assert not checker.check(mixed_table(150, seed=2)).drifted


def test_black_box_shift_detection_on_softmax_outputs():
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_wine(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(x))
    train, test = order[:90], order[90:]
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x[train], y[train])
    checker = MMDChecker(reducer="none").fit(model.predict_proba(x[train]))
    only_class_0 = test[y[test] == 0]
    assert checker.check(model.predict_proba(x[only_class_0])).drifted
    assert not checker.check(model.predict_proba(x[test])).drifted
