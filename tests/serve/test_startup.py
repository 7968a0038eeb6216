"""Start-up: loading a scikit-learn model does not pay for libraries it never uses."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None or importlib.util.find_spec("skops") is None,
    reason="needs PyTorch and skops installed to show that PyTorch stays unloaded",
)


def test_reading_skops_models_leaves_pytorch_unimported_and_its_sklearn_adapter_intact() -> None:
    script = (
        "import sys\n"
        "from scanflow.serve.direct import import_model_libraries_early\n"
        "import_model_libraries_early()\n"
        "print('torch' in sys.modules)\n"
        "import sklearn.externals.array_api_compat.torch as adapter\n"
        "print(hasattr(adapter, 'asarray'), 'torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "True"]
