"""Channels to joust's roles: plaintext or TLS (a CA, optionally a client
certificate for mutual TLS), a bearer token and the audit actor on every
call — the options the CLI takes as ``--tls-ca``, ``--tls-cert``,
``--tls-key``, ``--token-file`` / ``JOUST_TOKEN`` and ``--actor``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import grpc

#: Largest message sent or accepted (as the Rust client: 16 MiB).
MAX_MESSAGE_BYTES = 16 << 20
#: The metadata key naming the acting user in audit events.
ACTOR_HEADER = "x-joust-actor"


@dataclass(frozen=True)
class Security:
    """How to reach a role that has TLS or authentication on.

    ``tls_ca``: CA (PEM file) that signed the servers' certificates; needed
    for every ``https://`` address. ``tls_cert`` / ``tls_key``: a client
    certificate for servers that require mutual TLS (both or neither).
    ``token`` or ``token_file`` (not both): the bearer token sent on every
    call. ``tls_server_name``: the name to check the server's certificate
    for, when it differs from the host in the address.
    """

    tls_ca: Optional[Path | str] = None
    tls_cert: Optional[Path | str] = None
    tls_key: Optional[Path | str] = None
    token: Optional[str] = None
    token_file: Optional[Path | str] = None
    tls_server_name: Optional[str] = None

    @classmethod
    def from_env(cls) -> "Security":
        """The CLI's variables: ``JOUST_TLS_CA``, ``JOUST_TLS_CERT``,
        ``JOUST_TLS_KEY``, ``JOUST_TOKEN``, ``JOUST_TOKEN_FILE``."""
        return cls(
            tls_ca=os.environ.get("JOUST_TLS_CA") or None,
            tls_cert=os.environ.get("JOUST_TLS_CERT") or None,
            tls_key=os.environ.get("JOUST_TLS_KEY") or None,
            token=os.environ.get("JOUST_TOKEN") or None,
            token_file=os.environ.get("JOUST_TOKEN_FILE") or None,
        )

    def bearer(self) -> Optional[str]:
        """The token to send, read and checked (``None``: send none)."""
        if self.token is not None and self.token_file is not None:
            raise ValueError("token and token_file: expected one of them, got both")
        token = self.token
        if self.token_file is not None:
            try:
                token = Path(self.token_file).read_text()
            except OSError as e:
                raise ValueError(f"token_file {self.token_file}: cannot read it ({e.strerror})") from None
        if token is None:
            return None
        token = token.strip()
        if not token:
            return None
        if not all(33 <= ord(c) <= 126 for c in token):
            raise ValueError("token: expected visible ASCII characters")
        return token

    def credentials(self) -> Optional[grpc.ChannelCredentials]:
        """TLS credentials, or ``None`` without a CA."""
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key: expected both or neither")
        if self.tls_ca is None:
            if self.tls_cert is not None:
                raise ValueError("tls_cert: a client certificate needs tls_ca too (the servers' CA)")
            return None

        def read(field: str, path: Path | str) -> bytes:
            try:
                return Path(path).read_bytes()
            except OSError as e:
                raise ValueError(f"{field} {path}: cannot read it ({e.strerror})") from None

        return grpc.ssl_channel_credentials(
            root_certificates=read("tls_ca", self.tls_ca),
            private_key=read("tls_key", self.tls_key) if self.tls_key is not None else None,
            certificate_chain=read("tls_cert", self.tls_cert) if self.tls_cert is not None else None,
        )


def _target(url: str, tls: bool) -> tuple[str, bool]:
    """``(host:port, use TLS)`` from ``http://host:port``,
    ``https://host:port`` or ``host:port`` (TLS when a CA is given)."""
    if url.startswith("https://"):
        return url[len("https://") :].rstrip("/"), True
    if url.startswith("http://"):
        return url[len("http://") :].rstrip("/"), False
    if "://" in url:
        raise ValueError(f"url {url!r}: expected http://HOST:PORT, https://HOST:PORT or HOST:PORT")
    return url.rstrip("/"), tls


class _Metadata(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds the bearer token and the actor to every call."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    def _details(self, details: Any) -> Any:
        metadata = list(details.metadata or []) + self._pairs
        return _CallDetails(details, metadata)

    def intercept_unary_unary(self, continuation: Callable, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Callable, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation: Callable, details: Any, requests: Iterator) -> Any:
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation: Callable, details: Any, requests: Iterator) -> Any:
        return continuation(self._details(details), requests)


class _CallDetails(grpc.ClientCallDetails):
    def __init__(self, base: Any, metadata: list[tuple[str, str]]) -> None:
        self.method = base.method
        self.timeout = base.timeout
        self.metadata = metadata
        self.credentials = base.credentials
        self.wait_for_ready = getattr(base, "wait_for_ready", None)
        self.compression = getattr(base, "compression", None)


def open_channel(url: str, security: Optional[Security] = None, actor: Optional[str] = None) -> grpc.Channel:
    """A channel to ``url`` with ``security``'s TLS and token and ``actor``
    on every call."""
    security = security or Security()
    creds = security.credentials()
    target, tls = _target(url, creds is not None)
    options: list[tuple[str, Any]] = [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ]
    if tls:
        if creds is None:
            raise ValueError(f"url {url}: an https:// server needs tls_ca (the CA that signed its certificate)")
        if security.tls_server_name:
            options.append(("grpc.ssl_target_name_override", security.tls_server_name))
        channel = grpc.secure_channel(target, creds, options=options)
    else:
        channel = grpc.insecure_channel(target, options=options)
    pairs: list[tuple[str, str]] = []
    token = security.bearer()
    if token:
        pairs.append(("authorization", f"Bearer {token}"))
    if actor:
        pairs.append((ACTOR_HEADER, actor))
    if pairs:
        channel = grpc.intercept_channel(channel, _Metadata(pairs))
    return channel


class Client:
    """What every client shares: one channel, a default timeout per call,
    closing (also as a context manager)."""

    def __init__(
        self,
        url: str,
        *,
        security: Optional[Security] = None,
        actor: Optional[str] = None,
        timeout: Optional[float] = 30.0,
        channel: Optional[grpc.Channel] = None,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self._channel = channel if channel is not None else open_channel(url, security, actor)

    @property
    def channel(self) -> grpc.Channel:
        """The gRPC channel, for the generated stubs (``joust.v1``) this
        wrapper does not cover."""
        return self._channel

    def close(self) -> None:
        self._channel.close()

    def __enter__(self):  # type: ignore[no-untyped-def]
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
