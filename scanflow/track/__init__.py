"""Tracking with MLflow: run hierarchy, queries, wipe and the tracking server."""
