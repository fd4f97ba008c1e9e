"""Trimming the provider's schema to the types one program uses, on the wire.

Every `terraform` process asks the provider for its whole schema (AWS 5.100: 4.9 MB, 1,526 resource
and 608 data-source types) and decodes all of it: about 1 s of CPU per `plan` and again per `show`,
which was most of a real-mode run. Terraform only looks up the types a configuration declares, so the
proxy (provider_pool.py) answers with the same response minus the other types' map entries: measured
2.25 -> 0.13 s of Terraform CPU per program, same plan. This works on the protobuf wire format, so it
needs no generated code: in `GetProviderSchema.Response` (tfplugin5 and 6 alike) fields 2, 3 and 8 are
the maps of resource, data-source and ephemeral-resource schemas, each entry a message whose field 1 is
the type name; everything else (provider config, functions, capabilities) is kept byte for byte.
A type the program names that the provider lacks is absent either way, so "Invalid resource type" stays
an error (Terraform's "did you mean" suggestions, drawn from all names, are then missing).
"""
from __future__ import annotations

from typing import Iterable, Iterator

TYPE_MAPS = (2, 3, 8)


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i
        shift += 7


def fields(buf: bytes) -> Iterator[tuple[int, int, int, int, int]]:
    """(field number, start, end, payload start, payload end) of each top-level field."""
    i, n = 0, len(buf)
    while i < n:
        start = i
        tag, i = _varint(buf, i)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            _, i = _varint(buf, i)
            lo, hi = start, i
        elif wire == 1:
            lo, hi, i = i, i + 8, i + 8
        elif wire == 2:
            length, i = _varint(buf, i)
            lo, hi, i = i, i + length, i + length
        elif wire == 5:
            lo, hi, i = i, i + 4, i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if i > n:
            raise ValueError("truncated protobuf message")
        yield number, start, i, lo, hi


def _entry_key(entry: bytes) -> str | None:
    for number, _, _, lo, hi in fields(entry):
        if number == 1:
            return entry[lo:hi].decode("utf-8", errors="replace")
    return None


def prune_schema(response: bytes, wanted: Iterable[str]) -> bytes:
    """The schema response with only the `wanted` resource/data/ephemeral types (the rest unchanged)."""
    keep = set(wanted)
    out = bytearray()
    for number, start, end, lo, hi in fields(response):
        if number in TYPE_MAPS and _entry_key(response[lo:hi]) not in keep:
            continue
        out += response[start:end]
    return bytes(out)


def type_names(response: bytes) -> set[str]:
    """Every resource, data-source and ephemeral type name in a schema response."""
    return {_entry_key(response[lo:hi]) or "" for number, _, _, lo, hi in fields(response) if number in TYPE_MAPS}
