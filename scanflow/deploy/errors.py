"""Why a deployment did not happen, in words that say what to do."""

from __future__ import annotations

from scanflow.run.backend import BackendError


class DeployError(BackendError):
    """A model could not be deployed (or removed); the message names the fix."""


class DeployCancelled(DeployError):
    """The deployment was stopped (Ctrl-C, a step timeout) before it answered."""
