"""The channel interface every delivery channel implements (e-mail ships; SMS would be another)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """What a channel needs to deliver one outbox row: its fixed Message-ID, the address and the text."""

    message_id: str
    address: str
    subject: str
    body: str
    opt_out_url: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """How one attempt went: delivered, or why not; `permanent` stops the retries.

    `address_refused` says the address itself was refused for good (SMTP 5xx on RCPT): the patient's
    address is then marked undeliverable. `detail` never carries the address or the text.
    """

    delivered: bool
    detail: str = ""
    permanent: bool = False
    address_refused: bool = False


class Channel(Protocol):
    """A way of reaching a patient: `send` makes one attempt and never raises for a delivery failure."""

    name: str

    def send(self, message: OutgoingMessage) -> DeliveryResult:
        """Try to deliver `message` once."""
        ...
