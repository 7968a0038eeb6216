"""Exporters: a workflow as files other tools run (Compose and Swarm stacks)."""
