"""`python -m scanflow.cli`: the same command as `scanflow`, for subprocesses and container entry points."""

from scanflow.cli import main

main()
