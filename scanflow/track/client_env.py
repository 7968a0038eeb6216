"""How an MLflow client proves who it is and whom it trusts: settings MLflow reads from the environment.

Scanflow's own checks of a server read them as MLflow's client does, so a
check never refuses a server the client would accept. A step or service in a
container starts without the host's environment: when it talks to the user's
server itself, it gets these settings, and the certificate files they name.
"""

from __future__ import annotations

import base64
import os
import ssl
from dataclasses import dataclass, field
from pathlib import PurePosixPath

CREDENTIALS = ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
INSECURE_TLS = "MLFLOW_TRACKING_INSECURE_TLS"
SERVER_CERT = "MLFLOW_TRACKING_SERVER_CERT_PATH"  # the CA bundle that signed the server's certificate
CLIENT_CERT = "MLFLOW_TRACKING_CLIENT_CERT_PATH"  # a certificate (and key) the server asks clients for
CONTAINER_CERT_DIR = PurePosixPath("/run/scanflow/tracker-tls")


def authorization_header() -> dict[str, str]:
    """The Authorization header MLflow's client sends: basic credentials first, else a token."""
    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if user and password:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
    if token := os.environ.get("MLFLOW_TRACKING_TOKEN"):
        return {"Authorization": f"Bearer {token}"}
    return {}


def insecure_tls() -> bool:
    return os.environ.get(INSECURE_TLS, "").lower() in ("true", "1")


def tls_context() -> ssl.SSLContext:
    """TLS as MLflow's client has it: its CA bundle, its client certificate, or no check at all."""
    if insecure_tls():
        return ssl._create_unverified_context()  # noqa: S323 - the user asked for it, as MLflow's client does
    context = ssl.create_default_context(cafile=os.environ.get(SERVER_CERT) or None)
    if client := os.environ.get(CLIENT_CERT):
        context.load_cert_chain(client)
    return context


@dataclass(frozen=True)
class ContainerClient:
    """What a container needs to talk to the user's server as the host does."""

    environment: dict[str, str] = field(default_factory=dict)
    read_only_files: dict[str, str] = field(default_factory=dict)  # host path -> container path


def container_client() -> ContainerClient:
    """The host's credentials and TLS settings, with certificate files mounted read-only.

    The files keep their host permissions: a step running as the image's user
    reads only what everyone may read.
    """
    environment = {name: os.environ[name] for name in CREDENTIALS if os.environ.get(name)}
    if insecure_tls():
        environment[INSECURE_TLS] = "true"
    files: dict[str, str] = {}
    for variable, name in ((SERVER_CERT, "server-ca.pem"), (CLIENT_CERT, "client.pem")):
        if host_path := os.environ.get(variable):
            inside = str(CONTAINER_CERT_DIR / name)
            files[os.path.abspath(host_path)] = inside
            environment[variable] = inside
    return ContainerClient(environment, files)
