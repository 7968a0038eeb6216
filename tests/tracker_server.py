"""Helpers for tests that start a real `scanflow tracker up`, over HTTP or HTTPS."""

from __future__ import annotations

import datetime
import ipaddress
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_http(url: str, process: subprocess.Popen, timeout: float = 90, cafile: Path | None = None) -> None:
    """Return once ``url`` answers; fail with the server's output if it exits first."""
    context = ssl.create_default_context(cafile=cafile) if cafile else None
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.stdout.read().decode()}")
        try:
            with urllib.request.urlopen(url, timeout=2, context=context):
                return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer in {timeout}s")


def start_tracker(*options: str, port: int, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`scanflow tracker up --port PORT OPTIONS` in a session of its own, output piped."""
    command = [sys.executable, "-m", "scanflow.cli", "tracker", "up", "--port", str(port), *options]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )


@contextmanager
def tracker_up(
    *options: str, host: str = "127.0.0.1", cafile: Path | None = None, **env: str
) -> Iterator[str]:
    """A running tracker's URI; stopped with Ctrl-C afterwards, which must end it cleanly."""
    port = free_port(host)
    scheme = "https" if cafile else "http"
    server = start_tracker("--host", host, *options, port=port, env=env)
    uri = f"{scheme}://{host}:{port}"
    try:
        wait_http(f"{uri}/health", server, cafile=cafile)
        yield uri
    finally:
        server.send_signal(signal.SIGINT)
        output = server.communicate(timeout=60)[0].decode()
    assert server.returncode == 0, output


def self_signed(folder: Path, *addresses: str) -> tuple[Path, Path]:
    """A certificate for ``addresses`` (default 127.0.0.1) signed by itself, and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "scanflow test tracker")])
    now = datetime.datetime.now(datetime.UTC)
    names = [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses or ("127.0.0.1",)]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "tracker.pem", folder / "tracker.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    cert_path.chmod(0o644)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


ADMIN_PASSWORD = "a-long-admin-secret"


@dataclass(frozen=True)
class GuardedServer:
    uri: str
    cert: Path  # the CA bundle that trusts it

    def client_env(self) -> dict[str, str]:
        """What a client sets to log in as its admin, trusting its certificate."""
        return {
            "MLFLOW_TRACKING_USERNAME": "admin",
            "MLFLOW_TRACKING_PASSWORD": ADMIN_PASSWORD,
            "MLFLOW_TRACKING_SERVER_CERT_PATH": str(self.cert),
        }


@contextmanager
def guarded_tracker(host: str, folder: Path) -> Iterator[GuardedServer]:
    """A shared server as companies run one: on ``host``, behind MLflow's passwords and HTTPS with a
    certificate of its own CA; its store in ``folder``."""
    cert, key = self_signed(folder, host)
    options = ("--auth", "basic", "--tls-cert", str(cert), "--tls-key", str(key))
    admin = {"MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD, "SCANFLOW_HOME": str(folder / ".scanflow")}
    with tracker_up(*options, host=host, cafile=cert, **admin) as uri:
        yield GuardedServer(uri, cert)


def host_address(docker_client) -> str:  # noqa: ANN001 - a docker.DockerClient
    """The host on the engine's default bridge: off loopback, yet reachable from every container."""
    return docker_client.networks.get("bridge").attrs["IPAM"]["Config"][0]["Gateway"]
