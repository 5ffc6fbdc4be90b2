"""Where the sandbox may listen: it accepts any key, so on loopback unless told otherwise."""

from __future__ import annotations

import ipaddress
import socket


def is_loopback(host: str) -> bool:
    """True when every address `host` stands for is a loopback one (127.0.0.0/8, ::1).

    An IP literal is judged as it is; a name such as `localhost` is resolved, because a hosts
    file can point it anywhere. A name that does not resolve is not loopback.
    """
    try:
        return bool(loopback_addresses(host))
    except ValueError:
        return False


def loopback_addresses(host: str) -> list[str]:
    """The addresses `host` resolves to, if all are loopback; ValueError naming the culprit."""
    addresses = resolve(host)
    remote = [a for a in addresses if not ipaddress.ip_address(a).is_loopback]
    if remote:
        raise ValueError(f"{host} resolves to {', '.join(remote)}, which is not loopback")
    return addresses


def resolve(host: str) -> list[str]:
    """Every distinct address of `host` (an IP literal gives itself), in resolver order."""
    literal = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return [str(ipaddress.ip_address(literal))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(literal, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise ValueError(f"cannot resolve {host!r}: {exc}") from None
    found: list[str] = []
    for info in infos:
        address = str(info[4][0]).split("%")[0]  # drop an IPv6 zone id
        if address not in found:
            found.append(address)
    if not found:
        raise ValueError(f"cannot resolve {host!r}: no addresses")
    return found
