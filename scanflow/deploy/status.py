"""What a deployment looks like from outside: where it answers, what it serves, how many copies run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeploymentStatus:
    """One deployment, as `scanflow deploy status` lists it and `deploy` returns it."""

    name: str
    backend: str  # local, docker, swarm
    model: str  # the URI it was deployed from
    version: str  # the registry version it serves ("" when unknown or followed)
    state: str  # running, starting, updating, failed, stopped
    replicas: str  # "2/2": running of desired
    urls: tuple[str, ...] = ()  # where it answers from this host, one per published endpoint
    image: str = ""
    changed: bool = True  # False when `deploy` found it already as asked and left it alone

    @property
    def url(self) -> str:
        return self.urls[0] if self.urls else ""
