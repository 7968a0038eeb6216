"""What a step asks of the machine: CPUs, memory and GPUs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

from scanflow.spec.quantities import parse_memory

DEFAULT_CPU = 1.0


class Resources(BaseModel):
    """Resources a step reserves while it runs.

    The local runner never starts a step whose reservation would exceed what the
    host has left; container backends turn the same numbers into limits.
    ``cpu`` defaults to one core when unset, ``memory`` to no reservation.
    """

    model_config = ConfigDict(extra="forbid")

    cpu: float | None = Field(default=None, gt=0, description="CPU cores, may be fractional")
    memory: str | int | None = Field(default=None, description="size such as '2Gi' or '512Mi'")
    gpu: int = Field(default=0, ge=0, description="number of GPUs")

    @field_validator("memory")
    @classmethod
    def _memory_is_a_size(cls, value: str | int | None) -> str | int | None:
        if value is not None:
            parse_memory(value)
        return value

    @field_serializer("cpu")
    def _whole_cpus_as_integers(self, value: float | None) -> float | int | None:
        return int(value) if value is not None and value.is_integer() else value

    @property
    def cpu_request(self) -> float:
        """CPU cores reserved for scheduling (one core when unset)."""
        return self.cpu if self.cpu is not None else DEFAULT_CPU

    @property
    def memory_bytes(self) -> int:
        """Memory reserved in bytes (0 when unset)."""
        return parse_memory(self.memory) if self.memory is not None else 0
