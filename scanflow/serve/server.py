"""Running the service: one uvicorn process, or ``--workers N`` processes on one port.

With one worker the app runs in this process and a model that cannot be loaded
stops it with an error. With several, uvicorn starts the workers; they get the
config through ``SCANFLOW_SERVE_CONFIG`` and share their metrics through a
temporary ``PROMETHEUS_MULTIPROC_DIR``, and the models are looked up in the
registry first so that a wrong URI fails here rather than in every worker.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

from scanflow.serve.config import CONFIG_VARIABLE, ServeConfig
from scanflow.serve.errors import ServeSetupError

log = logging.getLogger("scanflow.serve")
FETCHED_VARIABLE = "SCANFLOW_SERVE_FETCHED"  # the models the parent downloaded, for its workers


def serve(config: ServeConfig | None = None, **options: Any) -> None:
    """Serve until Ctrl-C or SIGTERM; `ServeSetupError` when the service cannot start."""
    config = (config or ServeConfig(**options)).resolved()
    if config.workers == 1:
        from scanflow.serve.fetch import start_fetch

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
    from scanflow.serve.fetch import FetchedModels, start_fetch
    from scanflow.serve.metrics import MULTIPROCESS_VARIABLE

    # Fetched once here, where a wrong URI fails before any worker starts; the workers load the downloads.
    fetch = start_fetch(config)
    try:
        fetched = fetch.result() if fetch is not None else None
        if fetched is None:
            _check_models(config)
        with tempfile.TemporaryDirectory(prefix="scanflow-metrics-") as metrics_dir:
            os.environ[MULTIPROCESS_VARIABLE] = metrics_dir
            os.environ[CONFIG_VARIABLE] = config.model_dump_json()
            os.environ[FETCHED_VARIABLE] = FetchedModels(fetched or {}).to_json()
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
    from scanflow.serve.fetch import FetchedModels

    _configure_logging()
    fetched = FetchedModels.from_json(os.environ.get(FETCHED_VARIABLE) or "{}")
    return create_app(ServeConfig.from_environment(), load_first=True, fetch=fetched)


def _check_models(config: ServeConfig) -> None:
    from scanflow.serve.registry import ModelSource, Registry
    from scanflow.serve.rules import RuleFile

    uris = [config.model] if config.model else list(RuleFile.read(config.rules).models.values())  # type: ignore[arg-type]
    registry = Registry(config.tracking_uri or "")
    for uri in uris:
        registry.resolve(ModelSource.parse(uri))


def _announce(config: ServeConfig) -> None:
    what = config.model or f"the models of {config.rules}"
    workers = f"{config.workers} worker{'s' if config.workers > 1 else ''}"
    guard = "token required" if config.token else "no token"
    log.warning(
        "serving %s on http://%s:%d (%s, %s); Ctrl-C stops", what, config.host, config.port, workers, guard
    )


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
