"""Wire conversions every typed module shares: timestamps and the
proto enums' prefixed names."""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum
from typing import Any, Optional, Type, TypeVar

E = TypeVar("E", bound=Enum)


def timestamp(message: Any, field: str) -> Optional[datetime]:
    """``message.field`` (a ``google.protobuf.Timestamp``) as an aware UTC
    datetime, ``None`` when unset."""
    if not message.HasField(field):
        return None
    ts = getattr(message, field)
    return datetime.fromtimestamp(ts.seconds + ts.nanos / 1e9, tz=timezone.utc)


def optional(message: Any, field: str) -> Any:
    """An ``optional`` scalar: its value, or ``None`` when unset."""
    return getattr(message, field) if message.HasField(field) else None


def enum_from_wire(enum: Type[E], prefix: str, value: int, pb_enum: Any) -> Optional[E]:
    """The member of ``enum`` whose value is the wire name less ``prefix``
    (``VERSION_STATUS_CHAMPION`` → ``champion``); ``None`` for
    UNSPECIFIED or a value this client does not know."""
    try:
        name = pb_enum.Name(value)
    except ValueError:
        return None
    short = name[len(prefix) :].lower()
    try:
        return enum(short)
    except ValueError:
        return None


def enum_to_wire(enum: Type[E], prefix: str, value: "E | str", pb_enum: Any, field: str) -> Any:
    """The wire value of ``value`` (a member or its name), else a
    ValueError naming ``field`` and the accepted names. Typed ``Any``: the
    generated stubs type each enum field with its own wrapper class."""
    try:
        member = enum(value.value if isinstance(value, Enum) else str(value).lower())
    except ValueError:
        accepted = ", ".join(m.value for m in enum)
        raise ValueError(f"{field}: expected one of {accepted}, got {value!r}") from None
    return int(pb_enum.Value(prefix + member.value.upper()))
