"""How a deployment is named and labelled on a Docker engine.

Everything a deployment creates (container, service, network) carries
``scanflow.deployment=<name>`` and ``scanflow.kind=deployment``, so listing and
removing touch only what Scanflow made; a deployment made by a workflow also
carries ``scanflow.workflow``. The labels also hold what was deployed, so
``scanflow deploy status`` reads everything from the engine.
"""

from __future__ import annotations

from scanflow.run.docker_engine import LABEL_KIND, LABEL_WORKFLOW, resource_name, slug

LABEL_DEPLOYMENT = "scanflow.deployment"
LABEL_MODEL = "scanflow.model"
LABEL_VERSION = "scanflow.model_version"
LABEL_CONFIG = "scanflow.config"  # hash of everything deployed: an unchanged deployment is left alone
KIND = "deployment"


def default_name(model_name: str) -> str:
    """A deployment's name when none is given: the model's, DNS-safe."""
    return slug(model_name)


def object_name(name: str) -> str:
    """The container, service and network name of deployment ``name``."""
    return resource_name("deploy", name)


def deployment_labels(
    name: str, model: str, version: str, config: str = "", workflow: str | None = None
) -> dict[str, str]:
    labels = {LABEL_DEPLOYMENT: name, LABEL_KIND: KIND, LABEL_MODEL: model, LABEL_VERSION: version}
    if config:
        labels[LABEL_CONFIG] = config
    if workflow:
        labels[LABEL_WORKFLOW] = workflow
    return labels


def deployment_filter(name: str | None = None) -> dict[str, list[str]]:
    """Docker ``filters`` selecting what deployment ``name`` (or every deployment) made."""
    return {
        "label": [LABEL_DEPLOYMENT if name is None else f"{LABEL_DEPLOYMENT}={name}", f"{LABEL_KIND}={KIND}"]
    }
