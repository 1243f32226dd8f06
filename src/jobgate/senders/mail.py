"""Email: over SMTP (STARTTLS when the server offers it), or into the local mail outbox."""

from __future__ import annotations

import smtplib
import time
from collections.abc import Callable
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from jobgate.ports import MailOutbox
from jobgate.services.notify import SendResult


class SmtpMailSender:
    """``smtp://user:password@host:port`` (user and password optional; port 25 by default)."""

    def __init__(self, url: str, sender: str, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme != "smtp" or not parts.hostname:
            raise ValueError("JOBGATE_SMTP_URL must look like smtp://user:password@host:port")
        self._host, self._port = parts.hostname, parts.port or 25
        self._user = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self._sender = sender
        self._timeout = timeout

    def send(self, recipient: str, subject: str, text: str) -> SendResult:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self._sender, recipient, subject
        message.set_content(text)
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
                smtp.ehlo()
                if smtp.has_extn("starttls"):
                    smtp.starttls()
                    smtp.ehlo()
                if self._user is not None:
                    smtp.login(self._user, self._password or "")
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            return SendResult(False, error=f"{type(exc).__name__}: {exc}"[:500])
        return SendResult(True)


class OutboxMailSender:
    """Keeps email in the backend's mail outbox (read with ``jobgate outbox``)."""

    def __init__(self, outbox: MailOutbox, clock: Callable[[], float] = time.time) -> None:
        self._outbox = outbox
        self._clock = clock

    def send(self, recipient: str, subject: str, text: str) -> SendResult:
        self._outbox.send(recipient, subject, text, self._clock())
        return SendResult(True)
