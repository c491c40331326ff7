"""A webhook receiver for tests: a real HTTP/1.1 server on 127.0.0.1 (asyncio streams) that
records every request and answers from a script (then 200), and a resolver tests inject to
make a name resolve where they want (counting the lookups)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from gateway.events_http import verify


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)

    def signed_by(self, secret: str, now: float) -> bool:
        """The body carries `secret`'s signature, checked as /events checks its requests."""
        try:
            verify(
                secret,
                self.headers.get("x-gateway-timestamp"),
                self.headers.get("x-gateway-signature"),
                self.body,
                now,
            )
        except Exception:
            return False
        return True


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"


@dataclass
class Receiver:
    port: int = 0
    received: list[Request] = field(default_factory=list)
    script: list[Reply] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    scheme: str = "http"

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def answer(self, *replies: Reply) -> None:
        self.script.extend(replies)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _version = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.received.append(Request(method, path, headers, body))
            self.arrived.set()
            reply = self.script.pop(0) if self.script else Reply()
            out = [f"HTTP/1.1 {reply.status} X", f"Content-Length: {len(reply.body)}"]
            out += [f"{k}: {v}" for k, v in reply.headers.items()]
            out += ["Connection: close", "", ""]
            writer.write("\r\n".join(out).encode("latin-1") + reply.body)
            await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


@contextlib.asynccontextmanager
async def receiving(tls: ssl.SSLContext | None = None) -> AsyncIterator[Receiver]:
    """A receiver on 127.0.0.1; over https with `tls` (a server context)."""
    receiver = Receiver(scheme="https" if tls else "http")
    server = await asyncio.start_server(receiver._serve, "127.0.0.1", 0, ssl=tls)
    receiver.port = server.sockets[0].getsockname()[1]
    try:
        yield receiver
    finally:
        server.close()
        await server.wait_closed()


@dataclass
class FakeDNS:
    """Names → addresses; anything else does not resolve. Counts lookups per name."""

    names: dict[str, list[str]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)
    hang: set[str] = field(default_factory=set)

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        if host in self.hang:
            await asyncio.Event().wait()  # never answers: the caller's timeout decides
        if host not in self.names:
            raise OSError(f"{host} does not resolve")
        return list(self.names[host])


def certificate_authority(tmp: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A certificate authority made for the test, and a certificate it signed for `name`: the
    (server, client) TLS contexts, the client trusting that authority alone."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def subject(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(subject("Test CA"))
        .issuer_name(subject("Test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(subject(name))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (tmp / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    (tmp / "leaf.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp / "leaf.pem", tmp / "leaf.key")
    client = ssl.create_default_context(cadata=ca.public_bytes(pem).decode())
    return server, client
