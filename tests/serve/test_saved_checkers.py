"""A saved Scanflow checker watches live traffic, calibrated for repeated testing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scanflow.check import load_checker as load_saved
from scanflow.check.univariate import UnivariateChecker
from scanflow.serve.checkers import load_checkers

from .serving import Server, Store, wait_for


@pytest.fixture(scope="module")
def saved_checker(store: Store, tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("checker") / "ks"
    reference = pd.DataFrame(store.x, columns=store.columns)
    UnivariateChecker().fit(reference).save(folder)
    return str(folder)


def test_a_saved_checker_is_judged_at_the_online_level(saved_checker: str, store: Store) -> None:
    [(name, checker)] = load_checkers([saved_checker], window=100, ert=5_000).items()
    assert name == load_saved(saved_checker).name
    result = checker.check(pd.DataFrame(store.x[:100], columns=store.columns))
    assert result.threshold == pytest.approx(100 / 5_000), "each window is tested at window/ert"
    assert "one false alarm per 5000 rows" in result.explanation


def test_drift_in_live_traffic_is_reported_by_a_saved_checker(
    start_server, store: Store, saved_checker: str
) -> None:
    server: Server = start_server(
        "models:/digits@champion", "--checker", saved_checker, "--check-window", "100",
        "--report-every", "0", "--no-log",
    )  # fmt: skip
    try:
        rows = np.asarray(store.x)
        with server.client() as client:
            for start in range(0, 300, 50):  # healthy traffic: three windows
                body = {
                    "dataframe_split": {"columns": store.columns, "data": rows[start : start + 50].tolist()}
                }
                assert client.post("/invocations", json=body).status_code == 200
            healthy = wait_for(lambda: _last(client, windows=3))
            assert healthy["last"]["verdict"] == "ok"

            inverted = (16 - rows[300:500]).tolist()  # the same digits, ink and paper swapped
            for start in range(0, 200, 50):
                body = {"dataframe_split": {"columns": store.columns, "data": inverted[start : start + 50]}}
                assert client.post("/invocations", json=body).status_code == 200
            drifted = wait_for(lambda: _last(client, windows=5))
        assert drifted["last"]["verdict"] == "drift"
        assert drifted["last"]["features"], "the report names the features that changed"
    finally:
        assert server.stop() == 0, server.logs()


def _last(client, windows: int) -> dict | None:  # noqa: ANN001
    [state] = client.get("/checks").json()["checkers"]
    return state if state["windows"] >= windows else None
