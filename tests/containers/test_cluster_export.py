"""`scanflow export kubernetes` and `export argo`: manifests a cluster accepts, in the workflow's order.

No cluster can run here, so every object is checked against Kubernetes' own
strict schemas (and Argo's models, which Hera generates from Argo's API); the
run itself is in test_cluster_export_run.py, on a real Docker engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from container_helpers import write, write_pipeline
from typer.testing import CliRunner

from scanflow.cli import app
from scanflow.run.build_context import GENERATED_MARKER

runner = CliRunner()
KUBERNETES_VERSION = "1.37.0"


def export(kind: str, *arguments: str):  # noqa: ANN201
    return runner.invoke(app, ["export", kind, *arguments])


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def flat(text: str) -> str:
    return " ".join(text.split())


def test_kubernetes_manifests_pass_the_strict_schemas_and_wait_for_upstream_steps(project: Path) -> None:
    pipeline = write_pipeline(project)
    result = export(
        "kubernetes",
        str(pipeline),
        "-o",
        "k8s",
        "--namespace",
        "ml",
        "--registry",
        "registry.example.com/team/",
    )
    assert result.exit_code == 0, result.output
    folder = project / "k8s"
    tracker, jobs = documents(folder / "tracker.yaml"), documents(folder / "jobs.yaml")
    for doc in tracker + jobs:  # unknown or misspelt fields and wrong types fail here
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        assert doc["metadata"]["namespace"] == "ml"

    service = by_kind(tracker, "Service")["tracker-pipe"]
    deployment = by_kind(tracker, "Deployment")["tracker-pipe"]
    assert deployment["spec"]["template"]["metadata"]["labels"].items() >= service["spec"]["selector"].items()
    claims = set(by_kind(tracker + jobs, "PersistentVolumeClaim"))
    assert claims == {"scanflow-pipe-tracker", "scanflow-pipe-data", "scanflow-pipe-nodes"}

    job_list = by_kind(jobs, "Job")
    assert set(job_list) == {"scanflow-pipe-make", "scanflow-pipe-train", "scanflow-pipe-double"}
    pods = {
        name.removeprefix("scanflow-pipe-"): job["spec"]["template"]["spec"] for name, job in job_list.items()
    }
    for pod in pods.values():
        assert pod["restartPolicy"] == "Never"
        assert {v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]} <= claims
        env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
        assert env["MLFLOW_TRACKING_URI"] == "http://tracker-pipe:5000"  # the Service, by its name
    train_script = pods["train"]["containers"][0]["command"][2]
    assert "until [ -f /scanflow/nodes/make/.done ]" in train_script  # train depends_on make
    assert "/scanflow/nodes/" not in pods["make"]["containers"][0]["command"][2].split("mkdir")[0]

    images = {
        c["image"]
        for doc in jobs + tracker
        if doc["kind"] in ("Job", "Deployment")
        for c in doc["spec"]["template"]["spec"]["containers"]
    }
    assert all(image.startswith("registry.example.com/team/scanflow-") for image in images)
    script = (folder / "build-images.sh").read_text()
    for image in images:  # each image is built from a context in the folder, then pushed
        built = next(line for line in script.splitlines() if line.startswith(f"docker build -t {image} "))
        assert (folder / built.split()[-1] / "Dockerfile").is_file()
        assert f"docker push {image}" in script
    assert (folder / "build-images.sh").stat().st_mode & 0o111


def test_argo_workflow_is_a_dag_of_the_steps_that_argos_models_accept(project: Path) -> None:
    write(project, "step.py", "print('hi')\n")
    workflow = write(
        project,
        "wf.yaml",
        """\
        name: fan
        nodes:
          - executor: prepare
            file: step.py
          - workflow: models
            parallel: true
            depends_on: [prepare]
            nodes:
              - executor: svm
                file: step.py
                retries: 2
                retry_delay: 3
                resources: {cpu: 1.5, memory: 1Gi, gpu: 1}
                placement: ["node.labels.pool==gpu"]
              - executor: forest
                file: step.py
          - executor: compare
            file: step.py
            depends_on: [models]
        """,
    )
    result = export("argo", str(workflow), "-o", "argo", "--access-mode", "ReadWriteMany")
    assert result.exit_code == 0, result.output
    (argo,) = documents(project / "argo" / "workflow.yaml")
    assert (argo["apiVersion"], argo["kind"]) == ("argoproj.io/v1alpha1", "Workflow")
    assert_known_fields(argo)
    for doc in documents(project / "argo" / "tracker.yaml"):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)

    templates = {t["name"]: t for t in argo["spec"]["templates"]}
    tasks = {
        t["name"]: set(t.get("dependencies", []))
        for t in templates[argo["spec"]["entrypoint"]]["dag"]["tasks"]
    }
    assert tasks == {
        "prepare": set(),
        "models-svm": {"prepare"},
        "models-forest": {"prepare"},  # parallel siblings: no edge between them
        "compare": {"models-svm", "models-forest"},
    }
    svm = templates["models-svm"]
    assert svm["retryStrategy"]["limit"] == 2 and svm["retryStrategy"]["backoff"]["duration"] == "3s"
    assert svm["nodeSelector"] == {"pool": "gpu"}
    assert svm["container"]["resources"]["limits"] == {"cpu": "1.5", "memory": "1Gi", "nvidia.com/gpu": "1"}
    for name in tasks:  # Argo orders the steps: no container waits for markers
        assert "until [ -f" not in templates[name]["container"]["command"][2]
    (claim,) = argo["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data" and claim["spec"]["accessModes"] == ["ReadWriteMany"]


def assert_known_fields(document: dict[str, Any]) -> None:
    """Every key of ``document`` is a field of Argo's models, at every depth (Hera's accept more)."""
    from hera.workflows.models import Workflow

    unknown = list(_unknown_fields(Workflow, document, "Workflow"))
    assert not unknown, f"fields Argo does not know: {unknown}"


def _unknown_fields(model: Any, value: Any, where: str):  # noqa: ANN202
    import typing

    from pydantic import BaseModel

    if isinstance(model, type) and issubclass(model, BaseModel):
        if getattr(model, "model_fields", {}).keys() == {"root"}:  # a wrapped scalar such as Quantity
            yield from _unknown_fields(model.model_fields["root"].annotation, value, where)
            return
        if not isinstance(value, dict):
            return
        fields = {(field.alias or name): field for name, field in model.model_fields.items()}
        for key, item in value.items():
            if key not in fields:
                yield f"{where}.{key}"
            else:
                yield from _unknown_fields(fields[key].annotation, item, f"{where}.{key}")
        return
    for arg in typing.get_args(model):  # Optional[...], List[...], Dict[str, ...], Annotated[...]
        if isinstance(value, list) and typing.get_origin(model) in (list, typing.List):  # noqa: UP006
            for i, item in enumerate(value):
                yield from _unknown_fields(arg, item, f"{where}[{i}]")
            return
        if isinstance(value, dict) and typing.get_origin(model) in (dict, typing.Dict):  # noqa: UP006
            for key, item in value.items():
                yield from _unknown_fields(typing.get_args(model)[1], item, f"{where}.{key}")
            return
        yield from _unknown_fields(arg, value, where)


def test_the_field_check_finds_a_misspelt_field() -> None:
    document = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "x"}}
    document["spec"] = {
        "entrypoint": "main",
        "templates": [{"name": "main", "container": {"image": "x", "comand": []}}],
    }
    with pytest.raises(AssertionError, match=r"Workflow\.spec\.templates\[0\]\.container\.comand"):
        assert_known_fields(document)


@pytest.mark.parametrize(
    ("kind", "arguments", "nodes", "message"),
    [
        (
            "kubernetes",
            ["--namespace", "ML_Team"],
            "- {executor: a, file: a.py}",
            "namespace 'ML_Team' is not a Kubernetes name",
        ),
        (
            "argo",
            ["--access-mode", "ReadWriteSome"],
            "- {executor: a, file: a.py}",
            "access mode must be one of",
        ),
        (
            "kubernetes",
            ["--data-size", "lots"],
            "- {executor: a, file: a.py}",
            "data volume size 'lots' is not a size",
        ),
        (
            "kubernetes",
            [],
            "- {executor: a, file: a.py, placement: ['node.role==manager']}",
            "step 'a': placement 'node.role==manager' has no Kubernetes form",
        ),
        (
            "argo",
            [],
            "- {executor: a, file: a.py, parameters: {greeting: '{{hello}}'}}",
            "step 'a': its parameters or environment hold '{{'",
        ),
        ("kubernetes", [], "- {executor: a, image: 'busybox:1'}", "step 'a' uses its own image"),
    ],
)
def test_what_a_cluster_cannot_take_is_named_and_nothing_is_written(
    project: Path, kind: str, arguments: list[str], nodes: str, message: str
) -> None:
    write(project, "a.py", "print('a')\n")
    workflow = write(project, "wf.yaml", f"name: bad\nnodes:\n  {nodes}\n")
    result = export(kind, str(workflow), "-o", "out", *arguments)
    assert result.exit_code == 1, result.output
    assert message in flat(result.output)
    assert not (project / "out").exists()


def test_a_second_export_rewrites_its_own_folder_and_refuses_a_foreign_one(project: Path) -> None:
    write(project, "a.py", "print('a')\n")
    workflow = write(project, "wf.yaml", "name: again\nnodes:\n  - {executor: a, file: a.py}\n")
    assert export("kubernetes", str(workflow), "-o", "out").exit_code == 0
    assert (project / "out" / GENERATED_MARKER).is_file()
    again = export("kubernetes", str(workflow), "-o", "out", "--registry", "reg.example.com")
    assert again.exit_code == 0, again.output
    assert "reg.example.com/scanflow-" in (project / "out" / "jobs.yaml").read_text()

    mine = write(project, "mine/deploy.yaml", "kind: Pod\n")
    refused = export("argo", str(workflow), "-o", "mine")
    assert refused.exit_code == 1
    assert "'mine' is not empty and no earlier `scanflow export argo` wrote it" in flat(refused.output)
    assert mine.read_text() == "kind: Pod\n"
