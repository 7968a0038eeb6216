"""Runs function steps (``function: "pkg.mod:fn"``) inside a step's interpreter.

This file is executed by path, never imported by Scanflow itself, and uses the
standard library only: it must start fast and work in any environment.

* ``--serve TASK_FD REPLY_FD``: a long-lived worker that reads one task per
  line and answers one line per task, on the file descriptors given. Used for steps in
  the current environment, so a function step costs no process start.
* ``--once TASK.json``: run a single task and exit with its code. Used for
  function steps in their own isolated environment.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
from typing import Any


def run_task(task: dict[str, Any]) -> int:
    """Call the task's function; return an exit code like a script would.

    ``env`` replaces the environment, or adds to it with ``inherit_env`` (in a
    container, whose image sets the rest).
    """
    if not task.get("inherit_env"):
        os.environ.clear()
    os.environ.update(task["env"])
    os.chdir(task["cwd"])
    for entry in reversed(task.get("sys_path", [])):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    parameters = task.get("parameters", {})
    try:
        function = _find(task["function"])
        _check_parameters(function, task["function"], parameters)
        result = function(**parameters)
        _save_result(result, task.get("result_path"))
        return 0
    except StepSetupError as problem:  # the workflow names what is not there: one line, no traceback
        print(f"error: {problem}", file=sys.stderr)
        return 1
    except SystemExit as stop:
        if stop.code is None or isinstance(stop.code, int):
            return stop.code or 0
        print(stop.code, file=sys.stderr)
        return 1
    except BaseException as error:  # the step's own error: report it in its log, as Python would
        _print_user_traceback(error)
        return 1
    finally:
        _end_mlflow_run()
        sys.stdout.flush()
        sys.stderr.flush()


def _print_user_traceback(error: BaseException) -> None:
    """The traceback from the step's own code on: this worker's and importlib's frames say nothing."""
    tb = error.__traceback__
    while tb is not None and _is_machinery(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    traceback.print_exception(type(error), error, tb or error.__traceback__)


def _is_machinery(filename: str) -> bool:
    machinery = os.path.dirname(importlib.__file__)
    return filename == __file__ or filename.startswith(("<frozen importlib", machinery + os.sep))


class StepSetupError(Exception):
    """The function named by the workflow cannot be found or called with its parameters."""


def _find(target: str) -> Any:
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as missing:
        if missing.name is None or not module_name.startswith(missing.name):
            raise  # a module the step's own code imports: the step's error, with its traceback
        raise StepSetupError(
            f"function {target!r}: no module named {missing.name!r} next to the workflow file or in"
            " the step's environment; check the module path before ':', or add the package that"
            " provides it to the step's requirements"
        ) from None
    function = getattr(module, attribute, None)
    if function is None:
        where = getattr(module, "__file__", None) or module_name
        found = sorted(
            name
            for name, value in vars(module).items()
            if callable(value)
            and not name.startswith("_")
            and getattr(value, "__module__", None) == module_name
        )
        offer = f"; it defines {', '.join(found)}" if found else ""
        raise StepSetupError(f"function {target!r}: {where} has no {attribute!r}{offer}")
    if not callable(function):
        raise StepSetupError(
            f"function {target!r}: {attribute!r} is not a function (it is {type(function).__name__})"
        )
    return function


def _check_parameters(function: Any, target: str, parameters: dict[str, Any]) -> None:
    """Refuse parameters the function cannot take before calling it, naming both sides."""
    import inspect  # only here: the worker must start fast

    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # a builtin without a signature: let the call decide
        return
    try:
        signature.bind(**parameters)
    except TypeError as mismatch:
        raise StepSetupError(
            f"function {target!r} takes {signature}, which does not fit the step's parameters"
            f" {sorted(parameters) or '(none)'}: {mismatch}; change 'parameters' in the workflow"
            " or the function's arguments"
        ) from None


def _save_result(result: Any, path: str | None) -> None:
    if result is None or path is None:
        return
    try:
        text = json.dumps(result, default=_plain)
    except (TypeError, ValueError):  # a circular structure, NaN keys...
        text = json.dumps(repr(result))
    with open(path, "w") as handle:
        handle.write(text)


def _plain(value: Any) -> Any:
    """NumPy numbers and arrays as Python ones (``{"n": np.int64(3)}`` is a metric); others as text."""
    for method in ("item", "tolist"):
        convert = getattr(value, method, None)
        if callable(convert):
            try:
                return convert()
            except (TypeError, ValueError):  # .item() of an array with several values
                continue
    return repr(value)


def _end_mlflow_run() -> None:
    """A function may have resumed its step's MLflow run; close it before the next task."""
    mlflow = sys.modules.get("mlflow")
    if mlflow is not None and mlflow.active_run() is not None:
        mlflow.end_run()


def serve(task_fd: int, reply_fd: int) -> None:
    saved_out, saved_err = os.dup(1), os.dup(2)
    with os.fdopen(task_fd) as tasks, os.fdopen(reply_fd, "w", buffering=1) as replies:
        for line in tasks:
            task = json.loads(line)
            log = os.open(task["log_path"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(log, 1)
            os.dup2(log, 2)
            os.close(log)
            try:
                code = run_task(task)
            finally:
                os.dup2(saved_out, 1)
                os.dup2(saved_err, 2)
            replies.write(json.dumps({"code": code}) + "\n")


def main(argv: list[str]) -> int:
    if len(argv) == 4 and argv[1] == "--serve":
        serve(int(argv[2]), int(argv[3]))
        return 0
    if len(argv) == 3 and argv[1] == "--once":
        with open(argv[2]) as handle:
            return run_task(json.load(handle))
    print("usage: function_worker.py --serve TASK_FD REPLY_FD | --once TASK.json", file=sys.stderr)
    return 2


if __name__ == "__main__":
    # This file's folder must not shadow the step's modules (e.g. a step's own 'state.py').
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(__file__)]
    sys.exit(main(sys.argv))
