"""Addresses and ports on this host: is one loopback, is a port taken, which one is free."""

from __future__ import annotations

import socket

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})  # a server bound here is this machine's alone


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def port_taken(host: str, port: int) -> bool:
    """Whether something listens on ``host:port`` (a socket lingering after a close does not count)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


DEPLOY_PORT_FIX = "choose another with --port (port: in a Deployment node), or --port 0 for any free port"


def port_taken_message(host: str, port: int, holder: str = "", fix: str = DEPLOY_PORT_FIX) -> str:
    who = f" by {holder}" if holder else ""
    return f"port {port} on {host} is taken{who}: {fix}"
