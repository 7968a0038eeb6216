"""Helpers the container tests share: writing workflow files, finding what a run left."""

from __future__ import annotations

import textwrap
from pathlib import Path


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def run_labels(client, run_id: str) -> dict[str, list]:
    """What of a run is still on the engine."""
    selected = {"label": [f"scanflow.run={run_id}"]}
    return {
        "containers": client.containers.list(all=True, filters=selected),
        "networks": client.networks.list(filters=selected),
        "services": client.services.list(filters=selected) if _is_swarm(client) else [],
    }


def _is_swarm(client) -> bool:
    return client.info().get("Swarm", {}).get("LocalNodeState") == "active"
