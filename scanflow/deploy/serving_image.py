"""The image a docker or swarm deployment runs: Scanflow's server, the model's libraries and the model.

Built with the step images' machinery (`scanflow.run.images`): a dependency
image installed from the host's wheelhouse (Scanflow's core and ``serve``
requirements plus the model's own ``requirements.txt``), shared by every
deployment needing the same set, and a thin layer on top holding Scanflow's
package, the model's files and the checker files. Its tag is the hash of all
of it, so deploying an unchanged model builds nothing, and the container
needs no registry access. With ``follow`` the model's files stay out: the
service reads the model from the tracking server.

Inside, the service listens on port 8080 as the non-root user ``scanflow``,
and the image's health check asks ``/ready``.
"""

from __future__ import annotations

import importlib.metadata
import re
from dataclasses import dataclass
from pathlib import Path

from scanflow.deploy.errors import DeployError
from scanflow.deploy.model_source import ModelToServe
from scanflow.run.build_context import BuildContext, scanflow_package
from scanflow.run.docker_engine import LABEL_KIND, slug
from scanflow.run.envs import read_requirements
from scanflow.run.images import PACKAGE_DIR, ImageBuilder, default_base_image
from scanflow.run.wheelhouse import WheelhouseError
from scanflow.spec.deployment import Deployment

SERVICE_PORT = 8080  # the port inside every serving container
MODELS_DIR = "/opt/scanflow/models"  # the model at MODELS_DIR/<name>: the service calls it by that name
CHECKERS_DIR = "/opt/scanflow/checkers"
SERVE_HOME = "/home/scanflow/.scanflow"  # the prediction log's default home (the user's own folder)
_TEMPLATE_VERSION = "1"
_NOT_SERVED = {"uv"}  # Scanflow requirements a server never uses (uv builds step environments)
_MLFLOW = re.compile(r"^\s*(mlflow|mlflow-skinny)\s*(\[[^\]]*\])?\s*([=<>!~;@ ]|$)", re.IGNORECASE)

_SERVING_DOCKERFILE = """\
FROM {deps}
COPY scanflow {package_dir}/scanflow
{copies}\
ENV SCANFLOW_SERVE_HOST=0.0.0.0 SCANFLOW_SERVE_PORT={port} SCANFLOW_HOME={home} \\
    GIT_PYTHON_REFRESH=quiet MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT=true
EXPOSE {port}
HEALTHCHECK --interval=5s --timeout=4s --start-period=120s --retries=3 \\
    CMD python -c "import os, urllib.request as r; \\
r.urlopen('http://127.0.0.1:%s/ready' % os.environ.get('SCANFLOW_SERVE_PORT', '{port}'), timeout=3)"
ENTRYPOINT ["python", "-m", "scanflow.cli", "serve"]
CMD ["{model_dir}"]
"""


@dataclass(frozen=True)
class ServingImage:
    tag: str
    model_argument: str  # what the server is told to serve: the packed folder, or the URI it follows
    checker_arguments: tuple[str, ...]  # --checker values as the container sees them


def scanflow_requirements() -> list[str]:
    """What Scanflow's server needs: its core and ``serve`` requirements, with MLflow at the host's version.

    The server is tested against the MLflow client it runs with here; the
    same version reads the model the same way inside the image.
    """
    from packaging.requirements import Requirement

    try:
        declared = importlib.metadata.requires("scanflow") or []
    except importlib.metadata.PackageNotFoundError:
        raise DeployError(
            "Scanflow is not installed as a package, so its requirements are unknown:"
            " pip install 'scanflow[serve,docker]'"
        ) from None
    found = []
    for line in declared:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": "serve"}):
            continue
        if requirement.name in _NOT_SERVED:
            continue
        extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
        specifier = str(requirement.specifier)
        if requirement.name == "mlflow-skinny":
            specifier = f"=={importlib.metadata.version('mlflow-skinny')}"
        found.append(f"{requirement.name}{extras}{specifier}")
    return found


def serving_requirements(model: ModelToServe, extra: list[str], base_dir: Path) -> tuple[str, ...]:
    """Scanflow's server, the model's own requirements (its MLflow is Scanflow's), and ``extra``."""
    theirs = [line for line in model.requirements if not _MLFLOW.match(line)]
    added = read_requirements(extra, base_dir) if extra else []
    return tuple(dict.fromkeys([*scanflow_requirements(), *theirs, *added]))


def build_serving_image(
    builder: ImageBuilder, deployment: Deployment, model: ModelToServe, base_dir: Path, name: str
) -> ServingImage:
    """Build (or find) the serving image of ``model`` for ``deployment``."""
    requirements = serving_requirements(model, deployment.requirements, base_dir)
    owner = f"the serving image of '{name}'"
    try:
        deps = builder.deps_image(deployment.base_image or default_base_image(), requirements, name, owner)
    except WheelhouseError as error:
        raise DeployError(str(error)) from None
    copies: list[str] = []
    context = BuildContext("")
    context.add_tree("scanflow", scanflow_package())
    model_argument = f"{MODELS_DIR}/{slug(model.name)}"
    if deployment.follow:
        model_argument = deployment.model
    else:
        context.add_tree("model", model.folder)
        copies.append(f"COPY model {model_argument}\n")
    checkers = tuple(
        _pack_checker(value, index, base_dir, context) for index, value in enumerate(deployment.checkers)
    )
    if any(name.startswith("checkers/") for name, _ in context.entries):
        copies.append(f"COPY checkers {CHECKERS_DIR}\n")
    context.dockerfile = _SERVING_DOCKERFILE.format(
        deps=deps,
        package_dir=PACKAGE_DIR,
        copies="".join(copies),
        port=SERVICE_PORT,
        home=SERVE_HOME,
        model_dir=model_argument,
    )
    tag = f"scanflow-serve-{slug(model.name)}:{context.digest(deps, _TEMPLATE_VERSION)}"
    builder.ensure_built(context, tag, {LABEL_KIND: "serving"}, owner)
    return ServingImage(tag, model_argument, checkers)


def _pack_checker(value: str, index: int, base_dir: Path, context: BuildContext) -> str:
    """A checker file or saved folder goes into the image; module paths and registered names stay as given."""
    target, colon, attribute = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    path = Path(target).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if not path.exists():
        if target.endswith(".py"):
            raise DeployError(f"checker file '{target}' not found (paths are relative to {base_dir})")
        return value
    folder = f"checkers/{index}"
    if path.is_dir():
        context.add_tree(f"{folder}/{path.name}", path)
    else:
        context.add_file(f"{folder}/{path.name}", path)
    inside = f"{CHECKERS_DIR}/{index}/{path.name}"
    return f"{inside}:{attribute}" if colon else inside
