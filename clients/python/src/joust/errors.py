"""The one error type of the client: what the server (or the transport)
answered, as a gRPC status code and message."""

from __future__ import annotations

from typing import Callable, TypeVar

import grpc

T = TypeVar("T")


class JoustError(Exception):
    """A call failed: ``code`` is the gRPC status (``grpc.StatusCode``) the
    server answered with (UNAVAILABLE when it could not be reached,
    DATA_LOSS for a download whose bytes do not match their SHA-256,
    INTERNAL for an answer that breaks the protocol), ``message`` what it
    said, ``method`` the RPC that failed (``Registry/Transition``).

    docs/errors.md lists which code means what.
    """

    def __init__(self, code: grpc.StatusCode, message: str, method: str = "") -> None:
        self.code = code
        self.message = message
        self.method = method
        where = f"{method}: " if method else ""
        super().__init__(f"{where}{code.name}: {message}")

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError, method: str = "") -> "JoustError":
        """The status a ``grpc.RpcError`` carries."""
        code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
        details = error.details() if hasattr(error, "details") else str(error)
        return cls(code or grpc.StatusCode.UNKNOWN, details or "", method)


def call(method: str, fn: Callable[[], T]) -> T:
    """Runs ``fn``; a ``grpc.RpcError`` becomes a :class:`JoustError` naming
    ``method``."""
    try:
        return fn()
    except grpc.RpcError as e:
        raise JoustError.from_rpc_error(e, method) from None
