"""Steps that may call MLflow get their run before they start; the others do not wait for one."""

from __future__ import annotations

from pathlib import Path

from scanflow import Executor
from scanflow.graph import Step
from scanflow.track.live import wants_live_run


def live(write, **executor) -> bool:
    return wants_live_run(Step("s", Executor("s", **executor), ()), Path.cwd())


def test_code_that_imports_mlflow_directly_or_through_local_modules(write) -> None:
    write("plain.py", "import numpy\nprint('no tracking here')  # mlflow in a comment does not count\n")
    write("direct.py", "import mlflow\nmlflow.log_metric('a', 1)\n")
    write("fromimport.py", "from mlflow.sklearn import log_model\n")
    write("helpers/__init__.py", "")
    write("helpers/logging_tools.py", "import mlflow\n")
    write("indirect.py", "from helpers.logging_tools import something\n")
    write("chain_a.py", "import chain_b\n")
    write("chain_b.py", "import importlib\nimportlib.import_module('mlflow')\n")
    write("steps.py", "import chain_a\ndef train():\n    pass\n")
    assert not live(write, file="plain.py")
    assert live(write, file="direct.py")
    assert live(write, file="fromimport.py")
    assert live(write, file="indirect.py")
    assert live(write, file="chain_a.py")
    assert live(write, function="steps:train")


def test_requirements_asking_for_mlflow_count(write) -> None:
    write("plain.py", "print(1)\n")
    assert live(write, file="plain.py", requirements=["numpy", "mlflow-skinny>=3"])
    assert not live(write, file="plain.py", requirements=["numpy", "mlflowish-thing"])


def test_broken_or_missing_code_is_not_an_error(write) -> None:
    write("broken.py", "def (:\n")
    assert not live(write, file="broken.py")
    assert not live(write, file="missing.py")
    assert not live(write, function="not.installed.module:f")
