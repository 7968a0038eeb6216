"""Running workflows: one scheduler, pluggable backends, run state for resume."""
