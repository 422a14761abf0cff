"""The address a request comes from, as the failed-auth limit counts it.

The peer of the connection, unless that peer is one of TRUSTED_PROXIES: then
`X-Forwarded-For` is read from the right (each proxy appends the address it
saw) and the first hop that is not itself a trusted proxy is the client. Hops
left of it were written by the client and are never believed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(entries: Iterable[str]) -> tuple[IpNetwork, ...]:
    """TRUSTED_PROXIES (IPs or CIDRs) as networks; ValueError names a bad entry."""
    out = []
    for entry in entries:
        entry = entry.strip()
        if not entry:
            continue
        try:
            out.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"TRUSTED_PROXIES: {entry!r} is not an IP address or CIDR.") from None
    return tuple(out)


@lru_cache(maxsize=4096)
def _parsed(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return None


def is_trusted(address: str, networks: tuple[IpNetwork, ...]) -> bool:
    ip = _parsed(address)
    return ip is not None and any(ip in net for net in networks)


def client_address(peer: str | None, forwarded_for: str | None, networks: tuple[IpNetwork, ...]) -> str:
    """The client's address: the peer, or the right-most untrusted X-Forwarded-For hop
    when the peer is a trusted proxy ("" when unknown)."""
    peer = peer or ""
    if not networks or not forwarded_for or not is_trusted(peer, networks):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop, networks):
            return hop[:64]
    return hops[0][:64] if hops else peer  # every hop a trusted proxy: the left-most is as far as we can see


def grpc_peer_host(peer: str | None) -> str:
    """The host of a gRPC peer string: "ipv4:1.2.3.4:5", "ipv6:[::1]:5" or "ipv6:%5B::1%5D:5"."""
    if not peer:
        return ""
    kind, _, rest = peer.partition(":")
    if kind not in ("ipv4", "ipv6"):
        return peer  # unix sockets and the like: one "address" per peer string
    rest = rest.replace("%5B", "[").replace("%5D", "]")
    if rest.startswith("["):
        return rest[1 : rest.find("]")]
    host, _, _port = rest.rpartition(":")
    return host or rest
