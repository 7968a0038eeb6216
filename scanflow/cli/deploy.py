"""`scanflow deploy`: models as prediction services on local, docker or swarm; their status; removal."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.text import Text
from typer.core import TyperGroup

from scanflow.cli.common import (
    HomeOption,
    JsonOutput,
    ServeToken,
    TrackingUri,
    console,
    fail,
    note,
    print_json,
    status_text,
)


class _DeployGroup(TyperGroup):
    """`scanflow deploy MODEL ...` deploys (the `up` command); `status` and `rm` are the others."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["up", *args]
        return super().parse_args(ctx, args)


deploy_app = typer.Typer(
    cls=_DeployGroup,
    help="Deploy a model as a prediction service: `scanflow deploy MODEL --backend docker|swarm`;"
    " `scanflow deploy status`, `scanflow deploy rm NAME`.",
    no_args_is_help=True,
)

DeployBackendOption = Annotated[
    str | None, typer.Option("--backend", "-b", help="local, docker or swarm (default: all, for status/rm)")
]


@deploy_app.command("up")
def deploy_up(
    model: Annotated[
        str, typer.Argument(help="MLflow model URI: models:/NAME@ALIAS, models:/NAME/VERSION, runs:/...")
    ],
    backend: Annotated[
        str, typer.Option("--backend", "-b", help="local (a background process), docker or swarm")
    ] = "local",
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="deployment name (default: the model's)")
    ] = None,
    replicas: Annotated[int, typer.Option("--replicas", "-r", min=1, help="copies (swarm)")] = 1,
    port: Annotated[int, typer.Option("--port", "-p", min=0, help="published port; 0 picks one")] = 8080,
    host: Annotated[
        str, typer.Option(help="address to publish on (local, docker); others need a token")
    ] = "127.0.0.1",
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="server processes per replica")] = 1,
    token: ServeToken = None,
    checker: Annotated[
        list[str] | None, typer.Option("--checker", help="live checker: FILE.py[:NAME], pkg.mod:NAME, saved")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", help="read the model from the tracking server and follow its alias")
    ] = False,
    follow_every: Annotated[
        float | None, typer.Option(min=0, help="seconds between registry looks for a moved alias")
    ] = None,
    endpoint_mode: Annotated[
        str | None, typer.Option(help="swarm service discovery: vip or dnsrr (SCANFLOW_SWARM_ENDPOINT_MODE)")
    ] = None,
    publish_mode: Annotated[
        str | None, typer.Option(help="swarm publishing: ingress or host (SCANFLOW_SWARM_PUBLISH_MODE)")
    ] = None,
    cpu: Annotated[
        float | None, typer.Option(help="CPU limit of each replica (default: one per worker)")
    ] = None,
    memory: Annotated[
        str | None,
        typer.Option(help="memory limit of each replica, e.g. 2Gi (default: 512Mi per worker + 512Mi)"),
    ] = None,
    log_db: Annotated[
        str | None, typer.Option(envvar="SCANFLOW_SERVE_LOG_DB", help="prediction log database URL")
    ] = None,
    log_keep: Annotated[
        str | None, typer.Option(help="delete logged predictions older than this: '30d' (default: keep all)")
    ] = None,
    network: Annotated[str | None, typer.Option(help="an existing Docker network to join as well")] = None,
    requirement: Annotated[
        list[str] | None, typer.Option("--requirement", help="another package for the image (repeat)")
    ] = None,
    ready_timeout: Annotated[str, typer.Option(help="how long the service may take to be ready")] = "5m",
    insecure: Annotated[
        bool, typer.Option("--insecure", help="expose the service beyond this machine without a token")
    ] = False,
    tracking_uri: TrackingUri = None,
    home: HomeOption = None,
) -> None:
    """Deploy MODEL and wait until it answers; deploying again updates it (rolling, on swarm)."""
    from scanflow.run.backend import BackendError
    from scanflow.run.docker_engine import slug
    from scanflow.spec.deployment import Deployment
    from scanflow.spec.errors import SpecError

    if name is None:
        from scanflow.serve.registry import ModelSource

        name = slug(ModelSource.parse(model).default_name) if model.strip() else "model"
    settings = {
        "model": model,
        "backend": backend,
        "replicas": replicas,
        "port": port,
        "host": host,
        "workers": workers,
        "checkers": checker or [],
        "follow": follow,
        "follow_every": follow_every,
        "endpoint_mode": endpoint_mode,
        "publish_mode": publish_mode,
        "resources": {"cpu": cpu, "memory": memory},
        "log_db": log_db,
        "log_keep": log_keep,
        "network": network,
        "requirements": requirement or [],
        "ready_timeout": ready_timeout,
        "insecure": insecure,
    }
    try:
        deployment = Deployment(name, **settings)
    except SpecError as error:
        raise fail("; ".join(problem.message for problem in error.problems)) from None
    try:
        status = deployment.deploy(
            token=token,
            tracking_uri=tracking_uri,
            home=home,
            progress=lambda m: console.print(f"[dim]{escape(m)}[/]"),
        )
    except (BackendError, ValueError) as error:
        raise fail(str(error), code=1) from None
    except KeyboardInterrupt:
        raise fail("cancelled; a new deployment that was not ready yet was removed", code=130) from None
    where = ", ".join(status.urls) or "(no published endpoint)"
    what = f"{status.model}" + (f" (version {status.version})" if status.version else "")
    verb = "is already up to date" if not status.changed else "is ready"
    console.print(
        f"[green]✔[/] [bold]{status.name}[/] ({status.backend}, {status.replicas} replicas) {verb} at {where}"
        f" serving {what}",
        highlight=False,
    )
    if status.image:
        console.print(f"[dim]image {status.image}; stop it with: scanflow deploy rm {status.name}[/]")


@deploy_app.command("status")
def deploy_status(
    name: Annotated[str | None, typer.Argument(help="deployment name; all when left out")] = None,
    backend: DeployBackendOption = None,
    as_json: JsonOutput = False,
    home: HomeOption = None,
) -> None:
    """List deployments: where they answer, what they serve, how many replicas run."""
    import dataclasses

    from rich.table import Table

    from scanflow.deploy.deployments import deployment_statuses
    from scanflow.run.backend import BackendError

    try:
        rows, notes = deployment_statuses(name, backend, home)
    except BackendError as error:
        raise fail(str(error), code=1) from None
    for message in notes:  # a backend that is not there: on stderr, away from a JSON document
        note(message)
    if as_json:
        skipped = ("changed",)  # about one `deploy` call, not the deployment
        print_json([{k: v for k, v in dataclasses.asdict(row).items() if k not in skipped} for row in rows])
        return
    if not rows:
        console.print("No deployments" + (f" named '{name}'." if name else "."))
        return
    backends = sorted({row.backend for row in rows})
    one_backend = len(backends) == 1  # named in the title, and the columns keep their room
    table = Table(title=f"Deployments ({backends[0]})" if one_backend else "Deployments")
    table.add_column("name", no_wrap=True)  # whole, to be copied into `deploy rm`
    if not one_backend:
        table.add_column("backend", no_wrap=True)
    table.add_column("state", no_wrap=True)  # and the replicas that answer, of those wanted
    table.add_column("model", overflow="fold")  # and the version it serves, when the URI does not say
    table.add_column("url", no_wrap=True, min_width=len("http://127.0.0.1:65535"))  # whole, to be copied
    for row in rows:
        state = f"{status_text(row.state if row.state != 'stopped' else 'failed')} {row.replicas}"
        model = Text(row.model)
        if row.version and not row.model.endswith(f"/{row.version}"):
            model.append(f" (v{row.version})", style="dim")
        backend = [] if one_backend else [row.backend]
        table.add_row(Text(row.name), *backend, state, model, "\n".join(row.urls))
    console.print(table)


@deploy_app.command("logs")
def deploy_logs(
    name: Annotated[str, typer.Argument(help="deployment name", show_default=False)],
    tail: Annotated[int | None, typer.Option("--tail", "-n", min=0, help="only the last N lines")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="keep printing until Ctrl-C")] = False,
    backend: DeployBackendOption = None,
    home: HomeOption = None,
) -> None:
    """Print what a deployment's server wrote (model loads and swaps, warnings, errors); -f follows."""
    import sys

    from scanflow.deploy.deployments import deployment_logs
    from scanflow.run.backend import BackendError

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    try:
        deployment_logs(name, write, backend, home, tail, follow)
    except (LookupError, BackendError) as error:
        raise fail(str(error), code=1) from None
    except KeyboardInterrupt:  # how -f ends
        raise typer.Exit(130) from None


@deploy_app.command("rm")
def deploy_rm(
    name: Annotated[str, typer.Argument(help="deployment name", show_default=False)],
    backend: DeployBackendOption = None,
    home: HomeOption = None,
) -> None:
    """Stop a deployment and remove what it made (container or service, network)."""
    from scanflow.deploy.deployments import remove_deployment
    from scanflow.run.backend import BackendError

    try:
        removed = remove_deployment(name, backend, home)
    except (BackendError, LookupError) as error:
        raise fail(str(error), code=1) from None
    console.print(f"[green]✔[/] removed {name} ({', '.join(removed)})")
