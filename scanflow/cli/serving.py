"""`scanflow serve`: a model as a prediction API. Also the entry point of the serving image."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scanflow.cli.common import HomeOption, ServeToken, TlsCert, TlsKey, TrackingUri, fail, https_files


def serve(
    model: Annotated[
        str | None,
        typer.Argument(help="MLflow model URI: models:/NAME@ALIAS, models:/NAME/VERSION, runs:/..., a path"),
    ] = None,
    rules: Annotated[
        Path | None,
        typer.Option("--rules", envvar="SCANFLOW_SERVE_RULES", help="rule file choosing among models"),
    ] = None,
    host: Annotated[
        str,
        typer.Option(envvar="SCANFLOW_SERVE_HOST", help="address to bind; 0.0.0.0 exposes it (use --token)"),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="SCANFLOW_SERVE_PORT", help="port to listen on")] = 8080,
    workers: Annotated[
        int, typer.Option("--workers", "-w", min=1, envvar="SCANFLOW_SERVE_WORKERS", help="server processes")
    ] = 1,
    token: ServeToken = None,
    checker: Annotated[
        list[str] | None,
        typer.Option(
            "--checker",
            envvar="SCANFLOW_SERVE_CHECKERS",
            help="live checker: FILE.py[:NAME], pkg.mod:NAME, saved",
        ),
    ] = None,
    check_window: Annotated[int, typer.Option(min=1, help="rows per checked window")] = 200,
    check_ert: Annotated[
        int, typer.Option(min=1, help="rows between false alarms on healthy traffic (saved checkers)")
    ] = 10_000,
    check_queue: Annotated[
        int, typer.Option(min=1, help="rows waiting to be checked before dropping")
    ] = 10_000,
    report_every: Annotated[
        float, typer.Option(min=0, help="seconds between logs of check results to the tracker (0: never)")
    ] = 30.0,
    follow_every: Annotated[
        float, typer.Option(min=0, help="seconds between registry looks for a moved alias (0: never)")
    ] = 10.0,
    log_db: Annotated[
        str | None,
        typer.Option(
            envvar="SCANFLOW_SERVE_LOG_DB", help="prediction log database URL (default: SQLite in .scanflow/)"
        ),
    ] = None,
    no_log: Annotated[bool, typer.Option("--no-log", help="do not log predictions")] = False,
    log_keep: Annotated[
        str | None,
        typer.Option(
            envvar="SCANFLOW_SERVE_LOG_KEEP",
            help="delete logged predictions older than this: '30d', '12h' (default: keep all)",
        ),
    ] = None,
    max_body_bytes: Annotated[int, typer.Option(min=1, help="largest request body accepted")] = 10
    * 1024
    * 1024,
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    tracking_uri: TrackingUri = None,
    home: HomeOption = None,
) -> None:
    """Serve a model as a prediction API: MLflow request formats, live checks, a prediction log."""
    try:
        from pydantic import ValidationError

        from scanflow.serve import ServeConfig, ServeSetupError
        from scanflow.serve import serve as run_service
        from scanflow.spec.quantities import parse_duration
    except ImportError as error:
        raise fail(
            f"serving needs the serve extra ({error.name} is missing): pip install 'scanflow[serve]'"
        ) from None
    https_files(tls_cert, tls_key)  # checked before anything loads
    try:
        keep_s = parse_duration(log_keep) if log_keep is not None else None
    except ValueError as error:
        raise fail(f"--log-keep: {error}") from None
    try:
        config = ServeConfig(
            model=model,
            rules=rules,
            host=host,
            port=port,
            workers=workers,
            token=token,
            checkers=checker or [],
            check_window=check_window,
            check_ert=check_ert,
            check_queue=check_queue,
            report_s=report_every,
            follow_s=follow_every,
            log_db=log_db,
            log_predictions=not no_log,
            log_keep_s=keep_s,
            max_body_bytes=max_body_bytes,
            tls_cert=tls_cert,
            tls_key=tls_key,
            tracking_uri=tracking_uri,
            home=home,
        )
    except ValidationError as error:
        raise fail("; ".join(e["msg"].removeprefix("Value error, ") for e in error.errors())) from None
    try:
        run_service(config)
    except ServeSetupError as error:
        raise fail(str(error), code=1) from None
    except KeyboardInterrupt:
        pass
