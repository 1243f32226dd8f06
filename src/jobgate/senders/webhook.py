"""Webhook POSTs over HTTP, through the SSRF guard (:mod:`jobgate.domain.addresses`).

The host is resolved here, every address it resolves to is checked, and the connection goes to
the checked address (the URL's host kept in ``Host`` and, for https, in the TLS server name), so
a name that resolves inward — at the first lookup or a later one (DNS rebinding) — is refused.
Redirects are never followed: a 3xx is a failed delivery. Connect and read timeouts bound each
attempt.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import httpx

from jobgate.domain.addresses import Allowed, IPAddress, literal, refusal
from jobgate.services.notify import SendResult

Resolver = Callable[[str, int], list[str]]


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (A and AAAA)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class HttpWebhookSender:
    def __init__(
        self,
        allowed: Allowed,
        *,
        connect_timeout: float,
        read_timeout: float,
        resolver: Resolver = resolve,
    ) -> None:
        self._allowed = allowed
        self._resolve = resolver
        self._client = httpx.Client(
            follow_redirects=False,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            trust_env=False,  # no proxy from the environment: the guard decides where we go
        )

    def addresses(self, host: str, port: int) -> list[IPAddress] | str:
        """The addresses to connect to, or why the host may not be reached."""
        import ipaddress

        fixed = literal(host)
        try:
            found = [fixed] if fixed is not None else [
                ipaddress.ip_address(a.split("%", 1)[0]) for a in self._resolve(host, port)
            ]  # fmt: skip
        except OSError as exc:
            return f"cannot resolve {host!r}: {exc}"
        if not found:
            return f"{host!r} resolves to no address"
        if not self._allowed.host(host):
            for ip in found:
                why = refusal(ip, self._allowed)
                if why:
                    return f"refused: {host} → {why}"
        return found

    def post(self, url: str, headers: dict[str, str], body: str) -> SendResult:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        found = self.addresses(host, port)
        if isinstance(found, str):
            return SendResult(False, error=found)
        ip = found[0]
        netloc = f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"
        target = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        try:
            answer = self._client.post(
                target,
                content=body.encode(),
                headers={
                    **headers,
                    "content-type": "application/json",
                    "user-agent": "jobgate-webhooks",
                    "host": parts.netloc.rsplit("@", 1)[-1],
                },
                extensions=extensions,
            )
        except httpx.HTTPError as exc:
            return SendResult(False, error=f"{type(exc).__name__}: {exc}"[:500])
        ok = 200 <= answer.status_code < 300
        return SendResult(ok, answer.status_code, None if ok else f"HTTP {answer.status_code}")

    def close(self) -> None:
        self._client.close()
