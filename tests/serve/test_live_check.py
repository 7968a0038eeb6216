"""Live checking: windows, a failing checker, a full queue (in a real server and in-process)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from scanflow.serve.checkers import load_checker, load_checkers
from scanflow.serve.errors import ServeSetupError
from scanflow.serve.live_check import LiveChecking

from .serving import Server, Store, checker, wait_for


@pytest.fixture(scope="module")
def server(start_server) -> Server:
    server = start_server(
        "models:/digits@champion",
        "--checker",
        checker("Broken"),
        "--checker",
        checker("Slow"),
        "--check-window",
        "5",
        "--check-queue",
        "10",
        "--report-every",
        "0",
        "--no-log",
    )
    yield server
    assert server.stop() == 0, server.logs()


def test_a_failing_checker_never_fails_a_prediction_and_a_full_queue_drops(
    server: Server, store: Store
) -> None:
    with server.client() as client:
        started = time.monotonic()
        answers = [client.post("/invocations", json={"inputs": [store.x[i]]}) for i in range(60)]
        elapsed = time.monotonic() - started
        assert [a.status_code for a in answers] == [200] * 60
        assert [a.json()["predictions"][0] for a in answers] == store.expected_v1[:60]
        assert elapsed < 30, "requests must not wait for the slow checker"
        checks = wait_for(lambda: (c := client.get("/checks").json())["checkers"][1]["windows"] >= 2 and c)
    broken, slow = checks["checkers"]
    assert broken["checker"] == "broken" and broken["windows"] == 0 and broken["errors"] >= 2
    assert broken["last_error"] == "RuntimeError: this checker always fails"
    assert slow["checker"] == "slow" and slow["errors"] == 0
    assert checks["queue"]["capacity"] == 10 and checks["queue"]["dropped"] > 0
    with server.client() as client:
        metrics = client.get("/metrics").text
    errors = next(
        line
        for line in metrics.splitlines()
        if line.startswith('scanflow_checker_errors_total{checker="broken"}')
    )
    assert float(errors.split()[1]) == broken["errors"]
    dropped = next(
        line for line in metrics.splitlines() if line.startswith("scanflow_check_dropped_rows_total ")
    )
    assert float(dropped.split()[1]) == checks["queue"]["dropped"]


# ------------------------------------------------------------- in-process
class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.batches: list = []

    def check(self, batch):
        self.batches.append(batch)
        return {"verdict": "ok", "score": float(len(batch))}


def test_rows_are_cut_into_windows_of_the_requested_size() -> None:
    recorder = Recorder()
    checking = LiveChecking({"recorder": recorder}, window=4, capacity=100)
    frame = pd.DataFrame(np.arange(14).reshape(7, 2), columns=["a", "b"])
    for start, stop in [(0, 3), (3, 4), (4, 7)]:
        checking.submit(frame.iloc[start:stop])
    while (batch := checking._take_window()) is not None:
        checking.judge(batch)
    assert [len(b) for b in recorder.batches] == [4]  # 3 rows wait for the next window
    assert recorder.batches[0]["a"].tolist() == [0, 2, 4, 6]
    assert checking.pending == 3
    assert checking.scores() == {"recorder": 4.0}


def test_a_full_queue_drops_instead_of_blocking() -> None:
    dropped: list[int] = []
    checking = LiveChecking({"recorder": Recorder()}, window=2, capacity=5, on_drop=dropped.append)
    results = [checking.submit(np.zeros((2, 3))) for _ in range(4)]
    assert results == [True, True, False, False]
    assert checking.dropped == 4 and dropped == [2, 2]


# ---------------------------------------------------------------- loading
def test_checkers_load_from_files_and_modules(tmp_path) -> None:
    (tmp_path / "mine.py").write_text(
        "class Always:\n"
        "    name = 'always'\n"
        "    def check(self, batch):\n"
        "        return {'verdict': 'ok', 'score': 0}\n"
        "checker = Always()\n"
    )
    loaded = load_checkers(
        [str(tmp_path / "mine.py"), f"{tmp_path / 'mine.py'}:Always", checker("mean_shift")]
    )
    assert list(loaded) == ["always", "always-2", "mean_shift"]
    assert type(load_checker(checker("Slow"))).__name__ == "Slow"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("nowhere.py:thing", "no file nowhere.py"),
        ("json:JSONDecoder", "JSONDecoder has no check(batch) method"),
        ("no_such_module_here:factory", "cannot import module 'no_such_module_here'"),
        ("json", "no checker named 'json'"),
        (checker("missing"), "has no 'missing'"),
    ],
)
def test_bad_checker_values_say_what_is_wrong(value: str, words: str) -> None:
    with pytest.raises(ServeSetupError, match="--checker") as raised:
        load_checker(value)
    assert words in str(raised.value)
