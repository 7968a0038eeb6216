"""A tracking server behind HTTPS with its own certificate authority, as in many companies.

Scanflow checks the server before a run starts; that check takes the TLS
settings MLflow's client takes (MLFLOW_TRACKING_SERVER_CERT_PATH,
MLFLOW_TRACKING_INSECURE_TLS), and names them when the certificate is not trusted.
"""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tracker_server import self_signed

from scanflow.track.store import TrackingError, check_server


class _Tracker(http.server.BaseHTTPRequestHandler):
    """Answers like an MLflow server: /health, and an empty experiment search."""

    def do_GET(self) -> None:  # noqa: N802 - the handler's name in http.server
        body = b"OK" if self.path == "/health" else b'{"experiments": []}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def https_tracker(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    cert, key = self_signed(tmp_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Tracker)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}", cert
    server.shutdown()


def test_an_untrusted_certificate_names_the_settings_that_trust_it(https_tracker, monkeypatch) -> None:
    uri, cert = https_tracker
    monkeypatch.delenv("MLFLOW_TRACKING_SERVER_CERT_PATH", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_INSECURE_TLS", raising=False)
    with pytest.raises(TrackingError, match="certificate this machine does not trust") as refused:
        check_server(uri)
    assert "MLFLOW_TRACKING_SERVER_CERT_PATH" in str(refused.value)
    monkeypatch.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", str(cert.with_name("moved.pem")))
    with pytest.raises(TrackingError, match="cannot use the TLS files .* MLFLOW_TRACKING_SERVER_CERT_PATH"):
        check_server(uri)  # a file that is not there is named, not a traceback
    monkeypatch.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", str(cert))
    check_server(uri)  # trusted through the CA bundle MLflow's client uses too
    monkeypatch.delenv("MLFLOW_TRACKING_SERVER_CERT_PATH")
    monkeypatch.setenv("MLFLOW_TRACKING_INSECURE_TLS", "true")
    check_server(uri)
