"""A session's causal token, as the SDK keeps it, and its text form.

The token (meridian.v1.SessionToken) is opaque to clients: the server signs
it and merges vectors. The SDK only sends back the newest one it holds,
newest meaning the later cluster_time. Its text form, for carrying it to
another process, is "mst1." (Meridian session token, form 1) followed by
the serialized token in unpadded base64url, as the C++ SDK writes it.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading

import grpc

from meridian_client._proto import common_pb2
from meridian_client.errors import MeridianError, not_sent

TOKEN_PREFIX = "mst1."

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")


def _invalid(message: str) -> MeridianError:
    return not_sent(grpc.StatusCode.INVALID_ARGUMENT, "session token: " + message,
                    kind="INVALID_ARGUMENT")


def encode_token(token: common_pb2.SessionToken) -> str:
    """The text form of `token`; "mst1." alone for an empty token."""
    raw = token.SerializeToString(deterministic=True)
    return TOKEN_PREFIX + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_token(text: str) -> common_pb2.SessionToken:
    """The token in `text` (surrounding whitespace ignored). Raises
    MeridianError (kind INVALID_ARGUMENT, not sent) saying what is wrong:
    no "mst1." prefix, bad base64url, or bytes that are not a token."""
    if not isinstance(text, str):
        raise _invalid(f"expected text (str), got {type(text).__name__}")
    t = text.strip()
    if not t.startswith(TOKEN_PREFIX):
        shown = "nothing" if not t else repr(t[:16] + ("..." if len(t) > 16 else ""))
        raise _invalid(f'expected text starting with "{TOKEN_PREFIX}" (as export_token gives '
                       f"it), got {shown}")
    body = t[len(TOKEN_PREFIX):]
    if not _BASE64URL.fullmatch(body) or len(body.rstrip("=")) % 4 == 1:
        raise _invalid(f'the text after "{TOKEN_PREFIX}" is not base64url (A-Z a-z 0-9 - _)')
    try:
        body = body.rstrip("=")
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise _invalid(f'the text after "{TOKEN_PREFIX}" is not base64url') from None
    token = common_pb2.SessionToken()
    try:
        token.ParseFromString(raw)
    except Exception:  # protobuf's DecodeError, whose module differs by runtime
        raise _invalid("damaged (its bytes are not a session token)") from None
    return token


class TokenState:
    """The token one session holds. enabled=False (Client(sessions=False))
    neither sends nor keeps one. Thread-safe."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._mu = threading.Lock()
        self._token = common_pb2.SessionToken()

    def stamp(self, header: common_pb2.RequestHeader) -> None:
        """Puts the token into an outgoing request header (not when disabled)."""
        if not self.enabled:
            return
        with self._mu:
            header.session_token.CopyFrom(self._token)

    def observe(self, header: common_pb2.ResponseHeader) -> None:
        """Keeps a reply's token if it is at least as new: an equal cluster
        time may still bring a newer vector."""
        if not self.enabled or not header.HasField("session_token"):
            return
        with self._mu:
            if header.session_token.cluster_time >= self._token.cluster_time:
                self._token.CopyFrom(header.session_token)

    def merge(self, token: common_pb2.SessionToken) -> None:
        """Keeps `token` if it is newer than the held one."""
        with self._mu:
            if token.cluster_time > self._token.cluster_time:
                self._token.CopyFrom(token)

    def token(self) -> common_pb2.SessionToken:
        with self._mu:
            out = common_pb2.SessionToken()
            out.CopyFrom(self._token)
            return out
