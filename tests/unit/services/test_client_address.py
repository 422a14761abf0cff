"""Which address the failed-auth limit counts: the peer, or X-Forwarded-For's right-most
untrusted hop when the peer is a trusted proxy."""

from __future__ import annotations

import pytest

from completions_app.services.client_address import client_address, grpc_peer_host, trusted_networks

PROXIES = trusted_networks(["10.0.0.0/8", "::1", " "])


@pytest.mark.parametrize(
    ("peer", "xff", "networks", "expected"),
    [
        ("203.0.113.7", "1.2.3.4", PROXIES, "203.0.113.7"),  # untrusted peer: its header is ignored
        ("10.0.0.5", None, PROXIES, "10.0.0.5"),  # a trusted peer without the header
        ("10.0.0.5", "1.2.3.4, 203.0.113.9", PROXIES, "203.0.113.9"),  # the forged left hop is ignored
        ("10.0.0.5", "203.0.113.9, 10.1.1.1, 10.2.2.2", PROXIES, "203.0.113.9"),  # chained proxies
        ("10.0.0.5", "10.1.1.1", PROXIES, "10.1.1.1"),  # all trusted: the left-most
        ("::1", "2001:db8::1", PROXIES, "2001:db8::1"),
        ("10.0.0.5", "1.2.3.4", (), "10.0.0.5"),  # TRUSTED_PROXIES empty (the default): never read
        ("10.0.0.5", "1.2.3.4, garbage", PROXIES, "garbage"),  # an unparsable hop is untrusted
        (None, None, PROXIES, ""),
    ],
)
def test_client_address(peer, xff, networks, expected):
    assert client_address(peer, xff, networks) == expected


def test_a_bad_trusted_proxy_entry_is_named():
    with pytest.raises(ValueError, match="nonsense"):
        trusted_networks(["10.0.0.0/8", "nonsense"])


@pytest.mark.parametrize(
    ("peer", "host"),
    [("ipv4:127.0.0.1:5000", "127.0.0.1"), ("ipv6:[::1]:5000", "::1"), ("ipv6:%5B::1%5D:5000", "::1"),
     ("unix:/tmp/s", "unix:/tmp/s"), ("", "")],
)  # fmt: skip
def test_grpc_peer_host(peer, host):
    assert grpc_peer_host(peer) == host
