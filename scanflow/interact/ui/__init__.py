"""Labelling front ends: the web page (FastAPI) and the terminal fallback."""
