"""Opening MLflow for Scanflow: the embedded SQLite store or a server, and our tag names.

MLflow is imported here, lazily, and only by code that really tracks: the CLI's
help, spec validation and step processes that do not log never pay its import.
"""

from __future__ import annotations

import fcntl
import sqlite3
import ssl
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanflow.home import Home, sqlite_file
from scanflow.track import client_env

if TYPE_CHECKING:
    from mlflow import MlflowClient

# Tags Scanflow puts on the runs it creates.
TAG_KIND = "scanflow.kind"  # "workflow" (a run of a whole workflow), "nested", "step"
TAG_RUN_ID = "scanflow.run_id"
TAG_WORKFLOW = "scanflow.workflow"
TAG_NODE = "scanflow.node"
TAG_STATUS = "scanflow.status"
TAG_REASON = "scanflow.reason"  # why a step failed, was skipped or cancelled
PARENT_TAG = "mlflow.parentRunId"


class TrackingError(RuntimeError):
    """The tracking store cannot be reached or used."""


def prepare_store(uri: str) -> None:
    """Make a SQLite store ready for concurrent writers; check a server answers.

    SQLite is switched to write-ahead logging, so steps logging to their runs do
    not block the scheduler's own writes (the setting is kept in the file).
    """
    path = sqlite_file(uri)
    if path is not None and path in _PREPARED:
        return
    if path is not None:
        _relax_sqlite_sync()
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with sqlite3.connect(path, timeout=30) as connection:
                connection.execute("PRAGMA journal_mode=WAL")
            _create_tables_once(path)
        except sqlite3.Error as error:
            raise TrackingError(f"cannot open the tracking database {path}: {error}") from None
        _PREPARED.add(path)
    else:
        require_reachable(uri)


_PREPARED: set[Path] = set()  # SQLite stores this process made ready


def _store_mark() -> int:
    """What a database's ``user_version`` holds once this MLflow created its tables (MLflow leaves it 0)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        mlflow = version("mlflow-skinny")
    except PackageNotFoundError:  # the full package alone
        mlflow = version("mlflow")
    return zlib.crc32(f"scanflow mlflow {mlflow}".encode()) & 0x7FFFFFFF


def _create_tables_once(path: Path) -> None:
    """Let one process create MLflow's tables; the others wait, then use them.

    MLflow migrates an empty database without a lock, so two first runs of a
    project started at the same moment interleave their migrations, and the
    store is left unusable (a half-made ``_alembic_tmp_`` table, a failed run).
    The mark in ``user_version`` makes the usual case one cheap read.
    """
    mark = _store_mark()
    if _marked(path, mark):
        return
    with _exclusive(path.with_name(path.name + ".lock")):
        if _marked(path, mark):  # another process made them while this one waited
            return
        with sqlite3.connect(path, timeout=30) as connection:
            _finish_interrupted_batch(connection)
        quiet_mlflow()
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        # Makes the tables, and the Default experiment with its artifacts beside the store: left to
        # MLflow, a first mlflow.log_artifact would choose ./mlruns of whatever folder it ran in.
        store = SqlAlchemyStore(f"sqlite:///{path}", (path.parent / "artifacts").as_uri())
        store.engine.dispose()
        with sqlite3.connect(path, timeout=30) as connection:
            connection.execute(f"PRAGMA user_version = {mark}")


def _marked(path: Path, mark: int) -> bool:
    with sqlite3.connect(path, timeout=30) as connection:
        return connection.execute("PRAGMA user_version").fetchone()[0] == mark


@contextmanager
def _exclusive(lock_file: Path) -> Iterator[None]:
    with open(lock_file, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _finish_interrupted_batch(connection: sqlite3.Connection) -> None:
    """Settle what a migration stopped midway left: SQLite alters a table by copying it to a temp one.

    The copy is dropped when the table is still there, else it is the table's data and takes its name.
    """
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for temp in sorted(t for t in tables if t.startswith("_alembic_tmp_")):
        original = temp.removeprefix("_alembic_tmp_")
        if original in tables:
            connection.execute(f'DROP TABLE "{temp}"')
        else:
            connection.execute(f'ALTER TABLE "{temp}" RENAME TO "{original}"')


def _relax_sqlite_sync() -> None:
    """In WAL mode, commit without an fsync each time (``synchronous=NORMAL``).

    MLflow commits several times per run it writes; with SQLite's default every
    commit waits for the disk. NORMAL keeps the database consistent after a
    crash and only risks the last commits on a power loss, the trade-off SQLite
    documents for WAL. The setting is per connection, so it is applied to each
    SQLite connection this process opens.
    """
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if event.contains(Engine, "connect", _on_connect):
        return
    event.listen(Engine, "connect", _on_connect)


def _on_connect(connection, record) -> None:  # noqa: ANN001 - SQLAlchemy's DBAPI objects
    if isinstance(connection, sqlite3.Connection):
        connection.execute("PRAGMA synchronous=NORMAL")


def require_reachable(uri: str) -> None:
    """A tracking server named by ``uri`` answers now, else `TrackingError`; other stores pass.

    MLflow's client retries a refused connection for minutes before it says so.
    """
    if uri.startswith(("http://", "https://")):
        check_server(uri)


def check_server(uri: str, timeout: float = 5.0) -> None:
    """The server answers, and lets in whoever MLflow's environment variables say we are."""
    url = uri.rstrip("/") + "/health"
    try:
        tls = client_env.tls_context()
    except (OSError, ssl.SSLError) as error:
        raise TrackingError(
            f"cannot use the TLS files MLflow's settings name ({error}): check"
            f" {client_env.SERVER_CERT} and {client_env.CLIENT_CERT}"
        ) from None
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=tls) as response:  # noqa: S310 - user's URI
            if response.status >= 400:
                raise TrackingError(f"the MLflow server at {uri} answered {response.status} on /health")
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise TrackingError(
                f"the MLflow server at {uri} has a certificate this machine does not trust"
                f" ({reason.verify_message}). Set MLFLOW_TRACKING_SERVER_CERT_PATH to the CA bundle that"
                " signed it, or, on a network you trust, MLFLOW_TRACKING_INSECURE_TLS=true."
            ) from None
        raise TrackingError(
            f"cannot reach the MLflow server at {uri} ({reason}). Start it (`scanflow tracker up`)"
            " or fix --tracking-uri / SCANFLOW_TRACKING_URI."
        ) from None
    _check_credentials(uri, timeout, tls)


def _check_credentials(uri: str, timeout: float, tls: ssl.SSLContext) -> None:
    """Refuse now what MLflow would refuse at every call: a server behind authentication.

    Without this a run would go on untracked, with a warning per call.
    """
    credentials = client_env.authorization_header()
    request = urllib.request.Request(
        uri.rstrip("/") + "/api/2.0/mlflow/experiments/search?max_results=1", headers=credentials
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=tls):  # noqa: S310 - user's URI
            return
    except urllib.error.HTTPError as error:
        if error.code not in (401, 403):
            return  # another trouble: MLflow's own calls name it
        given = "were refused" if credentials else "are needed"
        raise TrackingError(
            f"the MLflow server at {uri} answered {error.code}: credentials {given}. Set"
            " MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)"
            " to a user of that server."
        ) from None
    except (urllib.error.URLError, OSError):
        return  # it answered /health a moment ago; MLflow's own calls name what went wrong


def quiet_mlflow() -> None:
    """Import MLflow and keep its INFO chatter ("creating tables...") off our console."""
    import logging

    import mlflow  # noqa: F401 - MLflow sets its logger's level when imported

    logging.getLogger("mlflow").setLevel(logging.WARNING)


def open_client(uri: str) -> MlflowClient:
    if sqlite_file(uri) is not None:
        prepare_store(uri)  # once per process: the tables are made by one process at a time
    quiet_mlflow()
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def every_page(search: Callable[[str | None], Any]) -> Iterator[Any]:
    """Every result of an MLflow search, page after page: ``search(page_token)`` asks for one page."""
    token = None
    while True:
        page = search(token)
        yield from page
        token = page.token
        if not token:
            return


def artifact_location(home: Home, uri: str, experiment: str) -> str | None:
    """Where a new experiment keeps artifacts: under `.scanflow/` for the embedded store."""
    if sqlite_file(uri) is None:
        return None  # a server decides for itself
    return (home.artifacts_dir / experiment).as_uri()


@contextmanager
def tracked_run(client: MlflowClient, experiment_id: str, name: str, tags: dict[str, str]) -> Iterator[str]:
    """An MLflow run around a block, closed as FINISHED, FAILED or KILLED however the block ends."""
    run_id = client.create_run(experiment_id, run_name=name, tags=tags).info.run_id
    status = "FAILED"
    try:
        yield run_id
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        client.set_terminated(run_id, status=status)


def ensure_experiment(client: MlflowClient, name: str, location: str | None) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if experiment.lifecycle_stage == "deleted":
            client.restore_experiment(experiment.experiment_id)
        return experiment.experiment_id
    try:
        return client.create_experiment(name, artifact_location=location)
    except Exception:  # created meanwhile by a concurrent run
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id
