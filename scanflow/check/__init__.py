"""Checkers: drift and data-integrity detection, for batches and live streams, with plugins.

    from scanflow.check import load_checker
    checker = load_checker("ks").fit(reference)
    result = checker.check(batch)          # CheckResult: verdict, score, p-value, ranked features
    print(result.explanation)

Built in: ``ks``/``cvm`` (per column), ``mmd`` (multivariate), ``label_shift``,
``integrity`` and ``autoencoder`` (needs ``scanflow[deep]``). Numeric detectors
need ``scanflow[check]``. Names load lazily so ``import scanflow.check`` is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scanflow.lazy import lazy_attributes

_LAZY = {
    "Checker": "scanflow.check.base",
    "CheckerError": "scanflow.check.base",
    "CheckResult": "scanflow.check.base",
    "FeatureDrift": "scanflow.check.base",
    "NotFittedError": "scanflow.check.base",
    "OnlineChecker": "scanflow.check.online",
    "load_checker": "scanflow.check.registry",
    "register": "scanflow.check.registry",
    "available": "scanflow.check.registry",
    "UnivariateChecker": "scanflow.check.univariate",
    "CramerVonMisesChecker": "scanflow.check.univariate",
    "MMDChecker": "scanflow.check.mmd",
    "LabelShiftChecker": "scanflow.check.label_shift",
    "IntegrityChecker": "scanflow.check.integrity",
    "AutoencoderChecker": "scanflow.check.autoencoder",
    "check_files": "scanflow.check.dataset",
}

__all__ = [
    "AutoencoderChecker",
    "CheckResult",
    "Checker",
    "CheckerError",
    "CramerVonMisesChecker",
    "FeatureDrift",
    "IntegrityChecker",
    "LabelShiftChecker",
    "MMDChecker",
    "NotFittedError",
    "OnlineChecker",
    "UnivariateChecker",
    "available",
    "check_files",
    "load_checker",
    "register",
]

if TYPE_CHECKING:
    from scanflow.check.autoencoder import AutoencoderChecker
    from scanflow.check.base import Checker, CheckerError, CheckResult, FeatureDrift, NotFittedError
    from scanflow.check.dataset import check_files
    from scanflow.check.integrity import IntegrityChecker
    from scanflow.check.label_shift import LabelShiftChecker
    from scanflow.check.mmd import MMDChecker
    from scanflow.check.online import OnlineChecker
    from scanflow.check.registry import available, load_checker, register
    from scanflow.check.univariate import CramerVonMisesChecker, UnivariateChecker


__getattr__ = lazy_attributes(__name__, _LAZY, globals())
