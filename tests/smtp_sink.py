"""A real SMTP server on loopback (aiosmtpd) that keeps what it accepts, and can refuse on purpose."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Sink:
    """What the server accepted, and how it answers: `refuse_rcpt` 550s those addresses, `busy` 451s all."""

    port: int = 0
    received: list[Message] = field(default_factory=list)
    refuse_rcpt: set[str] = field(default_factory=set)
    busy: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802
        """Refuse an address for good (550) or for now (451), else accept it."""
        if self.busy:
            return "451 4.3.0 try again later"
        if address in self.refuse_rcpt:
            return f"550 5.1.1 <{address}>: user unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        """Keep the accepted message."""
        with self.lock:
            self.received.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    @property
    def url(self) -> str:
        """The KETACLINIC_SMTP_URL that reaches this server."""
        return f"smtp://127.0.0.1:{self.port}"

    def message_ids(self) -> list[str]:
        """The Message-ID of every accepted message, in arrival order."""
        with self.lock:
            return [str(m["Message-ID"]) for m in self.received]


@contextmanager
def smtp_sink() -> Iterator[Sink]:
    """Start the server on a free loopback port; stop it afterwards."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = Sink(port=port)
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


def text_of(mail: Message) -> str:
    """The decoded text of an accepted message (its transfer encoding undone)."""
    assert isinstance(mail, EmailMessage)
    return str(mail.get_content())
