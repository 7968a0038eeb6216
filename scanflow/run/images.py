"""The image each step runs in: written as a Dockerfile, built through the Docker SDK, named by content.

A step's image is two images: a *dependency* image (base image + a virtualenv
installed from a host-prepared wheelhouse), shared by every step and workflow
asking for the same requirements, and a thin *code* image on top (Scanflow's
own package and the workflow's folder). A code-only change rebuilds only the
second, in seconds; an unchanged step is not built at all, because its tag is
the hash of everything that went in. Images run as a non-root user.

``image=`` uses a ready image and ``dockerfile=`` the user's own build; both
run the workflow's code from a read-only mount of its folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanflow.errors import first_line
from scanflow.graph import Step
from scanflow.run.backend import BackendError
from scanflow.run.build_context import BuildContext, code_files, scanflow_package
from scanflow.run.docker_engine import LABEL_KIND, LABEL_WORKFLOW, slug
from scanflow.run.envs import read_requirements, step_constraints
from scanflow.run.wheelhouse import REQUIREMENTS_FILE, Wheelhouse, WheelSet, python_tag
from scanflow.spec.executor import Executor

if TYPE_CHECKING:
    from docker import DockerClient

DEFAULT_BASE_IMAGE = "python:3.11-slim"
BASE_IMAGE_VARIABLE = "SCANFLOW_BASE_IMAGE"
STEP_USER = "10001:10001"
CODE_DIR = "/app"  # the workflow's folder inside an image
DATA_DIR = "/data"  # the run's data directory, the steps' working directory
NODES_DIR = "/scanflow/nodes"  # the run's per-step folders
PACKAGE_DIR = "/opt/scanflow/lib"  # holds Scanflow's own package
PYTHON = "/opt/scanflow/venv/bin/python"
_TEMPLATE_VERSION = "1"

_DEPS_DOCKERFILE = """\
FROM {base} AS wheels
USER root
LABEL {kind_label}=deps-build
RUN python3 -m venv /opt/scanflow/venv
COPY wheels /tmp/scanflow-wheels
RUN set -e; \\
    if ls /tmp/scanflow-wheels/*.whl >/dev/null 2>&1; then \\
      /opt/scanflow/venv/bin/pip install --quiet --no-index --no-deps --no-cache-dir \\
        --disable-pip-version-check /tmp/scanflow-wheels/*.whl; \\
    fi; \\
    site=$(/opt/scanflow/venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))'); \\
    echo {package_dir} > "$site/_scanflow.pth"

FROM {base}
USER root
RUN python3 -c "import sys; v='%d.%d' % sys.version_info[:2]; sys.exit(0 if v == '{python}' else \\
'the base image runs Python ' + v + ' but the wheels were prepared for Python {python}: choose a base \\
image with Python {python} (base_image= or {base_variable}) or run Scanflow under Python ' + v)" \\
 && mkdir -p {code_dir} {data_dir} {nodes_dir} /mlflow /home/scanflow {package_dir} \\
 && (grep -q '^scanflow:' /etc/passwd \\
     || echo 'scanflow:x:10001:10001::/home/scanflow:/bin/sh' >> /etc/passwd) \\
 && (grep -q '^scanflow:' /etc/group || echo 'scanflow:x:10001:' >> /etc/group) \\
 && chown 10001:10001 {data_dir} {nodes_dir} /mlflow /home/scanflow
COPY --from=wheels /opt/scanflow/venv /opt/scanflow/venv
ENV PATH=/opt/scanflow/venv/bin:$PATH VIRTUAL_ENV=/opt/scanflow/venv HOME=/home/scanflow \\
    PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 MLFLOW_DISABLE_TELEMETRY=true
WORKDIR {data_dir}
USER {user}
"""

_CODE_DOCKERFILE = """\
FROM {deps}
COPY scanflow {package_dir}/scanflow
COPY app {code_dir}
"""


class ImageError(BackendError):
    """An image could not be built or found; the message says what to do."""


Progress = Callable[[str], Any]


@dataclass(frozen=True)
class StepImage:
    """What a step runs in, and whether its code is inside the image or mounted."""

    tag: str
    code_mounted: bool = False  # True for image=/dockerfile=: the workflow folder is mounted at /app
    python: str = PYTHON


def default_base_image() -> str:
    return os.environ.get(BASE_IMAGE_VARIABLE) or DEFAULT_BASE_IMAGE


def step_dependencies(executor: Executor, base_dir: Path) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """The base image, requirements and version pins of a step's dependency image.

    Steps log to a tracker serving the host's MLflow, so a step asking for MLflow
    gets the host's version, as a local step environment does; ``SCANFLOW_CONSTRAINTS``
    pins apply here too.
    """
    requirements = tuple(read_requirements(executor.requirements, base_dir))
    return executor.base_image or default_base_image(), requirements, step_constraints(requirements)


class ImageBuilder:
    """Builds (or finds) the images of a workflow's steps, reporting each build step."""

    def __init__(
        self,
        client: DockerClient,
        progress: Progress,
        wheelhouse: Wheelhouse | None = None,
        show_steps: bool = False,
    ):
        self.client = client
        self.progress = progress
        self.show_steps = show_steps  # report every Dockerfile step, not only each image
        self.wheelhouse = wheelhouse or Wheelhouse()
        self._known: set[str] = set()

    # ---------------------------------------------------------------- steps
    def step_image(self, step: Step, base_dir: Path, workflow: str) -> StepImage:
        executor = step.executor
        if executor.image:
            self.ensure_present(executor.image, f"step '{step.key}'")
            return StepImage(executor.image, code_mounted=True, python="python3")
        if executor.dockerfile:
            return StepImage(self.dockerfile_image(step, base_dir, workflow), True, python="python3")
        base, requirements, constraints = step_dependencies(executor, base_dir)
        deps = self.deps_image(base, requirements, workflow, step.key, constraints)
        return StepImage(self.code_image(deps, base_dir, workflow))

    def deps_image(
        self,
        base: str,
        requirements: tuple[str, ...],
        workflow: str,
        owner: str = "",
        constraints: tuple[str, ...] = (),
    ) -> str:
        """The base image plus a virtualenv holding ``requirements``, installed from wheels."""
        context, tag = self.deps_context(base, requirements, owner, constraints)
        if not self._exists(tag):
            self.ensure_present(base, f"base image of {owner or 'the tracker'}")
        return self.ensure_built(context, tag, {LABEL_WORKFLOW: workflow, LABEL_KIND: "deps"}, owner)

    def deps_context(
        self, base: str, requirements: tuple[str, ...], owner: str = "", constraints: tuple[str, ...] = ()
    ) -> tuple[BuildContext, str]:
        """The build context of a dependency image and its content tag (wheels prepared first)."""
        wheels = WheelSet(requirements, constraints)
        if not self.wheelhouse.is_ready(wheels) and requirements:
            self.progress(f"preparing wheels for {owner or 'the tracker'}: {', '.join(requirements[:4])}")
        folder = self.wheelhouse.ensure(wheels, owner)
        context = BuildContext(
            _DEPS_DOCKERFILE.format(
                base=base,
                python=python_tag(),
                base_variable=BASE_IMAGE_VARIABLE,
                kind_label=LABEL_KIND,
                user=STEP_USER,
                code_dir=CODE_DIR,
                data_dir=DATA_DIR,
                nodes_dir=NODES_DIR,
                package_dir=PACKAGE_DIR,
            )
        )
        context.add_file(f"wheels/{REQUIREMENTS_FILE}", folder / REQUIREMENTS_FILE)
        context.add_tree("wheels", folder, ((p.name, p) for p in sorted(folder.glob("*.whl"))))
        return context, f"scanflow-deps:{context.digest(base, _TEMPLATE_VERSION)}"

    def code_image(self, deps: str, base_dir: Path, workflow: str) -> str:
        """``deps`` plus Scanflow's package and the workflow's folder."""
        context, tag = code_context(deps, base_dir, workflow)
        return self.ensure_built(context, tag, {LABEL_WORKFLOW: workflow, LABEL_KIND: "code"}, workflow)

    def dockerfile_image(self, step: Step, base_dir: Path, workflow: str) -> str:
        dockerfile = (base_dir / (step.executor.dockerfile or "")).resolve()
        if not dockerfile.is_file():
            raise ImageError(f"step '{step.key}': Dockerfile '{dockerfile}' not found")
        root = dockerfile.parent
        files = [(r, p) for r, p in code_files(root) if p != dockerfile]
        context = BuildContext(dockerfile.read_text())
        context.add_tree(".", root, files)
        context.entries = [(name.removeprefix("./"), path) for name, path in context.entries]
        tag = f"scanflow-{slug(workflow)}-{slug(step.key)}:{context.digest(_TEMPLATE_VERSION)}"
        return self.ensure_built(context, tag, {LABEL_WORKFLOW: workflow, LABEL_KIND: "dockerfile"}, step.key)

    # -------------------------------------------------------------- engine
    def ensure_built(self, context: BuildContext, tag: str, labels: dict[str, str], owner: str) -> str:
        """``tag`` built from ``context`` unless the engine has it already (tags name content)."""
        if not self._exists(tag):
            self._build(context, tag, labels, owner)
        return tag

    def _exists(self, tag: str) -> bool:
        if tag in self._known:
            return True
        from docker.errors import ImageNotFound

        try:
            self.client.images.get(tag)
        except ImageNotFound:
            return False
        self._known.add(tag)
        return True

    def ensure_present(self, image: str, who: str) -> None:
        """Find ``image`` on the engine, pulling it when a registry is reachable; else say how to get it."""
        if self._exists(image):
            return
        from docker.errors import DockerException

        self.progress(f"pulling {image} for {who}")
        try:
            self.client.images.pull(image)
        except DockerException as error:
            reason = first_line(error)[:200]
            raise ImageError(
                f"image '{image}' ({who}) is not on the Docker engine and could not be pulled ({reason}).\n"
                f"Build it (`docker build -t {image} .`), load it (`docker load -i FILE`), or, for a"
                f" Python base image on a machine without a registry, make one with"
                f" `scripts/make-base-image {image}`; or choose another image (base_image=, image=,"
                f" or {BASE_IMAGE_VARIABLE})."
            ) from None
        self._known.add(image)

    def _build(self, context: BuildContext, tag: str, labels: dict[str, str], owner: str) -> None:
        self.progress(f"building image {tag} for {owner}")
        current = ""  # the Dockerfile step being run
        output: list[str] = []
        with context.tar() as archive:
            stream = self.client.api.build(
                fileobj=archive,
                custom_context=True,
                tag=tag,
                labels=labels,
                rm=True,
                forcerm=True,
                pull=False,
                decode=True,
            )
            for chunk in stream:
                if "error" in chunk:
                    raise ImageError(_build_failure(tag, owner, current, output, chunk))
                text = chunk.get("stream", "")
                for line in text.splitlines():
                    if line.startswith("Step "):
                        current, output = line, []
                        if self.show_steps:
                            self.progress(f"  {line[:100]}")
                    elif line.strip():
                        output.append(line)
        self._known.add(tag)


def code_context(deps: str, base_dir: Path, workflow: str) -> tuple[BuildContext, str]:
    """The build context of a code image on ``deps`` and its content tag."""
    context = BuildContext(_CODE_DOCKERFILE.format(deps=deps, package_dir=PACKAGE_DIR, code_dir=CODE_DIR))
    context.add_tree("scanflow", scanflow_package())
    context.add_tree("app", base_dir)
    return context, f"scanflow-{slug(workflow)}:{context.digest(deps, _TEMPLATE_VERSION)}"


def standalone_context(deps: BuildContext, code: BuildContext) -> BuildContext:
    """One context building a code image from scratch (dependency stages, then the code layers)."""
    code_lines = code.dockerfile.split("\n", 1)[1]  # drop its FROM: it continues the deps stages
    merged = BuildContext(deps.dockerfile + code_lines)
    merged.entries = [*deps.entries, *code.entries]
    return merged


def _build_failure(tag: str, owner: str, step: str, output: list[str], chunk: dict[str, Any]) -> str:
    error = chunk.get("errorDetail", {}).get("message") or chunk["error"]
    tail = "\n".join(output[-20:]) or "(no output)"
    return (
        f"building image {tag} for {owner} failed at:\n  {step or '(before the first step)'}\n"
        f"output:\n{tail}\nerror: {error.strip()}"
    )


def build_images(workflow: Any, progress: Progress, show_steps: bool = False) -> dict[str, str]:
    """Build (or find) every image of a workflow and its tracker: step key -> image tag."""
    from scanflow.graph import Graph
    from scanflow.run.docker_engine import connect
    from scanflow.run.workflow_tracker import tracker_image

    builder = ImageBuilder(connect(), progress, show_steps=show_steps)
    graph = Graph.from_workflow(workflow)
    tags = {
        step.key: builder.step_image(step, graph.base_dir, workflow.name).tag
        for step in graph
        if step.deployment is None  # a deployment's image holds its model: built when it deploys
    }
    tags["(tracker)"] = tracker_image(builder, workflow.name)
    return tags
