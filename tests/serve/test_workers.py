"""``--workers N``: several processes on one port, one view of their metrics."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import httpx
import psutil
import pytest
from tracker_server import self_signed

from .serving import SCANFLOW, Server, Store, free_port, split_body, wait_for


def test_two_workers_answer_and_metrics_add_up_across_them(start_server, store: Store) -> None:
    server: Server = start_server(
        "models:/digits@champion", "--workers", "2", "--no-log", "--report-every", "0"
    )
    for start in range(0, 40, 2):  # a new connection each time, so both workers get requests
        response = httpx.post(server.url + "/invocations", json=split_body(store, start, 2))
        assert response.json()["predictions"] == store.expected_v1[start : start + 2]

    def total() -> float:
        lines = httpx.get(server.url + "/metrics").text.splitlines()
        sample = 'scanflow_requests_total{model="digits",status="200",version="1"} '
        return sum(float(line.split()[-1]) for line in lines if line.startswith(sample))

    assert wait_for(lambda: total() == 20, timeout=10, message="20 requests counted")
    assert server.stop() == 0


def test_a_wrong_alias_stops_a_multi_worker_server_and_leaves_no_download(store: Store, tmp_path) -> None:
    environment = {**os.environ, "SCANFLOW_TRACKING_URI": store.tracking_uri, "TMPDIR": str(tmp_path)}
    result = subprocess.run(
        [SCANFLOW, "serve", "models:/digits@nobody", "--workers", "2", "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
    )
    assert result.returncode == 1
    assert "alias 'nobody' of registered model 'digits'" in result.stderr
    assert not list(tmp_path.glob("scanflow-models-*")), "the download folder is removed"


def test_workers_of_a_server_killed_outright_stop_and_free_the_port(start_server) -> None:
    server: Server = start_server("models:/digits@champion", "--workers", "2", "--no-log")
    workers = psutil.Process(server.process.pid).children(recursive=True)
    assert len([w for w in workers if w.is_running()]) >= 2
    server.process.send_signal(signal.SIGKILL)  # nobody left to stop uvicorn's workers
    server.process.wait()

    def port_free() -> bool:
        try:
            httpx.get(server.url + "/ready", timeout=1)
        except httpx.TransportError:
            return True
        return False

    assert wait_for(port_free, timeout=20, message="the port freed")
    psutil.wait_procs(workers, timeout=10)
    assert not [w.pid for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]
    assert server.logs().count("the server's main process is gone: this worker") == 2


def test_workers_answer_https_with_the_given_certificate_and_only_https(store: Store, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    args = ["models:/digits@champion", "--workers", "2", "--tls-cert", str(cert), "--tls-key", str(key)]
    server = Server([*args, "--no-log"], store, tmp_path / "server", token="t0ken", cafile=cert)
    try:
        server.wait_ready()
        with server.client() as client:
            answer = client.post("/invocations", json={"inputs": store.x[:3]})
            assert answer.json()["predictions"] == store.expected_v1[:3]
        with pytest.raises(httpx.TransportError):  # plain HTTP on the same port is not answered
            httpx.get(server.url.replace("https://", "http://") + "/ready", timeout=5)
        assert f"serving models:/digits@champion on {server.url}" in server.logs()
    finally:
        assert server.stop() == 0


def test_a_certificate_and_key_that_do_not_match_stop_serve_before_it_binds(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    cert, _ = self_signed(tmp_path / "a")
    _, key = self_signed(tmp_path / "b")
    base = [SCANFLOW, "serve", "models:/digits/1", "--tls-cert", str(cert)]
    half = subprocess.run(base, capture_output=True, text=True, timeout=120)
    assert half.returncode != 0 and "needs both --tls-cert and --tls-key" in " ".join(half.stderr.split())
    wrong = subprocess.run([*base, "--tls-key", str(key)], capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 1 and "KEY_VALUES_MISMATCH" in wrong.stderr, wrong.stderr
