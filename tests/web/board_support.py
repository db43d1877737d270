"""A clinic open around the clock and a series booked from now, so today's board has an appointment at any
hour of the test run (unless the day's last hours are too short for one)."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest

from ketaclinic.services.permissions import Actor
from ketaclinic.services.scheduling import booking
from ketaclinic.services.scheduling.records import AppointmentOut
from ketaclinic.settings import Settings
from ketaclinic.store.db import Database
from tests import factories


def open_all_day(settings: Settings, folder: Path) -> Settings:
    """The settings with a config dir whose calendar is open every day, 00:00-23:59, two chairs."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "clinic_calendar.toml").write_text(
        '[open_weekdays]\nvalue = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]\n'
        '[opens_at]\nvalue = "00:00"\n[closes_at]\nvalue = "23:59"\n'
        '[chairs]\nvalue = [{ id = "c1", name = "Chair 1", kinds = ["outpatient_chair"] },'
        ' { id = "c2", name = "Chair 2", kinds = ["outpatient_chair"] }]\n',
        encoding="utf-8",
    )
    return dataclasses.replace(settings, config_dir=folder)


def booked_today(db: Database, staff: dict[str, Actor], settings: Settings, mrn: str) -> AppointmentOut:
    """Book a plan's series from now; its first appointment (today, or the test is skipped)."""
    plan_id = factories.approved_plan(db, staff, mrn=mrn, protocol_id="valle2024")
    booked = booking.book_series(db, staff["nurse"], booking.BookSeriesIn(plan_id=plan_id), settings)
    first = booked[0]
    if first.starts_at.astimezone().date() != date.today():
        pytest.skip("too late in the day for an appointment today")
    return first
