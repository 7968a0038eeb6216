"""`Deployment`: a model served as a prediction API, as the last step of a workflow or on its own.

The same object is a workflow node (``- deployment: digits-api`` in YAML) and
what ``scanflow deploy`` builds from its flags, so a deployment written once
behaves the same from either. It names a model, where to serve it and how many
copies; the token that protects it is never part of the spec (specs are logged
to the tracker): it comes from ``SCANFLOW_SERVE_TOKEN`` or ``--token``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from scanflow.spec.executor import Executor, Node
from scanflow.spec.quantities import parse_duration
from scanflow.spec.resources import Resources

if TYPE_CHECKING:
    from scanflow.deploy.status import DeploymentStatus

DeployBackend = Literal["local", "docker", "swarm"]
EndpointMode = Literal["vip", "dnsrr"]
PublishMode = Literal["ingress", "host"]
DEPLOY_FUNCTION = "scanflow.deploy.step:deploy_node"  # what a Deployment runs as, outside the runner


class Deployment(Node):
    """Serve ``model`` with ``scanflow serve``: a background process, a container or a Swarm service.

    ``backend`` defaults to the run's backend for a workflow node (``local`` for
    ``scanflow deploy``). Docker and Swarm deployments run an image holding the
    model's files, so they need no registry access; ``follow: true`` serves the
    URI from the tracking server instead, hot-swapping when its alias moves.
    """

    model: str = Field(
        min_length=1, description="MLflow model URI: models:/NAME@ALIAS, models:/NAME/VERSION, runs:/..."
    )
    backend: DeployBackend | None = Field(default=None, description="local, docker or swarm")
    replicas: int = Field(default=1, ge=1, description="copies of the service (swarm)")
    port: int = Field(default=8080, ge=0, le=65535, description="published port; 0 picks a free one")
    host: str = Field(default="127.0.0.1", description="address the port is published on (local, docker)")
    workers: int = Field(default=1, ge=1, description="server processes per replica")
    checkers: list[str] = Field(default_factory=list, description="live checkers (scanflow serve --checker)")
    follow: bool = Field(default=False, description="read the model from the tracking server and follow it")
    follow_every: float | None = Field(default=None, ge=0, description="seconds between alias looks")
    tracking_uri: str | None = Field(default=None, description="registry to read the model from")
    log_db: str | None = Field(default=None, description="prediction log database URL")
    log_keep: str | float | None = Field(
        default=None, description="delete logged predictions older than this ('30d'); default: keep all"
    )
    network: str | None = Field(default=None, description="an existing Docker network to join as well")
    resources: Resources = Field(default_factory=Resources, description="limits of each replica")
    endpoint_mode: EndpointMode | None = Field(default=None, description="swarm: vip or dnsrr")
    publish_mode: PublishMode | None = Field(default=None, description="swarm: ingress or host")
    requirements: list[str] = Field(default_factory=list, description="more packages for the image")
    base_image: str | None = Field(default=None, description="image to build the serving image on")
    env: dict[str, str] = Field(default_factory=dict, description="environment variables of the service")
    ready_timeout: str | float = Field(default="5m", description="how long the service may take to be ready")
    insecure: bool = Field(default=False, description="allow exposing the service without a token")

    @field_validator("ready_timeout", "log_keep")
    @classmethod
    def _is_a_duration(cls, value: str | float | None) -> str | float | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("env", mode="before")
    @classmethod
    def _env_values_are_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _settings_fit_the_backend(self) -> Deployment:
        if self.replicas > 1 and self.backend in ("local", "docker"):
            raise ValueError(
                f"a {self.backend} deployment is one server: use 'workers' for more processes on one port,"
                " or backend 'swarm' for replicas"
            )
        if self.endpoint_mode == "dnsrr" and self.publish_mode == "ingress":
            raise ValueError(
                "endpoint mode dnsrr cannot publish through the routing mesh: set publish_mode 'host'"
            )
        return self

    @property
    def ready_seconds(self) -> float:
        return parse_duration(self.ready_timeout)

    def as_executor(self) -> Executor:
        """The step the scheduler sees, so retries, tracking and the console treat it as any step.

        The runner deploys such steps from the host (``scanflow.deploy.step``),
        never through a backend; the function named here only says so.
        """
        parameters: dict[str, Any] = {"model": self.model, "replicas": self.replicas, "port": self.port}
        if self.backend is not None:
            parameters["backend"] = self.backend
        return Executor(
            self.name,
            function=DEPLOY_FUNCTION,
            parameters=parameters,
            env_manager="current",
            depends_on=list(self.depends_on),
        )

    def deploy(self, **options: Any) -> DeploymentStatus:
        """Deploy now and wait until it answers; see ``scanflow.deploy.deployments.deploy``."""
        from scanflow.deploy.deployments import deploy

        return deploy(self, **options)
