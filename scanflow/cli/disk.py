"""`scanflow cache`: what Scanflow keeps on disk, and pruning what has not been used for a while."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from scanflow.cli.common import HomeOption, JsonOutput, console, fail, print_json

if TYPE_CHECKING:
    from scanflow.run.disk import Kept

cache_app = typer.Typer(
    help="What Scanflow keeps on disk (environments, cached outputs, run folders, images); prune it."
)


def _docker() -> Any:
    """A client of the Docker engine, or None when there is none (then images are not looked at)."""
    from scanflow.run.backend import BackendError
    from scanflow.run.docker_engine import connect

    try:
        return connect(timeout=10)
    except BackendError:
        return None


def _everything(home: HomeOption, docker: Any, with_runs: bool = True) -> list[Kept]:
    from scanflow.home import Home
    from scanflow.run import disk

    project = Home.resolve(home)
    kept = disk.environments() + disk.step_outputs(project)
    if with_runs:
        kept += disk.run_folders(project)
    return kept + (disk.images(docker) if docker is not None else [])


def _day(stamp: float) -> str:
    return datetime.datetime.fromtimestamp(stamp).strftime("%Y-%m-%d") if stamp else "-"


@cache_app.callback(invoke_without_command=True)
def cache_list(ctx: typer.Context, as_json: JsonOutput = False, home: HomeOption = None) -> None:
    """How much each kind takes, and when its least recently used item was last used."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    from scanflow.home import Home, env_cache_dir
    from scanflow.run.disk import ENVIRONMENT, IMAGE, RUN, STEP_OUTPUT
    from scanflow.spec.quantities import format_bytes

    docker = _docker()
    kept = _everything(home, docker)
    if as_json:
        print_json(
            [
                {
                    "kind": k.kind,
                    "where": k.where,
                    "bytes": k.size,
                    "last_used": k.last_used,
                    "busy": k.busy,
                }
                for k in kept
            ]
        )
        return
    table = Table(title="Kept on disk")
    for column in ("kind", "count", "size", "least recently used"):
        table.add_column(column, no_wrap=True)
    table.add_column("where", overflow="fold")
    project = Home.resolve(home)
    places = {
        ENVIRONMENT: str(env_cache_dir()),
        STEP_OUTPUT: str(project.cache_dir),
        RUN: str(project.runs_dir),
        IMAGE: "the Docker engine",
    }
    for kind, where in places.items():
        if kind == IMAGE and docker is None:
            continue
        items = [k for k in kept if k.kind == kind]
        oldest = min((k.last_used for k in items), default=0.0)
        table.add_row(
            f"{kind}s", str(len(items)), format_bytes(sum(k.size for k in items)), _day(oldest), where
        )
    console.print(table)
    console.print("[dim]`scanflow cache prune` removes what has not been used for 30 days[/]")
    if docker is None:
        console.print("[dim]no Docker engine answered: images not listed[/]")


@cache_app.command("prune")
def cache_prune(
    older_than: Annotated[
        str, typer.Option("--older-than", help="remove what was last used longer ago than this: '30d', '12h'")
    ] = "30d",
    runs: Annotated[
        bool, typer.Option("--runs", help="also run folders (data and logs: such a run cannot be resumed)")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only say what would be removed")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
    home: HomeOption = None,
) -> None:
    """Remove environments, cached step outputs, images (and, with --runs, run folders) unused for a while."""
    from scanflow.run import disk
    from scanflow.spec.quantities import format_bytes, parse_duration

    try:
        seconds = parse_duration(older_than)
    except ValueError as error:
        raise fail(f"--older-than: {error}") from None
    docker = _docker()
    doomed = disk.prunable(_everything(home, docker, with_runs=runs), seconds)
    if not doomed:
        console.print(f"Nothing unused for longer than {older_than}.")
        return
    kinds = sorted({k.kind for k in doomed})
    parts = [f"{sum(k.kind == kind for k in doomed)} {kind}(s)" for kind in kinds]
    total = format_bytes(sum(k.size for k in doomed))
    what = f"{', '.join(parts)} unused for longer than {older_than} ({total})"
    if dry_run:
        console.print(f"Would remove {what}:")
        for item in doomed:
            console.print(f"  {item.kind}  {item.where}  last used {_day(item.last_used)}", highlight=False)
        return
    if not yes and not typer.confirm(f"Remove {what}?", default=False):
        raise fail("nothing removed", code=1)
    freed = disk.remove(doomed, docker)
    console.print(f"[green]✔[/] removed {', '.join(parts)}; freed {format_bytes(freed)}")
