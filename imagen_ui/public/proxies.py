"""Which peers may say who the visitor is (X-Forwarded-For), as uvicorn's --forwarded-allow-ips.

    trust = ProxyTrust.from_settings(settings)     # --trusted-proxies, a Space, a share link
    trust.client(peer, forwarded_values)           # the visitor's address, or the peer's own

A request that did not come through a trusted proxy is known by its peer's address, even a loopback
one: behind a proxy on the same machine every visitor then shares one address (and its quota), which
is the safe reading; the host is told so at start-up (`same_peer_warning`) and names the proxy to
trust. Through a trusted proxy, X-Forwarded-For is read from the right, skipping the trusted proxies'
own addresses: the first one left was written by the proxy nearest to us, anything left of it by
whoever sent the request.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from imagen_ui.settings import Settings

__all__ = ["IPAddress", "ProxyTrust", "parse_ip", "same_peer_warning"]

log = logging.getLogger(__name__)
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class ProxyTrust:
    """`networks`: the proxies named by the host; `any_peer`: "*"; `private_peers`: any non-public peer is
    the proxy (a Space behind Hugging Face's proxy, a share link's tunnel on loopback), and of the
    forwarded addresses the rightmost public one is the visitor."""

    networks: tuple[IPNetwork, ...] = ()
    any_peer: bool = False
    private_peers: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> ProxyTrust:
        named = [p for p in settings.trusted_proxies if p != "*"]
        return cls(networks=tuple(ipaddress.ip_network(p, strict=False) for p in named),
                   any_peer="*" in settings.trusted_proxies,
                   private_peers=settings.on_spaces or (settings.share and settings.host in LOOPBACK_HOSTS))

    @classmethod
    def of(cls, trust: bool | ProxyTrust) -> ProxyTrust:
        """A ProxyTrust from the older yes/no (yes: `private_peers`)."""
        return trust if isinstance(trust, ProxyTrust) else cls(private_peers=bool(trust))

    def __bool__(self) -> bool:
        return bool(self.networks or self.any_peer or self.private_peers)

    def trusts(self, peer: IPAddress | None) -> bool:
        """Whether `peer` is a proxy whose X-Forwarded-For is believed (an unknown peer: only under
        `private_peers`, as before: a Space's proxy is not always named)."""
        if peer is None:
            return self.private_peers
        if self.any_peer or any(peer in net for net in self.networks if net.version == peer.version):
            return True
        return self.private_peers and not peer.is_global

    def client(self, peer: IPAddress | None, forwarded: Iterable[str]) -> IPAddress | None:
        """The visitor's address: from X-Forwarded-For when `peer` is trusted, else `peer` itself."""
        if not self.trusts(peer):
            return peer
        addresses = [ip for value in forwarded for part in value.split(",") if (ip := parse_ip(part))]
        if not addresses:
            return None if self.private_peers else peer
        if self.private_peers and not (self.networks or self.any_peer):
            for ip in reversed(addresses):
                if ip.is_global:
                    return ip
            return addresses[-1]  # no public address (a LAN behind its own proxy): the nearest hop's view
        for ip in reversed(addresses):
            if not (self.any_peer or any(ip in net for net in self.networks if net.version == ip.version)):
                return ip
        return addresses[0]  # every hop is a trusted proxy: the first one is the visitor


def parse_ip(text: str | None) -> IPAddress | None:
    """An address from "1.2.3.4", "1.2.3.4:80", "[2001:db8::1]:443", "fe80::1%eth0"; None if not one."""
    if not text:
        return None
    text = text.strip().strip('"')
    if len(text) > 64:  # no address is that long: not worth parsing
        return None
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # IPv4 with a port
        text = text.partition(":")[0]
    text = text.partition("%")[0]  # an IPv6 zone names a local interface, not a host
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def same_peer_warning(settings: Settings) -> str | None:
    """What to tell the host once at start-up when every visitor will look like the same address:
    public mode, listening on loopback only (so visitors come through a proxy on this machine), with no
    proxy trusted to say who they are. None otherwise."""
    if not settings.public or settings.host not in LOOPBACK_HOSTS or ProxyTrust.from_settings(settings):
        return None
    hourly, running = settings.quota_images_per_hour, settings.quota_concurrent
    limits = ", ".join([f"{hourly} images an hour" if hourly else "no hourly limit",
                        f"{running} at once" if running else "no limit at once"])
    budget = f" The daily budget (${settings.daily_budget:g}) holds either way." if settings.daily_budget else ""
    return (f"Public mode on {settings.host} with no trusted proxy: visitors can only reach this app through a "
            f"proxy on this machine, so every one of them comes from {settings.host} and they all share one "
            f"quota ({limits}) and one queue. If that proxy sets X-Forwarded-For, name it: --trusted-proxies "
            f"{settings.host} (or IMAGEN_UI_TRUSTED_PROXIES).{budget}")
