"""`ketaclinic worker`'s loop: the scheduler step, then claim, send and record until nothing is due."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from ketaclinic.errors import InputError
from ketaclinic.services.messages.channels import Channel, DeliveryResult
from ketaclinic.services.messages.delivery import claim, record
from ketaclinic.services.messages.email import SmtpChannel, parse_smtp_url
from ketaclinic.services.messages.policy import MessagePolicy, load_policy
from ketaclinic.services.messages.scheduler import ScheduledCounts, schedule_due
from ketaclinic.settings import Settings
from ketaclinic.store.base import utcnow
from ketaclinic.store.db import Database


@dataclass(slots=True)
class PassReport:
    """What one pass of the worker did."""

    scheduled: ScheduledCounts = field(default_factory=ScheduledCounts)
    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: str) -> None:
        """Count one attempt's outcome (sent, queued for a retry, failed, lost)."""
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


def worker_name() -> str:
    """This worker's name in claims and the audit trail: host and process."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100_000}"[:64]


def channels_for(settings: Settings) -> dict[str, Channel]:
    """The channels this installation sends through: e-mail once KETACLINIC_SMTP_URL is set."""
    if not settings.smtp_url:
        raise InputError(
            "not set: the worker has no channel to send messages through", field="KETACLINIC_SMTP_URL"
        )
    return {"email": SmtpChannel(parse_smtp_url(settings.smtp_url), settings.mail_from)}


def run_pass(
    db: Database,
    settings: Settings,
    channels: Mapping[str, Channel],
    *,
    worker: str,
    policy: MessagePolicy | None = None,
    now: Callable[[], datetime] = utcnow,
) -> PassReport:
    """Queue what is due, then deliver every due message this worker can claim."""
    policy = policy or load_policy(settings)
    report = PassReport(scheduled=schedule_due(db, settings, policy, now()))
    while (held := claim(db, settings, worker, now(), policy)) is not None:
        channel = channels.get(held.channel)
        result = (
            channel.send(held.outgoing)
            if channel is not None
            else DeliveryResult(False, f"this worker has no {held.channel} channel")
        )
        report.count(record(db, held, result, now(), policy))
    return report


def run(
    db: Database,
    settings: Settings,
    channels: Mapping[str, Channel],
    *,
    poll_s: float,
    once: bool,
    stop: threading.Event | None = None,
    on_pass: Callable[[PassReport], None] | None = None,
) -> None:
    """Run passes every `poll_s` seconds until `stop` is set (or once)."""
    stop = stop or threading.Event()
    worker = worker_name()
    policy = load_policy(settings)
    while True:
        report = run_pass(db, settings, channels, worker=worker, policy=policy)
        if on_pass is not None:
            on_pass(report)
        if once or stop.wait(poll_s):
            return
