"""Opening our SQL databases: SQLite by default, PostgreSQL by URL.

One place decides how a URL becomes an engine, so the label store and the
prediction-log source accept the same URLs: ``sqlite:///path.db``,
``postgresql://user@host/db`` (driven by psycopg 3).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event

from scanflow.extras import require


def normalise_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3, the driver the extra installs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets its folder, write-ahead logging and a busy timeout."""
    url = normalise_url(url)
    if url.startswith("postgresql+psycopg://"):
        require("psycopg", "interact", "a PostgreSQL database")
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(connection, record) -> None:  # noqa: ANN001
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the labeller's writes
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    return engine


def describe(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: say it as given
        return url
