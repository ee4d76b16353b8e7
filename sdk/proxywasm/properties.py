"""Typed helpers for the Envoy properties filters read most (attribute names as in Envoy's docs).

Each returns None when the host does not have the property. Integers arrive from Envoy as
8-byte little-endian values; strings as UTF-8 bytes.

    from proxywasm import properties
    if properties.request_path().startswith("/admin"): ...
"""

from __future__ import annotations

import struct

from .hostcalls import get_property, text


def _str(path: str) -> str | None:
    value = get_property(path)
    return None if value is None else text(value)


def _int(path: str) -> int | None:
    value = get_property(path)
    if value is None:
        return None
    if len(value) == 8:
        return struct.unpack("<q", value)[0]
    digits = value.strip()
    return int(digits.decode()) if digits.lstrip(b"-").isdigit() else None


def _bool(path: str) -> bool | None:
    value = get_property(path)
    return None if value is None else value not in (b"", b"\x00", b"false")


# plugin
def plugin_name() -> str | None: return _str("plugin_name")
def plugin_root_id() -> str | None: return _str("plugin_root_id")
def plugin_vm_id() -> str | None: return _str("plugin_vm_id")


# request
def request_path() -> str | None: return _str("request.path")
def request_url_path() -> str | None: return _str("request.url_path")
def request_host() -> str | None: return _str("request.host")
def request_scheme() -> str | None: return _str("request.scheme")
def request_method() -> str | None: return _str("request.method")
def request_id() -> str | None: return _str("request.id")
def request_protocol() -> str | None: return _str("request.protocol")
def request_user_agent() -> str | None: return _str("request.useragent")
def request_referer() -> str | None: return _str("request.referer")
def request_size() -> int | None: return _int("request.size")


# response
def response_code() -> int | None: return _int("response.code")
def response_code_details() -> str | None: return _str("response.code_details")
def response_size() -> int | None: return _int("response.size")


# connection and peers
def connection_id() -> int | None: return _int("connection.id")
def connection_mtls() -> bool | None: return _bool("connection.mtls")
def connection_requested_server_name() -> str | None: return _str("connection.requested_server_name")
def source_address() -> str | None: return _str("source.address")
def source_port() -> int | None: return _int("source.port")
def destination_address() -> str | None: return _str("destination.address")
def destination_port() -> int | None: return _int("destination.port")
def upstream_address() -> str | None: return _str("upstream.address")


# routing and node
def route_name() -> str | None: return _str("route_name")
def cluster_name() -> str | None: return _str("cluster_name")
def node_id() -> str | None: return _str("node.id")
def node_metadata(key: str) -> str | None: return _str(f"node.metadata.{key}")
