"""A bad spec fails before anything runs, naming the problem, the node and the line."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from scanflow import Executor, SpecError, Workflow


def problems(text: str, write) -> list[str]:
    for name in ("a.py", "b.py", "requirements.txt"):
        write(name, "")
    with pytest.raises(SpecError) as caught:
        Workflow.from_yaml(write("wf.yaml", text))
    return [str(p) for p in caught.value.problems]


def test_unknown_dependency_names_node_line_and_suggestion(write) -> None:
    [message] = problems(
        """
        name: w
        nodes:
          - {executor: gather, file: a.py}
          - {executor: train, file: b.py, depends_on: [gahter]}
        """,
        write,
    )
    assert "wf.yaml:4:" in message
    assert "node 'train'" in message and "unknown dependency 'gahter'" in message
    assert "did you mean 'gather'?" in message


def test_dependency_on_a_node_inside_another_workflow_explains_the_scope(write) -> None:
    [message] = problems(
        """
        name: w
        nodes:
          - workflow: train
            nodes: [{executor: svm, file: a.py}]
          - {executor: evaluate, file: b.py, depends_on: [svm]}
        """,
        write,
    )
    assert "unknown dependency 'svm'" in message and "'train/svm'" in message


def test_cycle_is_printed_as_a_path(write) -> None:
    [message] = problems(
        """
        name: w
        nodes:
          - {executor: a, file: a.py, depends_on: [c]}
          - {executor: b, file: a.py, depends_on: [a]}
          - {executor: c, file: a.py, depends_on: [b]}
        """,
        write,
    )
    assert "dependency cycle: a -> c -> b -> a" in message


def test_a_step_depending_on_itself_is_one_problem(write) -> None:
    [message] = problems(
        """
        name: w
        nodes:
          - {executor: a, file: a.py, depends_on: [a]}
        """,
        write,
    )
    assert "node 'a': depends on itself" in message


def test_duplicate_names_among_siblings(write) -> None:
    [message] = problems(
        """
        name: w
        nodes:
          - {executor: a, file: a.py}
          - {executor: a, file: b.py}
        """,
        write,
    )
    assert "duplicate name 'a'" in message and "wf.yaml:4:" in message


def test_missing_script_file_with_a_close_match(write) -> None:
    [message] = problems(
        """
        name: w
        nodes:
          - {executor: a, file: aa.py}
        """,
        write,
    )
    assert "script 'aa.py' not found" in message and "did you mean 'a.py'?" in message


def test_a_folder_given_as_a_script_is_named_as_a_folder(write) -> None:
    write("steps/a.py", "")
    [message] = problems(
        """
        name: w
        nodes:
          - {executor: a, file: steps}
        """,
        write,
    )
    assert "script 'steps' is a folder" in message and "point 'file' at a file in it" in message


def test_missing_requirements_file(write) -> None:
    [message] = problems(
        """
        name: w
        nodes:
          - {executor: a, file: a.py, requirements: reqs.txt}
        """,
        write,
    )
    assert "requirements file 'reqs.txt' not found" in message


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ("{memory: 2Gx}", "memory must be a size like '2Gi'"),
        ("{cpu: -1}", "cpu"),
        ("{cpus: 2}", "unknown field 'cpus' in 'resources' (did you mean 'cpu'?)"),
    ],
)
def test_bad_resources(write, resources: str, expected: str) -> None:
    [message] = problems(
        f"""
        name: w
        nodes:
          - executor: a
            file: a.py
            resources: {resources}
        """,
        write,
    )
    assert expected in message and "node 'a'" in message and "wf.yaml:5:" in message


def test_unknown_field_with_did_you_mean(write) -> None:
    [message] = problems(
        """
        name: w
        nodes:
          - executor: a
            file: a.py
            paramters: {x: 1}
        """,
        write,
    )
    assert message.startswith(f"{write('x', '').parent / 'wf.yaml'}:5:5:")
    assert "unknown field 'paramters'" in message and "did you mean 'parameters'?" in message


def test_yaml_syntax_error_gives_line_and_column(write) -> None:
    [message] = problems(
        """
        name: w
        nodes:
          - executor: a
            file: [a.py
          - executor: b
        """,
        write,
    )
    assert "YAML syntax error" in message and "wf.yaml:5:" in message and "line 4" in message


def test_a_workflow_file_that_is_not_text_is_named(project) -> None:
    (project / "wf.yaml").write_bytes("name: w\nnodes: []\n".encode("utf-16"))  # saved by a Windows editor
    with pytest.raises(SpecError) as caught:
        Workflow.from_yaml(project / "wf.yaml")
    assert "workflow file" in str(caught.value) and "wf.yaml is not UTF-8 text (byte 0 is 0xff)" in str(
        caught.value
    )


def test_duplicate_yaml_keys_are_rejected(write) -> None:
    [message] = problems(
        """
        name: w
        nodes:
          - executor: a
            file: a.py
            file: b.py
        """,
        write,
    )
    assert "duplicate key 'file'" in message and "wf.yaml:5:" in message


def test_bad_timeout_and_function(write) -> None:
    found = problems(
        """
        name: w
        nodes:
          - {executor: a, file: a.py, timeout: 5 minutes}
          - {executor: b, function: not a function}
          - {executor: c}
          - {step: d}
        """,
        write,
    )
    text = "\n".join(found)
    assert "timeout: a duration must be seconds or text like '30s'" in text
    assert "function must look like 'package.module:function'" in text
    assert "give exactly one of 'file'" in text
    assert "a node needs 'executor: NAME' or 'workflow: NAME'" in text


def test_python_objects_fail_on_bad_values_at_once() -> None:
    with pytest.raises(SpecError, match="node 'a': resources.memory: memory must be a size"):
        Executor("a", function="m:f", resources={"memory": "lots"})
    with pytest.raises(SpecError, match="give exactly one of"):
        Executor("a")
    with pytest.raises(SpecError, match="unknown field 'dependson' \\(did you mean 'depends_on'\\?\\)"):
        Executor("a", file="a.py", dependson=["b"])
    with pytest.raises(SpecError, match="'a b' is not a valid name: use letters, digits"):
        Executor("a b", file="a.py")
    with pytest.raises(SpecError, match="item 0 is 'a': a node is an Executor"):
        Workflow("w", nodes=["a"])


def test_python_workflows_take_paths_nodes_and_functions_as_python_has_them(write, monkeypatch) -> None:
    write("doubling.py", "def double(n):\n    return {'doubled': 2 * n}\n")
    monkeypatch.syspath_prepend(str(Path.cwd()))  # as for a user's script next to its module
    doubling = importlib.import_module("doubling")

    first = Executor("first", function=doubling.double, parameters={"n": 2})
    second = Executor("second", file=Path("a.py"), depends_on=first)
    assert first.function == "doubling:double" and second.file == "a.py" and second.depends_on == ["first"]
    assert Workflow("w", nodes=first).nodes == [first]
    with pytest.raises(SpecError, match="not at the top level of its module"):
        Executor("inline", function=lambda: None)


def test_a_function_from_the_running_script_is_refused_with_the_fix() -> None:
    def main_function() -> None: ...

    main_function.__module__, main_function.__qualname__ = "__main__", "main_function"
    with pytest.raises(SpecError, match="defined in the script being run.*move it to a module"):
        Executor("a", function=main_function)


def test_python_workflows_are_validated_before_running(project) -> None:
    workflow = Workflow(
        "w", nodes=[Executor("a", file="missing.py"), Executor("b", function="m:f", depends_on=["z"])]
    )
    with pytest.raises(SpecError) as caught:
        workflow.run(track=False)
    assert len(caught.value.problems) == 2
    assert not (project / ".scanflow" / "runs").exists(), "nothing may start for an invalid spec"


def test_empty_workflow_is_rejected() -> None:
    with pytest.raises(SpecError, match="has no nodes"):
        Workflow("w", nodes=[Workflow("empty")]).validate_spec()
