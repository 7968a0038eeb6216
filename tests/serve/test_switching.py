"""Model switching: hot swaps when an alias moves (under load), and rule files."""

from __future__ import annotations

import http.server
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from tracker_server import tracker_up

from scanflow.serve.errors import ServeSetupError
from scanflow.serve.rules import RuleFile

from .serving import SCANFLOW, Server, Store, wait_for


def test_alias_move_hot_swaps_under_load_without_a_failed_request(start_server, store: Store) -> None:
    from mlflow import MlflowClient

    server = start_server("models:/digits@champion", "--follow-every", "0.3", "--report-every", "0")
    answers: list[tuple[int, str, int, int]] = []  # status, model, row, prediction
    stop = threading.Event()

    def load(offset: int) -> None:
        with server.client() as client:
            row = offset
            while not stop.is_set():
                row = (row + 4) % len(store.x)
                response = client.post("/invocations", json={"inputs": [store.x[row]]})
                model = response.headers.get("x-scanflow-model", "")
                prediction = response.json()["predictions"][0] if response.status_code == 200 else -1
                answers.append((response.status_code, model, row, prediction))

    threads = [threading.Thread(target=load, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    registry = MlflowClient(store.tracking_uri, store.tracking_uri)
    try:
        time.sleep(1.0)
        registry.set_registered_model_alias("digits", "champion", "2")
        wait_for(lambda: any(a[1] == "digits/2" for a in answers[-20:]), timeout=60, message="the swap")
        time.sleep(1.0)
        stop.set()
        for thread in threads:
            thread.join()
        # Read the server's state before the alias goes back, or the follower may swap back first.
        with server.client() as client:
            metrics = client.get("/metrics").text
            ready = client.get("/ready").json()["models"]
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        registry.set_registered_model_alias("digits", "champion", "1")
    statuses = Counter(a[0] for a in answers)
    assert statuses == {200: len(answers)}, f"{statuses}\n{server.logs()}"
    models = [a[1] for a in answers]
    first_new = models.index("digits/2")
    assert set(models[:first_new]) == {"digits/1"} and first_new > 10, (first_new, Counter(models))
    assert models[-10:] == ["digits/2"] * 10, models[-20:]
    expected = {"digits/1": store.expected_v1, "digits/2": store.expected_v2}
    assert all(prediction == expected[model][row] for _, model, row, prediction in answers)
    assert 'scanflow_model_swaps_total{slot="digits"} 1.0' in metrics
    assert 'scanflow_model_info{model="digits",slot="digits",version="2"} 1.0' in metrics
    assert ready == {"digits": "digits/2"}
    server.stop()


RULES = """
models:
  accurate: models:/digits-slow@champion
  fast: models:/digits/1
default: accurate
rules:
  - name: phones
    use: fast
    when: {header: {x-device-type: [phone, watch]}}
  - name: overloaded
    use: fast
    when: {latency: {percentile: 95, above_ms: 20, window_s: 60, min_requests: 5}}
"""


def test_rules_route_by_header_and_by_latency(start_server, store: Store, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    server = start_server("--rules", str(rules), "--report-every", "0")
    with server.client() as client:
        phone = client.post("/invocations", json={"inputs": store.x[:3]}, headers={"x-device-type": "phone"})
        assert (phone.headers["x-scanflow-model"], phone.headers["x-scanflow-route"]) == (
            "digits/1",
            "phones",
        )
        assert phone.json()["predictions"] == store.expected_v1[:3]
        routes = []
        for row in range(60):
            answer = client.post("/invocations", json={"inputs": [store.x[row]]})
            routes.append((answer.headers["x-scanflow-route"], answer.json()["predictions"][0]))
            if routes[-1][0] == "overloaded":
                break
        slow = [r for r in routes if r[0] == "default"]
        assert len(slow) >= 5 and all(prediction == 7 for _, prediction in slow)  # the slow model says 7
        assert routes[-1] == ("overloaded", store.expected_v1[len(routes) - 1])
        explicit = client.post("/v1/models/accurate/predict", json={"inputs": store.x[:1]})
        assert explicit.json()["model"] == "digits-slow" and explicit.headers["x-scanflow-route"] == "url"
        assert client.get("/ready").json()["models"] == {"accurate": "digits-slow/1", "fast": "digits/1"}
    server.stop()


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("models: {a: models:/x/1}\ndefault: b\n", "default: unknown model 'b'; the models are a"),
        (
            "models: {a: models:/x/1}\ndefault: a\nrules: [{name: r, use: z, when: {header: {h: v}}}]\n",
            "rules[0] (r).use: unknown model 'z'",
        ),
        (
            "models: {a: models:/x/1}\ndefault: a\nrules: [{use: a, when: {}}]\n",
            "give at least one condition",
        ),
        (
            "models: {a: models:/x/1}\ndefault: a\nrules: [{use: a, when: {latency: {above_ms: -1}}}]\n",
            "rules.0.when.latency.above_ms",
        ),
        ("models: {a: models:/x/1}\ndefault: a\nroutes: []\n", "routes: Extra inputs are not permitted"),
        ("models: [a\n", "not valid YAML"),
    ],
)
def test_rule_file_errors_name_the_field(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(ServeSetupError) as raised:
        RuleFile.read(path)
    assert words in str(raised.value) and str(path) in str(raised.value)


def test_serve_refuses_a_bad_rule_file_before_binding(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("models: {a: models:/x/1}\ndefault: b\n")
    done = subprocess.run(
        [SCANFLOW, "serve", "--rules", str(path), "--no-log"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert "unknown model 'b'" in done.stderr


def test_serve_wants_a_model_or_rules() -> None:
    done = subprocess.run([SCANFLOW, "serve"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "give a model URI or a rule file" in done.stderr


def test_an_alias_that_does_not_exist_stops_the_server_with_a_clear_error(start_server) -> None:
    server: Server = start_server("models:/digits@nonesuch", wait=False)
    assert server.process.wait(timeout=120) == 1
    logs = server.logs()
    assert logs.count("cannot find alias 'nonesuch' of registered model 'digits'") == 1, logs  # said once


def test_a_server_whose_registry_hangs_stops_in_time_with_its_log_written(
    store: Store, tmp_path: Path
) -> None:
    """A registry that answers /health but hangs on the follower's call holds it for minutes
    (MLflow's timeout and retries). A stop must not wait for it: an engine kills a server that
    outlasts its stop grace (here 10 s)."""
    import dataclasses
    import signal
    from urllib.parse import urlparse

    from scanflow.serve.prediction_log import read_predictions

    database = f"sqlite:///{tmp_path / 'predictions.db'}"
    args = ["models:/digits@champion", "--follow-every", "0.5", "--report-every", "0", "--log-db", database]
    with tracker_up("--backend-store-uri", store.tracking_uri) as uri:
        server = Server(args, dataclasses.replace(store, tracking_uri=uri), tmp_path / "server")
        server.wait_ready()
    hung = http.server.ThreadingHTTPServer(("127.0.0.1", urlparse(uri).port), _HangingRegistry)
    threading.Thread(target=hung.serve_forever, daemon=True).start()
    try:
        time.sleep(2)  # the follower's next call now hangs
        with server.client() as client:
            for row in range(20):
                client.post("/invocations", json={"inputs": [store.x[row]]})
        server.process.send_signal(signal.SIGTERM)
        try:
            code = server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            code = server.process.wait()
    finally:
        hung.shutdown()
        _HangingRegistry.release.set()
    assert code == 0, f"killed after the grace: {server.logs()[-2000:]}"
    assert [r["output"] for r in read_predictions(database)] == store.expected_v1[:20]


class _HangingRegistry(http.server.BaseHTTPRequestHandler):
    """Healthy on /health; every other call waits until the test ends (failure injection)."""

    release = threading.Event()

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path != "/health":
            self.release.wait(120)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args: object) -> None:
        pass
