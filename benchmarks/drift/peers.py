"""The peer libraries, each in its own uv environment, run as subprocesses.

alibi-detect pins numpy < 2 and is BSL-licensed, so it can neither share our
environment nor be a dependency: it is only a yardstick. Environments are cached
under the benchmark's cache folder and reused by later runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

RUNNERS = Path(__file__).parent / "peer_runners"


@dataclass(frozen=True)
class Peer:
    name: str
    requirements: tuple[str, ...]
    runner: str
    torch: bool = False  # install the CPU build of torch with pip first (uv would fetch CUDA builds)


PEERS = {
    "alibi-detect": Peer(
        "alibi-detect", ("alibi-detect[torch]==0.13.0", "numpy<2"), "alibi_runner.py", torch=True
    ),
    "evidently": Peer("evidently", ("evidently==0.7.*", "pandas<3"), "evidently_runner.py"),
    "frouros": Peer("frouros", ("frouros==0.9.0",), "frouros_runner.py"),
}


def environment(peer: Peer, cache: Path, log) -> Path:  # noqa: ANN001
    """The peer's Python, building its environment on first use."""
    folder = cache / "envs" / peer.name
    python = folder / "bin" / "python"
    stamp = folder / "requirements.json"
    wanted = json.dumps(list(peer.requirements))
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    shutil.rmtree(folder, ignore_errors=True)
    log(f"building the {peer.name} environment in {folder} (once)")
    _run(["uv", "venv", "--quiet", "--seed", "--python", sys.executable, str(folder)])
    if peer.torch:
        _run([str(python), "-m", "pip", "install", "--quiet", "torch==2.13.0"])
    _run(["uv", "pip", "install", "--quiet", "--python", str(python), *peer.requirements])
    stamp.write_text(wanted)
    return python


def start(
    peer: Peer, python: Path, task: Path, out: Path, log_file: Path, trials: int | None = None
) -> subprocess.Popen:
    """Run the peer on one task file in the background; its results land in ``out``."""
    handle = open(log_file, "w")  # noqa: SIM115 - closed when the process is collected
    limit = [] if trials is None else [str(trials)]
    return subprocess.Popen(
        [str(python), str(RUNNERS / peer.runner), str(task), str(out), *limit],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"},
    )


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{' '.join(command[:4])}... failed:\n{result.stderr[-2000:]}")
