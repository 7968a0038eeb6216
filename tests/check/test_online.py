import threading

import numpy as np
import pytest

from scanflow.check import CheckerError, MMDChecker, OnlineChecker, UnivariateChecker

from .data import mixed_table


def _stream(rows, seed, shift=0.0):
    return np.random.default_rng(seed).normal(size=(rows, 4)) + shift


@pytest.fixture(scope="module")
def fitted():
    return UnivariateChecker().fit(_stream(2000, 0))


def test_results_only_when_an_evaluation_is_due(fitted):
    online = OnlineChecker(fitted, window=50, stride=10, ert=1000)
    results = [online.update(row) for row in _stream(80, 1)]  # one sample at a time
    due = [i for i, r in enumerate(results) if r is not None]
    assert due == [49, 59, 69, 79]  # window full, then every 10 rows
    assert all(results[i].n == 50 for i in due)
    assert online.seen == 80


def test_clean_stream_stays_quiet_and_a_shift_is_caught_quickly(fitted):
    online = OnlineChecker(fitted, window=100, stride=20, ert=5000)
    clean = [online.update(chunk) for chunk in np.split(_stream(3000, 2), 300)]  # 10 rows at a time
    assert sum(r is not None and r.drifted for r in clean) <= 2  # about 0.6 expected in 3000 rows
    assert online.level == pytest.approx(20 / 5000)
    detected_after = None
    for i, chunk in enumerate(np.split(_stream(400, 3, shift=1.0), 40)):
        result = online.update(chunk)
        if result is not None and result.drifted:
            detected_after = (i + 1) * 10
            break
    assert detected_after is not None and detected_after <= 100
    assert "one false alarm per 5000 rows" in result.explanation


def test_dict_rows_from_a_service(fitted):
    checker = UnivariateChecker().fit(mixed_table(500, seed=0))
    online = OnlineChecker(checker, window=30, stride=30)
    rows = mixed_table(30, seed=1).to_dict(orient="records")
    results = [online.update(row) for row in rows]
    assert results[-1] is not None and results[-1].n == 30


def test_updates_from_several_threads_lose_no_rows(fitted):
    online = OnlineChecker(fitted, window=40, stride=40, ert=4000)
    errors = []

    def feed(seed):
        try:
            for chunk in np.split(_stream(200, seed), 50):
                online.update(chunk)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=feed, args=(s,)) for s in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and online.seen == 800


def test_too_few_permutations_for_the_level_is_refused():
    checker = MMDChecker(n_permutations=100).fit(_stream(300, 0))
    with pytest.raises(CheckerError, match="at least 400 permutations"):
        OnlineChecker(checker, window=100, stride=5, ert=1000)
    with pytest.raises(CheckerError, match="fit the checker"):
        OnlineChecker(UnivariateChecker())
