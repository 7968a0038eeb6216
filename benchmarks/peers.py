"""Peer tools in environments of their own, built with uv and cached between runs.

A peer never shares our environment: its pins must not decide ours (and ours not
its), so each gets a virtualenv under ``~/.cache/scanflow-bench/<name>``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

CACHE = Path(os.environ.get("SCANFLOW_BENCH_CACHE", Path.home() / ".cache" / "scanflow-bench"))


def peer_python(name: str, requirements: list[str], python: str = sys.executable) -> Path:
    """The interpreter of a cached environment holding ``requirements`` (built on first use)."""
    key = hashlib.sha256("\n".join([python, *requirements]).encode()).hexdigest()[:10]
    target = CACHE / f"{name}-{key}"
    interpreter = target / "bin" / "python"
    if (target / ".ready").is_file():
        return interpreter
    print(f"building the {name} environment ({', '.join(requirements)})...", file=sys.stderr, flush=True)
    uv = _uv()
    subprocess.run([uv, "venv", "--quiet", "--python", python, str(target)], check=True)
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(interpreter), *requirements],
        check=True,
        env={**os.environ, "UV_COMPILE_BYTECODE": "1"},
    )
    (target / ".ready").write_text("\n".join(requirements))
    return interpreter


def _uv() -> str:
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except ImportError:
        return "uv"
