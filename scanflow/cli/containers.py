"""Commands for running workflows in containers: build the images, export to Compose, look at a swarm."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from scanflow.cli.common import JsonOutput, WorkflowFile, console, fail, load_workflow, print_json

export_app = typer.Typer(help="Export a workflow as files other tools run.", no_args_is_help=True)
swarm_app = typer.Typer(help="Look at what Scanflow runs on a Docker Swarm.", no_args_is_help=True)


def build(
    workflow: WorkflowFile = Path("."),
    steps: Annotated[bool, typer.Option("--steps", help="show every Dockerfile step")] = False,
) -> None:
    """Build the container images of a workflow's steps and its tracker (cached by content)."""
    spec = load_workflow(workflow)
    from scanflow.run.backend import BackendError
    from scanflow.run.images import build_images

    try:
        with console.status("Building images…"):
            tags = build_images(spec, console.print, show_steps=steps)
    except BackendError as error:
        raise fail(str(error), code=1) from None
    for key, tag in tags.items():
        console.print(f"[green]✔[/] {key}: {tag}")


@export_app.command("compose")
def export_compose(
    workflow: WorkflowFile = Path("."),
    output: Annotated[Path, typer.Option("--output", "-o", help="folder to write")] = Path("compose"),
    tracker_port: Annotated[int, typer.Option(help="published port of the tracker")] = 5000,
    endpoint_mode: Annotated[str, typer.Option(help="Swarm service discovery: vip or dnsrr")] = "vip",
    publish_mode: Annotated[str, typer.Option(help="how the tracker port is published: ingress or host")] = (
        "ingress"
    ),
) -> None:
    """Write docker-compose.yml and build contexts; deploy with `docker stack deploy -c`."""
    spec = load_workflow(workflow)
    from scanflow.deploy.compose import ComposeOptions
    from scanflow.deploy.compose import export_compose as write_compose
    from scanflow.run.backend import BackendError
    from scanflow.run.images import ImageBuilder

    try:
        options = ComposeOptions(tracker_port, endpoint_mode, publish_mode)
        with console.status("Preparing wheels and build contexts…"):
            exported = write_compose(spec, output, ImageBuilder(None, console.print), options)
    except (BackendError, ValueError) as error:
        raise fail(str(error), code=1) from None
    compose_file = escape(str(exported.compose_file))
    contexts = len(set(exported.images.values()))
    console.print(f"[green]✔[/] wrote {compose_file} and {contexts} build contexts")
    console.print(f"[dim]build: scanflow build {escape(str(workflow))}[/]")
    console.print(f"[dim]deploy: docker stack deploy -c {compose_file} NAME[/]")


@swarm_app.command("status")
def swarm_status(
    workflow: Annotated[str | None, typer.Argument(help="workflow name; all when left out")] = None,
    as_json: JsonOutput = False,
) -> None:
    """Show the Swarm services of a workflow: trackers and running or finished step jobs."""
    import dataclasses

    from rich.table import Table

    from scanflow.run.backend import BackendError
    from scanflow.run.docker_engine import connect
    from scanflow.run.swarm import service_statuses

    try:
        rows = service_statuses(connect(), workflow)
    except BackendError as error:
        raise fail(str(error), code=1) from None
    if as_json:
        print_json([dataclasses.asdict(row) for row in rows])
        return
    if not rows:
        console.print("No Scanflow services on this swarm" + (f" for '{workflow}'." if workflow else "."))
        return
    table = Table(title="Scanflow services")
    for column in ("service", "workflow"):
        table.add_column(column, overflow="fold")  # every character kept: names are to be copied
    table.add_column("run", no_wrap=True, min_width=len("20261206-230201-0590"))
    for column in ("kind", "step", "mode", "tasks"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row.name, row.workflow, row.run_id, row.kind, row.step, row.mode, row.tasks)
    console.print(table)
