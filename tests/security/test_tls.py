"""HTTPS on the agent's own port, in a real process, with certificates the test makes: served
with the CA that signed it, plain HTTP to it failing cleanly, client certificates required with
`client_ca_file` (an untrusted one refused), a renewed certificate served after SIGHUP or once
the file changes, a broken one not taken, and a key others can read refusing the start."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from polyad.config.sections import ServerTlsConfig
from polyad.tls import ServerTls
from tests.agent_process import BIN, environment, free_port
from tests.certificates import Authority, Issued
from tests.conftest import bearer, make_token


@dataclass
class TlsAgent:
    port: int
    process: subprocess.Popen[bytes]
    authority: Authority
    served: Issued              # the files the agent reads its certificate from
    log: Path

    def context(self, client: Issued | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.authority.ca_file)
        if client is not None:
            context.load_cert_chain(client.cert_file, client.key_file)
        return context

    def get(self, path: str, context: ssl.SSLContext | None = None, *,
            token: bool = True, method: str = "GET") -> tuple[int, bytes]:
        """Status and body (an HTTP error's too); `token`: whether to send a bearer token."""
        request = urllib.request.Request(f"https://127.0.0.1:{self.port}{path}", method=method,
                                         headers=bearer(make_token()) if token else {})
        try:
            with urllib.request.urlopen(request, timeout=5,
                                        context=context or self.context()) as response:
                return int(response.status), response.read()
        except urllib.error.HTTPError as error:
            with error:
                return int(error.code), error.read()

    def served_serial(self, context: ssl.SSLContext | None = None) -> int:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as plain, \
                (context or self.context()).wrap_socket(plain,
                                                        server_hostname="127.0.0.1") as wrapped:
            certificate = wrapped.getpeercert()
            assert certificate is not None
            return int(str(certificate["serialNumber"]), 16)


def serial_of(issued: Issued) -> int:
    from cryptography import x509

    return x509.load_pem_x509_certificate(issued.cert_file.read_bytes()).serial_number


def renew(authority: Authority, served: Issued) -> int:
    """A new certificate and key written over the served files, as a renewal does."""
    fresh = authority.issue("renewed")
    served.cert_file.write_bytes(fresh.cert_file.read_bytes())
    served.key_file.write_bytes(fresh.key_file.read_bytes())
    return serial_of(fresh)


def start(tmp_path: Path, *, client_ca: Path | None = None,
          settings: dict[str, str] | None = None) -> Iterator[TlsAgent]:
    authority = Authority(tmp_path)
    served = authority.issue("agent-server")
    port = free_port()
    env = {**environment(tmp_path), "POLYAD_SERVER__TLS__CERT_FILE": str(served.cert_file),
           "POLYAD_SERVER__TLS__KEY_FILE": str(served.key_file)}
    if client_ca is not None:
        env["POLYAD_SERVER__TLS__CLIENT_CA_FILE"] = str(client_ca)
    env.update(settings or {})
    log = tmp_path / "agent.log"
    with log.open("wb") as output:
        process = subprocess.Popen([str(BIN / "polyad"), "serve", "--port", str(port)],
                                   env=env, stdout=output, stderr=output)
    agent = TlsAgent(port, process, authority, served, log)
    try:
        yield agent
    finally:
        process.terminate()
        process.wait(timeout=20)


def wait_ready(agent: TlsAgent, context: ssl.SSLContext | None = None) -> None:
    deadline = time.monotonic() + 20
    while True:
        assert agent.process.poll() is None, agent.log.read_text()
        try:
            if agent.get("/readyz", context)[0] == 200:
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, agent.log.read_text()
        time.sleep(0.1)


@pytest.fixture
def tls_agent(tmp_path: Path) -> Iterator[TlsAgent]:
    for agent in start(tmp_path):
        wait_ready(agent)
        yield agent


def test_https_with_the_ca_that_signed_it_and_plain_http_fails_cleanly(
    tls_agent: TlsAgent,
) -> None:
    status, body = tls_agent.get("/status")
    assert status == 200 and json.loads(body)["status"] in ("running", "degraded")
    # plain HTTP to the TLS port: no answer in clear, the connection closed, the agent fine
    with socket.create_connection(("127.0.0.1", tls_agent.port), timeout=5) as plain:
        plain.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"200 OK" not in plain.recv(4096)
    assert tls_agent.get("/readyz")[0] == 200
    # a TLS 1.2 client gets a forward-secret AEAD suite, nothing older
    twelve = tls_agent.context()
    twelve.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", tls_agent.port), timeout=5) as plain, \
            twelve.wrap_socket(plain, server_hostname="127.0.0.1") as wrapped:
        negotiated = wrapped.cipher()
        assert negotiated is not None
        cipher, version, _ = negotiated
        assert version == "TLSv1.2" and cipher.startswith("ECDHE-")
        assert "GCM" in cipher or "CHACHA20" in cipher


def test_a_renewed_certificate_is_served_after_sighup_and_a_broken_one_is_not(
    tls_agent: TlsAgent,
) -> None:
    first = tls_agent.served_serial()
    assert first == serial_of(tls_agent.served)
    renewed = renew(tls_agent.authority, tls_agent.served)
    tls_agent.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while tls_agent.served_serial() != renewed:
        assert time.monotonic() < deadline, tls_agent.log.read_text()
        time.sleep(0.05)
    # a key that is not the certificate's: refused, the renewed pair still served
    other = tls_agent.authority.issue("other")
    tls_agent.served.key_file.write_bytes(other.key_file.read_bytes())
    tls_agent.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "not reloaded" not in tls_agent.log.read_text():
        assert time.monotonic() < deadline, tls_agent.log.read_text()
        time.sleep(0.05)
    assert tls_agent.served_serial() == renewed
    assert tls_agent.get("/readyz")[0] == 200


def test_with_a_client_ca_a_client_certificate_is_required(tmp_path: Path) -> None:
    (tmp_path / "clients").mkdir()
    clients = Authority(tmp_path / "clients", "client CA")
    for agent in start(tmp_path, client_ca=clients.ca_file):
        trusted = clients.issue("prometheus", server=False)
        wait_ready(agent, agent.context(trusted))
        assert agent.get("/status", agent.context(trusted))[0] == 200
        (tmp_path / "strangers").mkdir()
        stranger = Authority(tmp_path / "strangers", "stranger CA").issue("x", server=False)
        for context in (agent.context(), agent.context(stranger)):   # none, or untrusted
            with pytest.raises((ssl.SSLError, OSError)):
                agent.get("/status", context)


def test_a_configured_client_certificate_stands_in_for_a_token(tmp_path: Path) -> None:
    (tmp_path / "clients").mkdir()
    clients = Authority(tmp_path / "clients", "client CA")
    scopes = {"POLYAD_AUTH__CLIENT_CERT_SCOPES": '{"CN=prometheus": ["read"]}'}
    for agent in start(tmp_path, client_ca=clients.ca_file, settings=scopes):
        prometheus = agent.context(clients.issue("prometheus", server=False))
        wait_ready(agent, prometheus)
        assert agent.get("/metrics/prom", prometheus, token=False)[0] == 200
        status, body = agent.get("/cache", prometheus, token=False, method="DELETE")
        assert status == 403 and b"admin" in body              # read, and nothing more
        other = agent.context(clients.issue("someone-else", server=False))
        assert agent.get("/status", other, token=False)[0] == 401   # verified, not mapped
        assert agent.get("/status", other)[0] == 200           # a token still works


def test_client_cert_scopes_without_a_client_ca_is_refused() -> None:
    from polyad.config import load_config
    from polyad.errors import ConfigError

    with pytest.raises(ConfigError, match=r"needs server\.tls\.client_ca_file"):
        load_config(environ={}, overrides={"auth": {"client_cert_scopes": {
            "CN=prometheus": ["read"]}}})


def test_a_key_others_can_read_refuses_the_start(tmp_path: Path) -> None:
    authority = Authority(tmp_path)
    served = authority.issue("agent-server")
    served.key_file.chmod(0o644)
    env = {**environment(tmp_path), "POLYAD_SERVER__TLS__CERT_FILE": str(served.cert_file),
           "POLYAD_SERVER__TLS__KEY_FILE": str(served.key_file)}
    result = subprocess.run([str(BIN / "polyad"), "serve", "--port", str(free_port())],
                            env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "can be read by others (mode 644); make it 0600" in result.stderr
    assert "Traceback" not in result.stderr


async def test_a_changed_certificate_file_is_picked_up_without_a_signal(
    tmp_path: Path,
) -> None:
    authority = Authority(tmp_path)
    served = authority.issue("agent-server")
    tls = ServerTls(ServerTlsConfig(cert_file=served.cert_file, key_file=served.key_file))

    async def serial_served() -> int:
        server = await asyncio.start_server(lambda _r, w: w.close(), "127.0.0.1", 0,
                                            ssl=tls.context)
        port = server.sockets[0].getsockname()[1]
        try:
            context = ssl.create_default_context(cafile=authority.ca_file)
            _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context,
                                                      server_hostname="127.0.0.1")
            certificate = writer.get_extra_info("peercert")
            writer.close()
            return int(certificate["serialNumber"], 16)
        finally:
            server.close()
            await server.wait_closed()

    assert await serial_served() == serial_of(served)
    watching = asyncio.create_task(tls.watch(every_s=0.02))
    try:
        renewed = renew(authority, served)
        deadline = asyncio.get_running_loop().time() + 5
        while await serial_served() != renewed:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.02)
    finally:
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
