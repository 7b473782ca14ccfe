"""HTTPS on the agent's own port (`server.tls`): the TLS context the listening socket uses, and
its certificate re-read without a restart.

TLS 1.2 at least (or 1.3 by `min_version`), with the modern AEAD ciphers only; with
`client_ca_file`, a client certificate signed by that CA is required. A new certificate and key
(a renewal) are read on `reload()`: SIGHUP, or a change of either file seen by `watch()`. They
are checked in a context of their own first, so a broken pair keeps the one being served and
the log says why. The key must be this user's alone (mode 0600 or narrower), as the signing
secret must: whoever can read it can pose as this agent.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import stat
from pathlib import Path

import structlog

from polyad.config.sections import ServerTlsConfig
from polyad.errors import ConfigError

__all__ = ["ServerTls"]

log = structlog.get_logger(logger_name="polyad.tls")
WATCH_EVERY_S = 10.0
# TLS 1.2's AEAD suites with forward secrecy; TLS 1.3's are always these kinds
_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


class ServerTls:
    def __init__(self, config: ServerTlsConfig) -> None:
        if config.cert_file is None or config.key_file is None:
            raise ValueError("server.tls is not enabled")
        self._cert_file = config.cert_file
        self._key_file = config.key_file
        self._config = config
        self.context = self._made()   # the one the socket keeps; renewed in place
        self._stamps = self._file_stamps()

    def reload(self) -> bool:
        """The files read again into the live context; False (and the old pair kept) when
        they are not a usable pair."""
        try:
            self._made()                       # the whole check, in a context of its own
            self.context.load_cert_chain(self._cert_file, self._key_file)
        except (ConfigError, OSError, ssl.SSLError) as error:
            detail = error.detail if isinstance(error, ConfigError) else str(error)
            log.error("tls certificate not reloaded; still serving the previous one",
                      error=detail)
            return False
        self._stamps = self._file_stamps()
        log.info("tls certificate reloaded", cert_file=str(self._cert_file))
        return True

    async def watch(self, every_s: float = WATCH_EVERY_S) -> None:
        """Until cancelled: a reload when the certificate or key file changed."""
        while True:
            await asyncio.sleep(every_s)
            if self._file_stamps() != self._stamps:
                self.reload()

    def _made(self) -> ssl.SSLContext:
        _check_key_file(self._key_file)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = (ssl.TLSVersion.TLSv1_3 if self._config.min_version == "1.3"
                                   else ssl.TLSVersion.TLSv1_2)
        context.set_ciphers(_CIPHERS)
        context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
        try:
            context.load_cert_chain(self._cert_file, self._key_file)
            if self._config.client_ca_file is not None:
                context.load_verify_locations(cafile=self._config.client_ca_file)
                context.verify_mode = ssl.CERT_REQUIRED
        except (OSError, ssl.SSLError) as error:
            raise ConfigError(f"server.tls: {_reason(error)}") from None
        return context

    def _file_stamps(self) -> tuple[tuple[int, int], ...]:
        stamps = []
        for path in (self._cert_file, self._key_file):
            try:
                status = path.stat()
                stamps.append((status.st_mtime_ns, status.st_size))
            except OSError:
                stamps.append((0, 0))
        return tuple(stamps)


def _check_key_file(path: Path) -> None:
    try:
        status = os.stat(path)
    except OSError as error:
        raise ConfigError(f"server.tls.key_file: cannot read {path}: "
                          f"{error.strerror or error}") from None
    if not stat.S_ISREG(status.st_mode):
        raise ConfigError(f"server.tls.key_file: {path} is not a regular file")
    if status.st_mode & 0o077:
        raise ConfigError(f"server.tls.key_file: {path} can be read by others (mode "
                          f"{status.st_mode & 0o777:o}); make it 0600")


def _reason(error: OSError | ssl.SSLError) -> str:
    if isinstance(error, ssl.SSLError):
        return f"not a certificate and key that belong together ({error.reason or error})"
    return f"cannot read {error.filename}: {error.strerror or error}"
