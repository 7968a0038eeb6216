"""`scanflow tracker up`: an MLflow server with its UI over the project's store.

The embedded SQLite store and artifact folder stay where they are, so runs
recorded before the server started are browsable at once.
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from scanflow.deploy.ports import LOOPBACK, port_taken, port_taken_message
from scanflow.home import Home
from scanflow.tls import TlsError, TlsFiles
from scanflow.track.store import prepare_store


class TrackerServerError(RuntimeError):
    """The tracking server cannot start."""


JOBS_VARIABLE = "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"
AUTH_CONFIG_VARIABLE = "MLFLOW_AUTH_CONFIG_PATH"
ADMIN_PASSWORD_VARIABLE = "MLFLOW_AUTH_ADMIN_PASSWORD"
SECRET_KEY_VARIABLE = "MLFLOW_FLASK_SERVER_SECRET_KEY"
ADMIN = "admin"
MIN_PASSWORD = 12  # MLflow's rule for passwords


def auth_environment(home: Home) -> dict[str, str]:
    """What MLflow's basic authentication needs, kept in the project folder.

    ``basic_auth.ini`` (written once; edit it to change the permission new
    users get) puts the users in ``basic_auth.db``; ``flask_secret_key`` holds
    the key of the UI's CSRF tokens, the same at every start. The first start
    creates the admin user ``admin`` with the password in
    ``MLFLOW_AUTH_ADMIN_PASSWORD``, which later starts do not need.
    """
    key = home.root / "flask_secret_key"
    if not key.exists():
        key.touch(mode=0o600)
        key.write_text(secrets.token_hex(32))
    secret = {SECRET_KEY_VARIABLE: key.read_text().strip()}
    if AUTH_CONFIG_VARIABLE in os.environ:
        return secret  # the user's own settings and users
    path = home.root / "basic_auth.ini"
    users = home.root / "basic_auth.db"
    if not users.exists() and len(os.environ.get(ADMIN_PASSWORD_VARIABLE, "")) < MIN_PASSWORD:
        raise TrackerServerError(
            f"the first start with --auth basic creates the admin user '{ADMIN}': set"
            f" {ADMIN_PASSWORD_VARIABLE} to its password ({MIN_PASSWORD} characters or more) and start again"
        )
    if not path.exists():
        path.write_text(
            "[mlflow]\n"
            "default_permission = READ\n"
            f"database_uri = sqlite:///{users}\n"
            f"admin_username = {ADMIN}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        )
    return {**secret, AUTH_CONFIG_VARIABLE: str(path)}


def server_command(
    home: Home,
    host: str,
    port: int,
    backend_store_uri: str | None = None,
    basic_auth: bool = False,
    tls: TlsFiles | None = None,
) -> list[str]:
    store = backend_store_uri or home.embedded_tracking_uri
    auth = ["--app-name", "basic-auth"] if basic_auth else []
    https = ["--uvicorn-opts", _uvicorn_options(tls)] if tls else []
    return [
        *_mlflow_executable(),
        "server",
        "--backend-store-uri",
        store,
        "--artifacts-destination",
        home.artifacts_dir.as_uri(),
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
        *auth,
        *https,
    ]


def _uvicorn_options(tls: TlsFiles) -> str:
    return f"--ssl-certfile {shlex.quote(str(tls.cert))} --ssl-keyfile {shlex.quote(str(tls.key))}"


def _mlflow_executable() -> list[str]:
    try:
        import flask  # noqa: F401
        import mlflow.server  # noqa: F401 - only present with the full `mlflow` package
    except ImportError:
        raise TrackerServerError(
            "the MLflow server is not installed: pip install 'scanflow[server]'"
        ) from None
    found = shutil.which(
        "mlflow", path=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    )
    return [found] if found else [sys.executable, "-m", "mlflow"]


def serve_tracker(
    home: Home,
    host: str = "127.0.0.1",
    port: int = 5000,
    backend_store_uri: str | None = None,
    basic_auth: bool = False,
    insecure: bool = False,
    jobs: bool = False,
    tls: TlsFiles | None = None,
) -> None:
    """Run the server in the foreground until Ctrl-C.

    Bound to loopback it needs no authentication; on any other address it
    requires MLflow's basic authentication (``basic_auth``) unless the caller
    says the network is trusted (``insecure``). MLflow's background job runner
    (``jobs``: GenAI scorers and the like) is off unless asked for: it adds
    some eight processes and over a GiB of memory to a server that browses runs.
    With ``tls`` it answers HTTPS only, so passwords do not cross the network in clear.
    """
    if host not in LOOPBACK and not (basic_auth or insecure):
        raise TrackerServerError(
            f"binding to {host} would expose every tracked run without authentication. Use --auth basic"
            " (MLflow's basic authentication: pip install 'mlflow[auth]'), put an authenticating proxy in"
            " front and pass --insecure, or keep the default 127.0.0.1."
        )
    if tls is not None:
        try:
            tls.check()
        except TlsError as error:
            raise TrackerServerError(str(error)) from None
    elif basic_auth and host not in LOOPBACK:
        print(
            f"Note: passwords reach http://{host}:{port} unencrypted; pass --tls-cert and --tls-key"
            " (or put a TLS proxy in front) unless the network is trusted.",
            flush=True,
        )
    if port_taken(host, port):  # MLflow would log the clash and exit 0 after our "UI on" line
        raise TrackerServerError(port_taken_message(host, port, fix="choose another with --port"))
    home.root.mkdir(parents=True, exist_ok=True)
    environment = {**(auth_environment(home) if basic_auth else {}), **os.environ}  # the user's own win
    if jobs:
        environment[JOBS_VARIABLE] = "true"
    else:
        environment.setdefault(JOBS_VARIABLE, "false")
    home.artifacts_dir.mkdir(parents=True, exist_ok=True)
    if backend_store_uri is None:
        prepare_store(home.embedded_tracking_uri)
    command = server_command(home, host, port, backend_store_uri, basic_auth, tls)
    scheme = "https" if tls else "http"
    address = f"{scheme}://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    print(f"Starting the MLflow server on {scheme}://{host}:{port} (store: {command[3]})…", flush=True)
    threading.Thread(target=_say_when_ready, args=(address, f"{scheme}://{host}:{port}"), daemon=True).start()
    code = _run_until_stopped(command, environment)
    if code is not None and code not in (0, -2, -15, 130, 143):
        raise TrackerServerError(f"the MLflow server exited with code {code}")


def _say_when_ready(address: str, shown: str, timeout: float = 300.0) -> None:
    """Print once the server answers: the UI is there to open from then on, not before."""
    import ssl

    own_server = ssl._create_unverified_context()  # noqa: S323 - our own child; its certificate may name another host
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(address + "/health", timeout=2, context=own_server):  # noqa: S310
                print(f"MLflow UI and API ready on {shown}; Ctrl-C stops it.", flush=True)
                return
        except OSError:
            time.sleep(0.25)


def _run_until_stopped(command: list[str], environment: dict[str, str], grace: float = 10.0) -> int | None:
    """Run the server and return its exit code; None when Ctrl-C stopped it.

    The server and the processes it starts (uvicorn, MLflow's job runners) lead
    a session of their own, stopped as a whole: by Ctrl-C here, or by the
    lifeline should this process be killed outright, so none is left holding
    the port.
    """
    from scanflow.run.leftovers import process_ref
    from scanflow.run.lifeline import Lifeline
    from scanflow.run.processes import kill_tree

    with Lifeline() as lifeline:
        server = subprocess.Popen(command, env=environment, start_new_session=True)
        if (ref := process_ref(server.pid)) is not None:
            lifeline.process_started(ref)
        try:
            return server.wait()
        except KeyboardInterrupt:
            kill_tree(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                kill_tree(server.pid, signal.SIGKILL)
                server.wait()
            return None
