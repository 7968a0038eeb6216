"""modAL's environment: a virtualenv made with uv, cached in a folder the benchmark names.

modAL 0.4.2.1 breaks with scikit-learn 1.8 and newer, so it gets its own
environment with an older scikit-learn; the runner goes there as a subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PEER_REQUIREMENTS = ["modAL-python==0.4.2.1", "scikit-learn>=1.5,<1.8", "numpy<2.4", "scipy"]
DEFAULT_FOLDER = (
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "scanflow-bench" / "modal-env"
)


def ensure_environment(folder: Path = DEFAULT_FOLDER) -> Path:
    """The environment's Python, built once (a marker file lists what was installed)."""
    python = folder / "bin" / "python"
    marker = folder / "scanflow-requirements.json"
    if python.exists() and marker.exists() and json.loads(marker.read_text()) == PEER_REQUIREMENTS:
        return python
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    print(f"building modAL's environment in {folder} (once)...", file=sys.stderr, flush=True)
    subprocess.run([uv, "venv", "--quiet", "--clear", "--python", "3.11", str(folder)], check=True)
    subprocess.run([uv, "pip", "install", "--quiet", "--python", str(python), *PEER_REQUIREMENTS], check=True)
    marker.write_text(json.dumps(PEER_REQUIREMENTS))
    return python


def run_peer(*arguments: str, folder: Path = DEFAULT_FOLDER) -> dict:
    """Run modal_runner.py in modAL's environment (``curves DATASETS SEEDS`` or ``timing``)."""
    python = ensure_environment(folder)
    runner = Path(__file__).with_name("modal_runner.py")
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "peer.json"
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": ""}
        subprocess.run([str(python), str(runner), *arguments, str(out)], check=True, env=env)
        return json.loads(out.read_text())
