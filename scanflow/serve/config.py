"""Everything a prediction service is started with, in one object.

The CLI fills it from flags (each also read from a ``SCANFLOW_SERVE_*``
environment variable), the Python API from keyword arguments; the server hands
it to its worker processes as JSON in ``SCANFLOW_SERVE_CONFIG``. So the same
service runs unchanged on a laptop, in a container or as a Swarm replica.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from scanflow.tls import TlsFiles

CONFIG_VARIABLE = "SCANFLOW_SERVE_CONFIG"
TOKEN_VARIABLE = "SCANFLOW_SERVE_TOKEN"
PREDICTIONS_DB = "predictions.db"


class ServeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = Field(
        None, description="MLflow model URI: models:/name@alias, models:/name/3, runs:/..., a path"
    )
    rules: Path | None = Field(None, description="rule file choosing among several models (instead of model)")
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    workers: Annotated[int, Field(ge=1)] = 1
    token: str | None = Field(
        None, description="bearer token every request but /health and /ready must carry"
    )
    tracking_uri: str | None = Field(
        None, description="MLflow tracking/registry URI (default: the project's store)"
    )
    home: Path | None = None
    follow_s: Annotated[float, Field(ge=0)] = 10.0
    checkers: list[str] = []
    check_window: Annotated[int, Field(ge=1)] = 200
    check_ert: Annotated[int, Field(ge=1)] = Field(
        10_000, description="rows between false alarms on healthy traffic (online calibration)"
    )
    check_queue: Annotated[int, Field(ge=1)] = 10_000
    report_s: Annotated[float, Field(ge=0)] = 30.0
    log_db: str | None = Field(
        None, description="prediction log database URL (default: SQLite in .scanflow/)"
    )
    log_predictions: bool = True
    log_keep_s: Annotated[float, Field(gt=0)] | None = Field(
        None, description="delete logged predictions older than this many seconds (default: keep all)"
    )
    log_probabilities: bool = True
    max_body_bytes: Annotated[int, Field(ge=1)] = 10 * 1024 * 1024
    tls_cert: Path | None = Field(None, description="PEM certificate to answer HTTPS with (with tls_key)")
    tls_key: Path | None = Field(None, description="PEM private key of tls_cert")

    @model_validator(mode="after")
    def _one_model_source(self) -> ServeConfig:
        if (self.model is None) == (self.rules is None):
            raise ValueError("give a model URI or a rule file (--rules), not both and not neither")
        TlsFiles.given(self.tls_cert, self.tls_key)  # a TlsError is a ValueError: one without the other
        return self

    @property
    def tls(self) -> TlsFiles | None:
        return TlsFiles.given(self.tls_cert, self.tls_key)

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @classmethod
    def from_environment(cls) -> ServeConfig:
        text = os.environ.get(CONFIG_VARIABLE)
        if not text:
            raise RuntimeError(f"{CONFIG_VARIABLE} is not set: start workers with scanflow.serve.serve()")
        return cls.model_validate_json(text)

    def resolved(self) -> ServeConfig:
        """The config with defaults that depend on the machine filled in (paths, URIs, token)."""
        from scanflow.home import Home

        home = Home.resolve(self.home)
        return self.model_copy(
            update={
                "home": home.root,
                "tracking_uri": home.tracking_uri(self.tracking_uri),
                "log_db": self.log_db or f"sqlite:///{home.root / PREDICTIONS_DB}",
                "token": self.token or os.environ.get(TOKEN_VARIABLE) or None,
                "rules": self.rules.resolve() if self.rules else None,
                "tls_cert": self.tls_cert.resolve() if self.tls_cert else None,
                "tls_key": self.tls_key.resolve() if self.tls_key else None,
            }
        )
