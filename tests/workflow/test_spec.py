"""Defining workflows in Python and YAML: the same objects, exact round trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanflow import Executor, Resources, Workflow
from scanflow.graph import Graph

DIGITS_YAML = """\
name: digits
nodes:
- executor: gather
  file: gather.py
  requirements: requirements.txt
- executor: preprocess
  file: preprocess.py
  depends_on: [gather]
- workflow: train
  parallel: true
  depends_on: [preprocess]
  nodes:
  - executor: svm
    file: train.py
    parameters: {model: svm, C: 10}
  - executor: forest
    file: train.py
    parameters: {model: forest}
- executor: evaluate
  file: evaluate.py
  depends_on: [train]
"""


@pytest.fixture
def scripts(write) -> None:
    for name in ("gather.py", "preprocess.py", "train.py", "evaluate.py", "requirements.txt"):
        write(name, "")


def python_digits() -> Workflow:
    return Workflow(
        name="digits",
        nodes=[
            Executor("gather", file="gather.py", requirements="requirements.txt"),
            Executor("preprocess", file="preprocess.py", depends_on=["gather"]),
            Workflow(
                "train",
                parallel=True,
                depends_on=["preprocess"],
                nodes=[
                    Executor("svm", file="train.py", parameters={"model": "svm", "C": 10}),
                    Executor("forest", file="train.py", parameters={"model": "forest"}),
                ],
            ),
            Executor("evaluate", file="evaluate.py", depends_on=["train"]),
        ],
    )


def test_python_and_yaml_definitions_are_the_same_workflow(scripts, write) -> None:
    from_yaml = Workflow.from_yaml(write("wf.yaml", DIGITS_YAML))
    assert from_yaml == python_digits()
    assert python_digits().to_yaml() == DIGITS_YAML


def test_yaml_round_trip_is_exact(scripts, write) -> None:
    loaded = Workflow.from_yaml(write("wf.yaml", DIGITS_YAML))
    assert loaded.to_yaml() == DIGITS_YAML
    again = Workflow.from_yaml_string(loaded.to_yaml())
    assert again == loaded


def test_every_field_survives_a_round_trip(write) -> None:
    write("step.py", "")
    workflow = Workflow(
        "full",
        description="all fields",
        env={"A": "1"},
        env_manager="current",
        nodes=[
            Executor(
                "step",
                file="step.py",
                parameters={"lr": 0.1, "layers": [1, 2], "flag": True},
                requirements=["numpy>=1.26"],
                env={"OMP_NUM_THREADS": "1"},
                python="3.11",
                resources=Resources(cpu=0.5, memory="512Mi", gpu=0),
                retries=2,
                retry_delay=0.5,
                timeout="5m",
                inputs=["in.csv"],
                outputs=["out/model.bin"],
                cache=True,
            ),
            Executor("fn", function="pkg.mod:train", depends_on=["step"]),
        ],
    )
    assert Workflow.from_yaml_string(workflow.to_yaml()) == workflow


def test_nested_workflows_flatten_with_edges_into_and_out_of_the_nest(scripts, write) -> None:
    graph = Graph.from_workflow(Workflow.from_yaml(write("wf.yaml", DIGITS_YAML)))
    assert list(graph.steps) == ["gather", "preprocess", "train/svm", "train/forest", "evaluate"]
    assert graph.steps["train/svm"].upstream == {"preprocess"}
    assert graph.steps["evaluate"].upstream == {"train/svm", "train/forest"}
    assert graph.steps["train/svm"].workflows == ("train",)
    assert graph.downstream("preprocess") == {"train/svm", "train/forest", "evaluate"}


def test_children_without_edges_run_in_written_order() -> None:
    workflow = Workflow("seq", nodes=[Executor(n, function="m:f") for n in "abc"])
    graph = Graph.from_workflow(workflow)
    assert graph.steps["b"].upstream == {"a"} and graph.steps["c"].upstream == {"b"}


def test_parallel_children_have_no_edges_between_them() -> None:
    workflow = Workflow("par", parallel=True, nodes=[Executor(n, function="m:f") for n in "abc"])
    assert all(not step.upstream for step in Graph.from_workflow(workflow))


def test_workflow_defaults_reach_every_executor_inside() -> None:
    workflow = Workflow(
        "outer",
        env={"LEVEL": "outer", "KEEP": "1"},
        env_manager="current",
        nodes=[
            Workflow(
                "inner", env={"LEVEL": "inner"}, nodes=[Executor("a", function="m:f", env={"OWN": "x"})]
            ),
            Executor("b", function="m:f", env_manager="uv"),
        ],
    )
    graph = Graph.from_workflow(workflow)
    assert graph.steps["inner/a"].executor.env == {"LEVEL": "inner", "KEEP": "1", "OWN": "x"}
    assert graph.steps["inner/a"].executor.env_manager == "current"
    assert graph.steps["b"].executor.env_manager == "uv"


def test_workflow_indexing_and_jupyter_picture() -> None:
    workflow = Workflow("w", nodes=[Workflow("inner", nodes=[Executor("a", function="m:f")])])
    assert workflow["inner/a"].name == "a"
    with pytest.raises(KeyError):
        workflow["nope"]
    svg = workflow._repr_svg_()
    assert svg.lstrip().startswith(("<svg", "<?xml")) and "inner" in svg


def test_numpy_parameters_become_plain_values_and_others_are_named() -> None:
    import numpy as np

    step = Executor(
        "a",
        file="a.py",
        parameters={"C": np.float64(0.5), "sizes": np.arange(3), "folder": Path("data/in"), "n": np.int64(7)},
    )
    assert step.parameters == {"C": 0.5, "sizes": [0, 1, 2], "folder": "data/in", "n": 7}
    assert type(step.parameters["n"]) is int
    text = Workflow("w", nodes=[step]).to_yaml()  # the run's workflow.yaml
    assert Workflow.from_yaml_string(text).nodes[0].parameters == step.parameters
    with pytest.raises(ValueError, match=r"parameter 'model'\['kernel'\] is of type 'object'"):
        Executor("a", file="a.py", parameters={"model": {"kernel": object()}})


def test_resources_parse_human_sizes() -> None:
    assert Resources(memory="2Gi").memory_bytes == 2 * 1024**3
    assert Resources(memory="512Mi").memory_bytes == 512 * 1024**2
    assert Resources(memory="1.5G").memory_bytes == 1_500_000_000
    assert Resources().cpu_request == 1.0
    assert Executor("t", function="m:f", timeout="1h30m").timeout_seconds == 5400


def test_scanflow_import_is_light() -> None:
    import subprocess
    import sys

    code = (
        "import scanflow, sys; print(sorted(m for m in ('pydantic', 'mlflow', 'yaml') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", "import scanflow must not import heavy libraries (steps import it to log)"


def test_example_workflow_is_valid() -> None:
    example = Path(__file__).parents[2] / "examples" / "digits" / "workflow.yaml"
    workflow = Workflow.from_yaml(example)
    assert [k for k in workflow.graph().steps] == [
        "gather",
        "preprocess",
        "train/svm",
        "train/forest",
        "train/logreg",
        "evaluate",
    ]


def test_the_readme_tour_yaml_is_what_its_python_writes(write) -> None:
    """The README promises `to_yaml()` writes its YAML example exactly."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    tour = readme[readme.index("## A five-minute tour") :]
    python = tour.split("```python\n", 1)[1].split("```", 1)[0]
    yaml_text = tour.split("```yaml\n", 1)[1].split("```", 1)[0]
    for name in ("gather.py", "preprocess.py", "train.py", "evaluate.py", "requirements.txt"):
        write(name, "")
    namespace: dict = {}
    exec(python.split("result = workflow.run()")[0], namespace)
    assert namespace["workflow"].to_yaml() == yaml_text
    assert Workflow.from_yaml(write("tour.yaml", yaml_text)) == namespace["workflow"]
