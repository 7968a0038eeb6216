"""Helpers of the serving tests: real `scanflow serve` processes, a PostgreSQL URL, polling."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

HERE = Path(__file__).parent
SCANFLOW = str(Path(sys.executable).parent / "scanflow")
READY_TIMEOUT_S = 120


@dataclass(frozen=True)
class Store:
    """The session's MLflow store and what is registered in it."""

    tracking_uri: str
    root: Path
    columns: list[str]
    x: list[list[float]]  # the digits, as JSON-ready rows
    y: list[int]
    expected_v1: list[int]  # predictions of digits/1 on x
    expected_v2: list[int]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A `scanflow serve` process on a loopback port."""

    def __init__(
        self,
        args: list[str],
        store: Store,
        workdir: Path,
        token: str | None = None,
        cafile: Path | None = None,
    ):
        self.port = free_port()
        self.url = f"{'https' if cafile else 'http'}://127.0.0.1:{self.port}"
        # The CA that trusts its certificate, for HTTPS.
        self.verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=cafile) if cafile else True
        self.workdir = workdir
        self.log_path = workdir / "server.log"
        self.token = token
        env = {**os.environ, "SCANFLOW_TRACKING_URI": store.tracking_uri, "PYTHONUNBUFFERED": "1"}
        env.pop("SCANFLOW_SERVE_TOKEN", None)
        command = [SCANFLOW, "serve", *args, "--port", str(self.port)]
        if token:
            command += ["--token", token]
        workdir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command, cwd=workdir, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def client(self, **options) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, verify=self.verify, **options)

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited with {self.process.returncode}:\n{self.logs()}")
            try:
                if httpx.get(self.url + "/ready", timeout=2, verify=self.verify).status_code == 200:
                    return time.monotonic() - started
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the server was not ready after {timeout} s:\n{self.logs()}")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


def checker(name: str) -> str:
    return f"{HERE / 'checkers.py'}:{name}"


def split_body(store: Store, start: int, count: int) -> dict:
    return {"dataframe_split": {"columns": store.columns, "data": store.x[start : start + count]}}


def wait_for(condition, timeout: float = 30, interval: float = 0.2, message: str = "condition"):
    """Poll until ``condition()`` returns something truthy; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message}")


def postgres_url() -> str | None:
    """The test PostgreSQL database; skips (fails on CI) when there is none."""
    url = os.environ.get("SCANFLOW_TEST_POSTGRES_URL")
    reason = None
    if not url:
        reason = "SCANFLOW_TEST_POSTGRES_URL is not set (.ci/run sets it after starting PostgreSQL)"
    else:
        try:
            import sqlalchemy

            engine = sqlalchemy.create_engine(url)
            with engine.connect():
                pass
            engine.dispose()
        except Exception as error:
            reason = f"PostgreSQL at SCANFLOW_TEST_POSTGRES_URL is not reachable: {error}"
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return url


def dumps(value) -> bytes:
    return json.dumps(value).encode()
