"""Choosing a backend by name: `local` here; container backends register themselves."""

from __future__ import annotations

from collections.abc import Callable

from scanflow.run.backend import Backend, BackendError

BackendFactory = Callable[..., Backend]
_FACTORIES: dict[str, str] = {
    "local": "scanflow.run.local:LocalBackend",
    "docker": "scanflow.run.docker:DockerBackend",
    "swarm": "scanflow.run.swarm:SwarmBackend",
}


def register_backend(name: str, target: str) -> None:
    """Make ``--backend NAME`` build ``target`` ('package.module:Class')."""
    _FACTORIES[name] = target


def available_backends() -> list[str]:
    return sorted(_FACTORIES)


def make_backend(backend: str | Backend, max_parallel: int | None = None) -> Backend:
    if isinstance(backend, Backend):
        return backend
    if backend not in _FACTORIES:
        raise BackendError(f"unknown backend '{backend}'; choose one of: {', '.join(available_backends())}")
    import importlib

    module, _, attribute = _FACTORIES[backend].partition(":")
    factory: BackendFactory = getattr(importlib.import_module(module), attribute)
    return factory(max_parallel=max_parallel)
