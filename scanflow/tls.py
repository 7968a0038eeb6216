"""Answering HTTPS: the certificate and private key a server of ours is given (`--tls-cert`, `--tls-key`).

The tracking server, the prediction service and the labelling page take the
same two files and check them the same way before they start, so a wrong path or a key that is
not the certificate's is one clear error instead of a traceback from uvicorn.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path


class TlsError(ValueError):
    """The certificate or key cannot be used."""


@dataclass(frozen=True)
class TlsFiles:
    """A PEM certificate (chain) and the unencrypted PEM private key it was made for."""

    cert: Path
    key: Path

    @classmethod
    def given(cls, cert: Path | None, key: Path | None) -> TlsFiles | None:
        """Both files, or None for plain HTTP; one without the other is an error."""
        if cert is None and key is None:
            return None
        if cert is None or key is None:
            raise TlsError("HTTPS needs both --tls-cert and --tls-key (the certificate and its private key)")
        return cls(Path(cert), Path(key))

    def check(self) -> None:
        """Name a missing file, or a pair that does not match, now."""
        for option, path in (("--tls-cert", self.cert), ("--tls-key", self.key)):
            if not path.is_file() or not os.access(path, os.R_OK):
                raise TlsError(f"{option} {path}: no such readable file; give the PEM file's path")
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(self.cert, self.key)
        except ssl.SSLError as error:
            reason = error.reason or error.args[-1]
            raise TlsError(
                f"cannot answer HTTPS with --tls-cert {self.cert} and --tls-key {self.key} ({reason}):"
                " give a PEM certificate and the unencrypted PEM private key it was made for"
            ) from None
