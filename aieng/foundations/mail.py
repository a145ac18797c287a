"""Email for programs: a real SMTP server on loopback that keeps what it receives, and a sender.

Taught in Month 9 (chapters/09-agents), where an agent emails a report; reused by the multi-agent chapter.

:class:`MailServer` runs ``aiosmtpd`` (a full SMTP server, the protocol real mail servers speak) in a
background thread on ``127.0.0.1``, on a free port, and keeps every message it accepts, parsed, in
:attr:`MailServer.messages`. It is a context manager: leaving the ``with`` block stops the server, joins
its thread and frees the port (``tests/test_mail.py`` checks that nothing is left behind).

>>> from aieng.foundations.mail import MailServer, send_message
>>> with MailServer() as server:
...     send_message(msg, server.address)
...     received = server.messages[0]

:func:`send_message` speaks SMTP to any server: the loopback one above, or a real relay given as
``"host:port"`` (for a relay that needs a login, pass ``username`` and ``password``; STARTTLS is used when the
server offers it). A refusal (a recipient rejected, the server unreachable) raises :class:`MailError` saying
what the server answered.
"""

from __future__ import annotations

import email
import email.policy
import smtplib
import socket
import threading
from collections.abc import Callable, Iterable
from email.message import EmailMessage
from typing import Any

__all__ = ["MailError", "MailServer", "parse_address", "send_message"]


class MailError(RuntimeError):
    """The message could not be delivered; the text says what the SMTP server answered."""


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class _Keep:
    """The aiosmtpd handler: refuse recipients a rule rejects, keep the rest as parsed messages."""

    def __init__(self, server: MailServer) -> None:
        self.server = server

    async def handle_RCPT(self, srv: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if not self.server.accepts(address):
            return f"550 5.1.1 <{address}>: recipient refused by this server"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, srv: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        with self.server._lock:
            self.server.messages.append(msg)
            self.server.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class MailServer:
    """An SMTP server on loopback, in a background thread, that keeps the messages it accepts.

    Parameters
    ----------
    host
        Interface to listen on (loopback by default: nothing outside this machine can reach it).
    port
        Port; ``0`` (default) picks a free one.
    accept
        Which recipients to accept: ``None`` accepts all; a collection of domains (``{"example.com"}``)
        or a function ``address -> bool``. A refused recipient gets SMTP's ``550`` reply.

    Attributes
    ----------
    messages
        Every accepted message, parsed (:class:`email.message.EmailMessage`), in arrival order.
    envelopes
        ``(mail_from, recipients)`` of each accepted message.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0,
                 accept: Iterable[str] | Callable[[str], bool] | None = None) -> None:
        self.host = host
        self.port = port
        if accept is None or callable(accept):
            self._accept = accept
        else:
            domains = {d.lower().lstrip("@") for d in accept}
            self._accept = lambda address: address.rsplit("@", 1)[-1].lower() in domains
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._lock = threading.Lock()
        self._controller: Any = None

    def accepts(self, address: str) -> bool:
        """Whether this server takes mail for ``address``."""
        return self._accept is None or bool(self._accept(address))

    @property
    def address(self) -> str:
        """``"host:port"``, the form :func:`send_message` takes."""
        if self._controller is None:
            raise MailError("the mail server is not running: use it inside `with MailServer() as server:`")
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> MailServer:
        """Start listening (a free port is chosen when ``port=0``); returns ``self``."""
        from aiosmtpd.controller import Controller

        if self._controller is not None:
            return self
        last: Exception | None = None
        for _ in range(3):  # a port picked as free may be taken before we bind it: try another
            port = self.port or _free_port(self.host)
            controller = Controller(_Keep(self), hostname=self.host, port=port, ready_timeout=10)
            try:
                controller.start()
            except Exception as exc:  # noqa: BLE001 - retried, then reported
                last = exc
                if self.port:
                    break
                continue
            self._controller, self.port = controller, port
            return self
        raise MailError(f"could not start the SMTP server on {self.host}:{self.port or 'a free port'}: {last}")

    def stop(self) -> None:
        """Stop the server, join its thread and free the port (safe to call twice)."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> MailServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = f"{self.host}:{self.port}" if self.running else "stopped"
        return f"MailServer({where}, {len(self.messages)} message(s))"


def parse_address(server: str) -> tuple[str, int]:
    """``"host:port"`` -> ``(host, port)``; raises ``ValueError`` for anything else."""
    host, sep, port = server.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"an SMTP server is 'host:port', e.g. '127.0.0.1:8025'; got {server!r}")
    return host, int(port)


def send_message(msg: EmailMessage, server: str, *, timeout: float = 10.0, username: str | None = None,
                 password: str | None = None) -> None:
    """Deliver ``msg`` through the SMTP server at ``"host:port"``.

    Raises :class:`MailError` with the server's answer when it refuses a recipient or the message, and when
    it cannot be reached; ``ValueError`` for a malformed address or a message without ``From``/``To``.
    """
    host, port = parse_address(server)
    if not msg.get("From") or not msg.get("To"):
        raise ValueError("a message needs From and To headers")
    try:
        with smtplib.SMTP(host, port, timeout=timeout) as smtp:
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls()
                smtp.ehlo()
            if username is not None:
                smtp.login(username, password or "")
            smtp.send_message(msg)
    except smtplib.SMTPRecipientsRefused as exc:
        why = "; ".join(f"{a}: {code} {text.decode(errors='replace')}" for a, (code, text) in exc.recipients.items())
        raise MailError(f"the SMTP server at {server} refused the recipient(s): {why}") from None
    except smtplib.SMTPResponseException as exc:
        raise MailError(f"the SMTP server at {server} refused the message: {exc.smtp_code} "
                        f"{exc.smtp_error.decode(errors='replace') if isinstance(exc.smtp_error, bytes) else exc.smtp_error}"
                        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(f"could not deliver through the SMTP server at {server}: {type(exc).__name__}: {exc}") from None
