"""One real server, every endpoint and request format, bad input of each kind, and auth."""

from __future__ import annotations

import re

import httpx
import pytest

from .serving import Server, Store, checker, split_body, wait_for

TOKEN = "s3cret-token"
BODY_LIMIT = 200_000


@pytest.fixture(scope="module")
def server(start_server) -> Server:
    server = start_server(
        "models:/digits@champion",
        "--checker",
        checker("mean_shift"),
        "--check-window",
        "50",
        "--report-every",
        "1",
        "--max-body-bytes",
        str(BODY_LIMIT),
        token=TOKEN,
    )
    yield server
    assert server.stop() == 0, server.logs()


@pytest.fixture
def client(server: Server) -> httpx.Client:
    with server.client() as client:
        yield client


# ------------------------------------------------------------------- status
def test_health_and_ready_answer_without_a_token(server: Server) -> None:
    assert httpx.get(server.url + "/health").json() == {"status": "ok"}
    assert httpx.get(server.url + "/ping").status_code == 200
    ready = httpx.get(server.url + "/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "models": {"digits": "digits/1"}}


def test_version_names_scanflow_mlflow_and_the_served_version(client: httpx.Client) -> None:
    import mlflow

    import scanflow

    version = client.get("/version").json()
    assert version == {
        "scanflow": scanflow.__version__,
        "mlflow": mlflow.__version__,
        "models": {"digits": "digits/1"},
    }


def test_models_lists_the_signature(client: httpx.Client, store: Store) -> None:
    described = client.get("/v1/models").json()
    assert described["default"] == "digits"
    (model,) = described["models"]
    assert (model["name"], model["version"], model["uri"]) == ("digits", "1", "models:/digits/1")
    assert [c["name"] for c in model["input"]["columns"]] == store.columns
    assert model["input"]["columns"][0]["type"] == "double"


# ------------------------------------------------------------------ formats
def _records(store: Store, start: int, count: int) -> list[dict]:
    return [dict(zip(store.columns, row, strict=True)) for row in store.x[start : start + count]]


@pytest.mark.parametrize(
    "make_body",
    [
        pytest.param(lambda s: split_body(s, 10, 5), id="dataframe_split"),
        pytest.param(
            lambda s: {
                "dataframe_split": {"columns": s.columns[::-1], "data": [r[::-1] for r in s.x[10:15]]}
            },
            id="dataframe_split-reordered-columns",
        ),
        pytest.param(lambda s: {"dataframe_records": _records(s, 10, 5)}, id="dataframe_records"),
        pytest.param(lambda s: {"instances": s.x[10:15]}, id="instances-rows"),
        pytest.param(lambda s: {"inputs": s.x[10:15]}, id="inputs-rows"),
        pytest.param(lambda s: {"inputs": _records(s, 10, 5)}, id="inputs-records"),
        pytest.param(
            lambda s: {"inputs": {c: [r[i] for r in s.x[10:15]] for i, c in enumerate(s.columns)}},
            id="inputs-columns",
        ),
    ],
)
def test_every_mlflow_request_format_predicts_the_same(client: httpx.Client, store: Store, make_body) -> None:
    response = client.post("/invocations", json=make_body(store))
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": store.expected_v1[10:15]}
    assert response.headers["x-scanflow-model"] == "digits/1"
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


def test_csv_body(client: httpx.Client, store: Store) -> None:
    lines = [",".join(store.columns)] + [",".join(str(v) for v in row) for row in store.x[:4]]
    response = client.post("/invocations", content="\n".join(lines), headers={"content-type": "text/csv"})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == store.expected_v1[:4]


def test_versioned_route_names_model_and_version(client: httpx.Client, store: Store) -> None:
    response = client.post("/v1/models/digits/predict", json={"inputs": store.x[:3]})
    assert response.json() == {"predictions": store.expected_v1[:3], "model": "digits", "version": "1"}
    unknown = client.post("/v1/models/cats/predict", json={"inputs": store.x[:1]})
    assert unknown.status_code == 404
    assert "no model 'cats'" in unknown.json()["message"] and "digits" in unknown.json()["message"]


def test_mlflow_scoring_client_reads_our_answers(server: Server, store: Store, monkeypatch) -> None:
    """A client written for `mlflow models serve` works unchanged (here with a token added)."""
    import pandas as pd
    import requests
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    post = requests.post

    def post_with_token(*args, **kwargs):
        kwargs["headers"] = {**kwargs.get("headers", {}), "Authorization": f"Bearer {TOKEN}"}
        return post(*args, **kwargs)

    monkeypatch.setattr(requests, "post", post_with_token)
    result = ScoringServerClient("127.0.0.1", server.port).invoke(
        pd.DataFrame(store.x[:6], columns=store.columns)
    )
    assert result.get_predictions().iloc[:, 0].tolist() == store.expected_v1[:6]


# ---------------------------------------------------------------- bad input
def _bad(store: Store) -> list:
    row = store.x[0]
    wrong_type = [list(row)]
    wrong_type[0][3] = "abc"
    null_cell = [list(row)]
    null_cell[0][7] = None
    return [
        ("invalid-json", b'{"inputs": [[1, 2,', "application/json", 400, "not valid JSON"),
        ("json-array", b"[[1, 2, 3]]", "application/json", 400, "got a JSON array"),
        ("no-format-key", {"rows": [row]}, None, 400, "exactly one of the keys"),
        ("two-format-keys", {"inputs": [row], "instances": [row]}, None, 400, "exactly one of the keys"),
        ("empty-body", b"", "application/json", 400, "empty"),
        ("no-rows", {"inputs": []}, None, 400, "no rows"),
        ("short-row", {"inputs": [row[:63]]}, None, 400, "row 0 must be a list of 64 values"),
        (
            "missing-column",
            {"dataframe_split": {"columns": store.columns[1:], "data": [row[1:]]}},
            None,
            400,
            "missing column(s) 'pixel_0_0'",
        ),
        (
            "unknown-column",
            {"dataframe_records": [{**dict(zip(store.columns, row, strict=True)), "colour": 3}]},
            None,
            400,
            "unknown column(s) 'colour'",
        ),
        (
            "wrong-type",
            {"inputs": wrong_type},
            None,
            400,
            "column 'pixel_0_3': expected a number (double), got the string 'abc'",
        ),
        (
            "null-in-required-column",
            {"inputs": null_cell},
            None,
            400,
            "column 'pixel_0_7': expected a number (double), got null",
        ),
        ("scalar-inputs", {"inputs": 3}, None, 400, "must be a list of rows"),
        ("too-large", {"inputs": [row] * 2000}, None, 413, "above the limit of 200000 bytes"),
        ("xml", b"<rows/>", "application/xml", 415, "content type 'application/xml' is not supported"),
        ("latin-1", b'{"inputs": []}', "application/json; charset=latin-1", 415, "UTF-8"),
        ("bad-csv", b'a,b\n"1,2', "text/csv", 400, "not valid CSV"),
    ]


BAD_IDS = [
    case[0]
    for case in _bad(
        Store("", None, [f"pixel_{i // 8}_{i % 8}" for i in range(64)], [[0.0] * 64], [], [], [])
    )
]


@pytest.mark.parametrize("case", range(len(BAD_IDS)), ids=BAD_IDS)
def test_bad_input_gets_a_4xx_naming_the_problem(client: httpx.Client, store: Store, case: int) -> None:
    _, body, content_type, status, words = _bad(store)[case]
    headers = {"content-type": content_type} if content_type else {}
    if isinstance(body, bytes):
        response = client.post("/invocations", content=body, headers=headers)
    else:
        response = client.post("/invocations", json=body, headers=headers)
    assert response.status_code == status, response.text
    assert words in response.json()["message"]
    assert response.json()["error_code"]
    assert client.get("/health").status_code == 200  # still up


def test_bad_input_is_counted_in_metrics(client: httpx.Client) -> None:
    before = _metric(client.get("/metrics").text, 'scanflow_request_errors_total{kind="BadInput"}')
    client.post("/invocations", content=b"nope", headers={"content-type": "application/json"})
    after = _metric(client.get("/metrics").text, 'scanflow_request_errors_total{kind="BadInput"}')
    assert after == before + 1


# --------------------------------------------------------------------- auth
def test_a_token_protects_predictions_and_metrics(server: Server, store: Store) -> None:
    body = {"inputs": store.x[:1]}
    missing = httpx.post(server.url + "/invocations", json=body)
    assert missing.status_code == 401
    assert "Authorization: Bearer" in missing.json()["message"]
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = httpx.post(server.url + "/invocations", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "wrong" in wrong.json()["message"]
    assert httpx.get(server.url + "/metrics").status_code == 401
    with server.client() as client:
        assert 'scanflow_request_errors_total{kind="Unauthenticated"} 3.0' in client.get("/metrics").text
    assert httpx.get(server.url + "/checks").status_code == 401
    right = httpx.post(server.url + "/invocations", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert right.status_code == 200


# ------------------------------------------------------- metrics and checks
def _metric(text: str, sample: str) -> float:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_requests_latency_and_the_model_version(client: httpx.Client, store: Store) -> None:
    before = client.get("/metrics").text
    for start in range(0, 20, 2):
        assert client.post("/invocations", json=split_body(store, start, 2)).status_code == 200
    after = client.get("/metrics").text
    ok = 'scanflow_requests_total{model="digits",status="200",version="1"}'
    assert _metric(after, ok) - _metric(before, ok) == 10
    rows = 'scanflow_predicted_rows_total{model="digits"}'
    assert _metric(after, rows) - _metric(before, rows) == 20
    count = 'scanflow_request_duration_seconds_count{model="digits"}'
    assert _metric(after, count) - _metric(before, count) == 10
    assert _metric(after, 'scanflow_model_info{model="digits",slot="digits",version="1"}') == 1
    assert "scanflow_request_duration_seconds_bucket" in after


def test_live_drift_shows_in_checks_metrics_and_the_tracker(client: httpx.Client, store: Store) -> None:
    for start in range(0, 100, 10):  # two windows of real digits
        client.post("/invocations", json=split_body(store, start, 10))
    checks = wait_for(lambda: _judged(client, 2), message="two checked windows")
    (state,) = checks["checkers"]
    assert state["checker"] == "mean_shift" and state["last"]["verdict"] == "ok" and state["errors"] == 0
    shifted = [[v + 8 for v in row] for row in store.x[:100]]  # two windows: one is all shifted
    assert client.post("/invocations", json={"inputs": shifted}).status_code == 200
    wait_for(
        lambda: client.get("/checks").json()["checkers"][0]["last"]["verdict"] == "drift", message="drift"
    )
    metrics = client.get("/metrics").text
    assert _metric(metrics, 'scanflow_drift_detected{checker="mean_shift"}') == 1
    assert _metric(metrics, 'scanflow_drift_score{checker="mean_shift"}') > 1

    from mlflow import MlflowClient

    tracker = MlflowClient(store.tracking_uri)
    experiment = tracker.get_experiment_by_name("digits").experiment_id

    def monitoring_run():
        runs = tracker.search_runs([experiment], "tags.`scanflow.kind` = 'monitoring'")
        return runs and runs[0].data.metrics.get("drift.mean_shift.detected") == 1 and runs[0]

    run = wait_for(monitoring_run, timeout=20, message="the monitoring run")
    assert run.info.run_name == "monitoring"
    assert run.data.tags["scanflow.model"] == "digits"
    history = tracker.get_metric_history(run.info.run_id, "drift.mean_shift.score")
    assert max(m.value for m in history) > 1


def _judged(client: httpx.Client, windows: int) -> dict | None:
    checks = client.get("/checks").json()
    return checks if checks["checkers"][0]["windows"] >= windows else None
