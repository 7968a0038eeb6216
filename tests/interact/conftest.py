"""Fixtures for the interact tests: real databases (SQLite, PostgreSQL by URL)."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

POSTGRES_VARIABLE = "SCANFLOW_TEST_POSTGRES_URL"


def unavailable(reason: str) -> None:
    """Skip a test whose service is missing here, but fail in CI, where it must be there."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI must provide it: see .ci/run)")
    pytest.skip(reason)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose tables land in a fresh schema, dropped afterwards."""
    url = os.environ.get(POSTGRES_VARIABLE)
    if not url:
        unavailable(f"no PostgreSQL server: set {POSTGRES_VARIABLE}=postgresql://user@host/db")
    from sqlalchemy import text

    from scanflow.database import make_engine

    schema = f"test_{secrets.token_hex(4)}"
    admin = make_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in url else "?"
    yield f"{url}{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:  # noqa: ANN001
    """Each database the store supports: a SQLite file, and PostgreSQL when available."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'labels.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One real MLflow store (SQLite) for the session: creating one costs seconds of migrations.

    Tests keep apart by using their own model and experiment names.
    """
    from scanflow.track.store import open_client, prepare_store

    uri = f"sqlite:///{_fast_folder(tmp_path_factory) / 'mlflow.db'}"
    prepare_store(uri)
    open_client(uri).search_experiments()  # creates the tables once
    return uri


def _fast_folder(factory: pytest.TempPathFactory) -> Path:
    """A folder in memory (/dev/shm) when there is one: MLflow's SQLite store syncs to disk a lot."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return Path(tempfile.mkdtemp(prefix="scanflow-test-mlflow-", dir=shm))
    return factory.mktemp("mlflow")
