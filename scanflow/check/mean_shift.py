"""Which original features moved most, for detectors that judge the batch as a whole.

MMD and the autoencoder give one verdict for all features together; to point a
person at where to look, features are ranked by how far their batch mean moved
in reference standard deviations (categorical columns: total variation distance
of their level shares). The ranking is descriptive: these features carry no
test of their own, so none is marked as drifted.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scanflow.check.base import FeatureDrift
from scanflow.check.encoding import TabularEncoder


def mean_shift_features(
    encoder: TabularEncoder, reference_mean: np.ndarray, batch: Any, limit: int = 20
) -> list[FeatureDrift]:
    """The ``limit`` features whose batch mean moved most from the reference mean."""
    encoded = encoder.transform(batch)
    if len(encoded) == 0 or encoded.shape[1] == 0:
        return []
    shift = encoded.mean(axis=0) - reference_mean
    names = encoder.feature_of_output()
    effects: dict[str, float] = {}
    for name, value, index in zip(names, shift, range(len(names)), strict=True):
        if index < len(encoder.numeric):
            effects[name] = abs(float(value))
        else:
            effects[name] = effects.get(name, 0.0) + 0.5 * abs(float(value))
    ranked = sorted(effects.items(), key=lambda item: -item[1])[:limit]
    numeric = set(encoder.numeric)
    return [
        FeatureDrift(
            feature=name,
            statistic=effect,
            p_value=None,
            drifted=False,
            detail=(
                f"mean moved {effect:.2f} reference SD"
                if name in numeric
                else f"level shares moved {effect:.0%} (total variation)"
            ),
        )
        for name, effect in ranked
    ]
