"""The improve-digits example runs end to end: drift flagged, a round labelled, trained and judged."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "improve_digits" / "run.py"


@pytest.mark.slow
def test_the_improve_digits_example_flags_drift_and_runs_a_round(project: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(EXAMPLE),
            "--rounds",
            "1",
            "--batch",
            "20",
            "--strategies",
            "hybrid",
            "--no-plot",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    drift = int(re.search(r"drift: (\d+)% of production samples", done.stdout).group(1))
    assert drift > 20, "the smeared, noisy production digits must look unlike the training data"
    before, after = map(
        float, re.search(r"hybrid +0 labels: ([\d.]+) +20 labels: ([\d.]+)", done.stdout).groups()
    )
    assert after > before, "twenty labels picked from production make the champion better on production"
    assert "is the new 'champion'" in done.stdout
