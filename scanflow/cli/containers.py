"""Commands for running workflows in containers: build the images, export to Compose, look at a swarm."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

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


NamespaceOption = Annotated[
    str | None, typer.Option(help="namespace of every object (default: the one kubectl is set to)")
]
RegistryOption = Annotated[
    str | None,
    typer.Option(
        help="registry prefix of the image names, e.g. registry.example.com/team (pushed by the script)"
    ),
]
StorageClassOption = Annotated[
    str | None, typer.Option(help="storage class of the volume claims (default: the cluster's)")
]
AccessModeOption = Annotated[
    str, typer.Option(help="access mode of the run's volumes; ReadWriteMany lets steps run on several nodes")
]
DataSizeOption = Annotated[str, typer.Option(help="size of the run's data volume")]
TrackerSizeOption = Annotated[str, typer.Option(help="size of the tracker's store")]


@export_app.command("kubernetes")
def export_kubernetes(
    workflow: WorkflowFile = Path("."),
    output: Annotated[Path, typer.Option("--output", "-o", help="folder to write")] = Path("kubernetes"),
    namespace: NamespaceOption = None,
    registry: RegistryOption = None,
    storage_class: StorageClassOption = None,
    access_mode: AccessModeOption = "ReadWriteOnce",
    data_size: DataSizeOption = "1Gi",
    tracker_size: TrackerSizeOption = "1Gi",
) -> None:
    """Write Kubernetes manifests (tracker, one Job per step) and build contexts; run with `kubectl apply`."""
    from scanflow.deploy.kubernetes import JOBS_FILE, TRACKER_FILE
    from scanflow.deploy.kubernetes import export_kubernetes as write_kubernetes

    settings = dict(namespace=namespace, registry=registry, storage_class=storage_class)
    settings.update(access_mode=access_mode, data_size=data_size, tracker_size=tracker_size)
    exported = _export_to_cluster(workflow, output, write_kubernetes, settings)
    folder = escape(str(exported.folder))
    console.print(
        f"[dim]run: kubectl apply -f {folder}/{TRACKER_FILE} && kubectl apply -f {folder}/{JOBS_FILE}[/]"
    )
    console.print(f"[dim]run again: kubectl delete -f {folder}/{JOBS_FILE}, then apply it again[/]")


@export_app.command("argo")
def export_argo(
    workflow: WorkflowFile = Path("."),
    output: Annotated[Path, typer.Option("--output", "-o", help="folder to write")] = Path("argo"),
    namespace: NamespaceOption = None,
    registry: RegistryOption = None,
    storage_class: StorageClassOption = None,
    access_mode: AccessModeOption = "ReadWriteOnce",
    data_size: DataSizeOption = "1Gi",
    tracker_size: TrackerSizeOption = "1Gi",
) -> None:
    """Write an Argo Workflow (a DAG of the steps), the tracker's manifests and build contexts."""
    from scanflow.deploy.argo import WORKFLOW_FILE
    from scanflow.deploy.argo import export_argo as write_argo
    from scanflow.deploy.kubernetes import TRACKER_FILE

    settings = dict(namespace=namespace, registry=registry, storage_class=storage_class)
    settings.update(access_mode=access_mode, data_size=data_size, tracker_size=tracker_size)
    exported = _export_to_cluster(workflow, output, write_argo, settings)
    folder = escape(str(exported.folder))
    console.print(
        f"[dim]run: kubectl apply -f {folder}/{TRACKER_FILE} && argo submit {folder}/{WORKFLOW_FILE}[/]"
    )


def _export_to_cluster(workflow: Path, output: Path, write: Any, settings: dict[str, Any]) -> Any:
    """Run a Kubernetes or Argo export and report what it wrote; a bad setting is named first."""
    spec = load_workflow(workflow)
    from scanflow.deploy.kubernetes import BUILD_SCRIPT, KubernetesOptions
    from scanflow.extras import MissingExtraError
    from scanflow.run.backend import BackendError
    from scanflow.run.images import ImageBuilder

    try:
        options = KubernetesOptions(**settings)
        with console.status("Preparing wheels and build contexts…"):
            exported = write(spec, output, ImageBuilder(None, console.print), options)
    except (BackendError, ValueError, MissingExtraError) as error:
        raise fail(str(error), code=1) from None
    files = ", ".join(escape(str(path)) for path in exported.files)
    console.print(f"[green]✔[/] wrote {files} and {len(exported.images)} build contexts")
    console.print(f"[dim]build: {escape(str(output / BUILD_SCRIPT))}[/]")
    return exported


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
