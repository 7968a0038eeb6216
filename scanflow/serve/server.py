"""Running the service: one uvicorn process, or ``--workers N`` processes on one port.

With one worker the app runs in this process and a model that cannot be loaded
stops it with an error. With several, uvicorn starts the workers; they get the
config through ``SCANFLOW_SERVE_CONFIG`` and share their metrics through a
temporary ``PROMETHEUS_MULTIPROC_DIR``. The models are fetched once, here,
while the workers import; a wrong URI stops the whole server with one error.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanflow.deploy.ports import port_taken, port_taken_message
from scanflow.serve.config import CONFIG_VARIABLE, ServeConfig
from scanflow.serve.errors import ServeSetupError

if TYPE_CHECKING:
    from scanflow.serve.fetch import ModelFetch

log = logging.getLogger("scanflow.serve")
FETCHED_VARIABLE = "SCANFLOW_SERVE_FETCHED"  # the file where the parent hands its workers the models


def serve(config: ServeConfig | None = None, **options: Any) -> None:
    """Serve until Ctrl-C or SIGTERM; `ServeSetupError` when the service cannot start."""
    from scanflow.serve.fetch import start_fetch

    config = (config or ServeConfig(**options)).resolved()
    _check_tls(config)
    if port_taken(config.host, config.port):  # else the model loads first, then uvicorn only logs it
        fix = "choose another with --port (or SCANFLOW_SERVE_PORT)"
        raise ServeSetupError(port_taken_message(config.host, config.port, fix=fix))
    fetch = start_fetch(config)  # first: it reads the registry while the imports below run
    import uvicorn

    _configure_logging()
    _one_compute_thread()
    settings = {
        "host": config.host,
        "port": config.port,
        "log_level": "warning",
        "access_log": False,
        "timeout_graceful_shutdown": 30,
    }
    if config.tls is not None:
        settings.update(ssl_certfile=str(config.tls.cert), ssl_keyfile=str(config.tls.key))
    if config.workers == 1:
        failure: list[str] = []
        server: uvicorn.Server | None = None

        def stop(message: str) -> None:
            failure.append(message)
            if server is not None:
                server.should_exit = True

        from scanflow.serve.app import create_app

        try:
            app = create_app(config, on_fatal=stop, fetch=fetch)
        except BaseException:
            if fetch is not None:
                fetch.close()
            raise
        server = uvicorn.Server(uvicorn.Config(app, **settings))
        _announce(config)
        with _sigterm_ends_quietly():
            server.run()
        if failure:
            raise ServeSetupError(failure[0])
        return
    from scanflow.serve.metrics import MULTIPROCESS_VARIABLE

    # Fetched once, here, while the workers import; they wait for it, then load the downloads.
    failure: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="scanflow-metrics-") as metrics_dir:
            os.environ[MULTIPROCESS_VARIABLE] = metrics_dir
            os.environ[CONFIG_VARIABLE] = config.model_dump_json()
            if fetch is not None:
                handed_over = fetch.folder / "fetched.json"
                os.environ[FETCHED_VARIABLE] = str(handed_over)
                threading.Thread(
                    target=_hand_over, args=(fetch, handed_over, failure), name="scanflow-fetch", daemon=True
                ).start()
            _announce(config)
            with _sigterm_ends_quietly():
                uvicorn.run(
                    "scanflow.serve.server:app_from_environment",
                    factory=True,
                    workers=config.workers,
                    **settings,
                )
    finally:
        if fetch is not None:
            fetch.close()
    if failure:
        raise ServeSetupError(failure[0])


def _hand_over(fetch: ModelFetch, path: Path, failure: list[str]) -> None:
    """Give the workers the fetched models; when there are none to give, stop the server."""
    from scanflow.serve.fetch import HandedOver

    error = HandedOver.hand_over(fetch, path)
    if error is not None:
        failure.append(error)
        os.kill(os.getpid(), signal.SIGTERM)  # no worker can serve: shut them all down


class _Terminated(Exception):
    pass


@contextlib.contextmanager
def _sigterm_ends_quietly() -> Iterator[None]:
    """Exit 0 after a graceful shutdown on SIGTERM (uvicorn re-raises the signal once it is done)."""

    def terminated(signum: int, frame: Any) -> None:
        raise _Terminated

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    except _Terminated:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def app_from_environment() -> Any:
    """The app of one worker process (uvicorn's factory)."""
    from scanflow.serve.app import create_app
    from scanflow.serve.fetch import HandedOver

    _configure_logging()
    _end_with_supervisor()
    handed_over = os.environ.get(FETCHED_VARIABLE)
    fetch = HandedOver(Path(handed_over)) if handed_over else None
    return create_app(ServeConfig.from_environment(), load_first=True, fetch=fetch)


def _end_with_supervisor(poll: float = 1.0) -> None:
    """Shut this worker down gracefully once the process that started it is gone.

    uvicorn's workers do not watch their supervisor: when it is killed outright
    (``kill -9``, the OOM killer) they would go on serving, holding the port,
    with nobody left to stop them. A change of parent means it died.
    """
    supervisor = os.getppid()

    def watch() -> None:
        while os.getppid() == supervisor:
            time.sleep(poll)
        log.warning("the server's main process is gone: this worker (pid %d) stops", os.getpid())
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="scanflow-supervisor-watch", daemon=True).start()


def _check_tls(config: ServeConfig) -> None:
    """Refuse a certificate or key that cannot be used, before anything loads."""
    from scanflow.tls import TlsError

    if config.tls is not None:
        try:
            config.tls.check()
        except TlsError as error:
            raise ServeSetupError(str(error)) from None


def _announce(config: ServeConfig) -> None:
    what = config.model or f"the models of {config.rules}"
    workers = f"{config.workers} worker{'s' if config.workers > 1 else ''}"
    guard = "token required" if config.token else "no token"
    where = f"{config.scheme}://{config.host}:{config.port}"
    log.warning("serving %s on %s (%s, %s); Ctrl-C stops", what, where, workers, guard)


def _one_compute_thread() -> None:
    """One BLAS/OpenMP thread per server process, unless the environment says otherwise.

    Requests are small and parallelism comes from workers and concurrent
    requests; threaded BLAS on a one-row prediction only adds spinning threads
    that fight the server (and the other workers) for the cores.
    """
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")  # read when NumPy loads, after this; workers inherit it


def _configure_logging() -> None:
    logger = logging.getLogger("scanflow.serve")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s scanflow.serve: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
