"""E-mail over SMTP (smtplib): KETACLINIC_SMTP_URL, implicit TLS for smtps://, STARTTLS when offered."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import unquote, urlsplit

from ketaclinic.errors import InputError
from ketaclinic.services.messages.channels import DeliveryResult, OutgoingMessage

SMTP_TIMEOUT_S = 30
_DEFAULT_PORTS = {"smtp": 25, "smtps": 465}


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where and how to reach the SMTP server."""

    host: str
    port: int
    implicit_tls: bool
    username: str | None = None
    password: str | None = None


def parse_smtp_url(url: str) -> SmtpServer:
    """smtp://user:pass@host:port (STARTTLS when offered) or smtps://... (TLS from the first byte).

    >>> parse_smtp_url("smtps://clinic%40example.org:s3cret@mail.example.org").port
    465
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise InputError(
            "expected smtp://[user:password@]host[:port] or smtps://...", field="KETACLINIC_SMTP_URL"
        )
    try:
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise InputError("the port is not a number from 1 to 65535", field="KETACLINIC_SMTP_URL") from None
    return SmtpServer(
        host=parts.hostname,
        port=port,
        implicit_tls=parts.scheme == "smtps",
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def _detail(code: int, text: bytes | str, address: str) -> str:
    """An SMTP answer for last_error, with the patient's address taken out (servers often echo it)."""
    said = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    said = said.replace(f"<{address}>", "the address").replace(address, "the address")
    return f"SMTP {code}: {said}"[:300]


class SmtpChannel:
    """The e-mail channel: one SMTP conversation per message."""

    name = "email"

    def __init__(self, server: SmtpServer, mail_from: str) -> None:
        self.server = server
        self.mail_from = mail_from

    def compose(self, message: OutgoingMessage) -> EmailMessage:
        """The e-mail: the outbox row's fixed Message-ID, and the opt-out link as List-Unsubscribe."""
        mail = EmailMessage()
        mail["From"] = self.mail_from
        mail["To"] = message.address
        mail["Subject"] = message.subject
        mail["Date"] = formatdate(localtime=True)
        mail["Message-ID"] = message.message_id
        if message.opt_out_url:
            mail["List-Unsubscribe"] = f"<{message.opt_out_url}>"
        mail.set_content(message.body)
        return mail

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if self.server.implicit_tls:
            return smtplib.SMTP_SSL(
                self.server.host, self.server.port, timeout=SMTP_TIMEOUT_S, context=context
            )
        client = smtplib.SMTP(self.server.host, self.server.port, timeout=SMTP_TIMEOUT_S)
        client.ehlo()
        if client.has_extn("starttls"):
            client.starttls(context=context)
            client.ehlo()
        return client

    def send(self, message: OutgoingMessage) -> DeliveryResult:
        """One delivery attempt; 5xx is permanent (on RCPT: the address is refused), the rest retried."""
        try:
            with self._connect() as client:
                if self.server.username:
                    client.login(self.server.username, self.server.password or "")
                client.send_message(self.compose(message))
        except smtplib.SMTPRecipientsRefused as refused:
            code, text = next(iter(refused.recipients.values()))
            permanent = 500 <= code < 600
            return DeliveryResult(
                False, _detail(code, text, message.address), permanent=permanent, address_refused=permanent
            )
        except smtplib.SMTPResponseException as answer:
            permanent = 500 <= answer.smtp_code < 600 and answer.smtp_code not in (530, 535)
            return DeliveryResult(
                False, _detail(answer.smtp_code, answer.smtp_error, message.address), permanent=permanent
            )
        except (smtplib.SMTPException, OSError) as trouble:
            # Connection refused, timeout, TLS trouble: the server may be back on the next attempt.
            return DeliveryResult(False, f"{type(trouble).__name__}: {trouble}"[:300])
        return DeliveryResult(True)
