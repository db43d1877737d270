"""When a session may start, end early and be discharged, and the recovery facts shown beside the checklist.

The numbers are the clinic's ending policy (monitoring.ending: shipped session_ending.toml, overridden
by session_ending.toml in the clinic's config directory).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaclinic.errors import ConflictError
from ketaclinic.monitoring import DischargeResult, discharge_check
from ketaclinic.monitoring.concentration import minute_cp_falls_below
from ketaclinic.monitoring.ending import (
    EndingPolicy,
    ends_early,
    load_ending_policy,
    recovery_items,
    start_timing_concerns,
    with_items,
)
from ketaclinic.pharmacology import get_band
from ketaclinic.services.reference import clinic_library
from ketaclinic.services.sessions.charting import (
    INFUSING,
    Config,
    baseline_of,
    bolus_doses,
    infusions,
    minutes_between,
    observation_of,
    observation_rows,
    pk_weight_kg,
    plan_of,
    segment_rows,
)
from ketaclinic.settings import Settings
from ketaclinic.store.tables.plans import DosePlanRow
from ketaclinic.store.tables.sessions import InfusionSession

POLICY_FILE = "session_ending.toml"


def ending_policy(config: Config) -> EndingPolicy:
    """The clinic's ending policy: shipped defaults with its config directory's session_ending.toml."""
    config_dir = config.config_dir if isinstance(config, Settings) else config
    return load_ending_policy(None if config_dir is None else Path(config_dir) / POLICY_FILE)


def planned_end_min(session: Session, row: InfusionSession) -> float | None:
    """Minutes from the start at which the approved plan's infusion ends."""
    return max((s.end_min for s in plan_of(session, row).segments), default=None)


def check_start(session: Session, row: InfusionSession, at: datetime, reason: str, config: Config) -> None:
    """Refuse a start while another session of the plan runs, or out of schedule without a reason."""
    # Two nurses starting two sessions of one plan at once: the plan row's lock makes the second wait
    # and then see the first one infusing (SQLite already serialises writers).
    session.execute(select(DosePlanRow.id).where(DosePlanRow.id == row.plan_id).with_for_update())
    others = session.execute(
        select(InfusionSession).where(InfusionSession.plan_id == row.plan_id, InfusionSession.id != row.id)
    ).scalars()
    earlier: list[tuple[datetime, int]] = []
    for other in others:
        if other.state in INFUSING:
            raise ConflictError(
                f"session {other.session_number} (id {other.id}) of plan {row.plan_id} is still infusing: "
                "end it before starting another",
                field="session",
            )
        if other.started_at is not None and other.session_number < row.session_number:
            earlier.append((other.started_at, other.session_number))
    previous = max(earlier, default=None)
    protocol = clinic_library(config).protocols.get(plan_of(session, row).protocol_id)
    # A protocol the clinic no longer has sets no spacing; the planned date still holds.
    interval_days = 0.0 if protocol is None else float(protocol.schedule.interval_days.value)
    concerns = start_timing_concerns(
        row.scheduled_on,
        at.astimezone().date(),  # the clinic calendar: plans are dated in local time (date.today)
        None if previous is None else (previous[1], previous[0].astimezone().date()),
        interval_days,
    )
    if concerns and not reason:
        raise ConflictError(
            f"starting now is {'; '.join(concerns)}: that needs a reason", field="start_reason"
        )


def check_end(session: Session, row: InfusionSession, at: datetime, reason: str, config: Config) -> bool:
    """Whether completing at `at` ends the infusion early; a ConflictError when it does without a reason."""
    early = is_early_end(session, row, at, config)
    if early and not reason:
        assert row.started_at is not None  # an early end has a start
        raise ConflictError(
            f"the infusion is at {minutes_between(row.started_at, at):.0f} of "
            f"{planned_end_min(session, row):g} planned min: ending it early needs a reason",
            field="early_end_reason",
        )
    return early


def is_early_end(session: Session, row: InfusionSession, at: datetime, config: Config) -> bool:
    """Whether ending the infusion at `at` is more than the clinic's margin before the plan's end."""
    if row.started_at is None:
        return False
    planned = planned_end_min(session, row)
    return ends_early(
        minutes_between(row.started_at, at), planned, ending_policy(config).early_end_margin_min
    )


def discharge_verdict(
    session: Session, row: InfusionSession, at: datetime, answers: Mapping[str, bool], config: Config
) -> DischargeResult:
    """The checklist judged on readings after the infusion ended, with the recovery time and vitals lines."""
    policy = ending_policy(config)
    after = (
        []
        if row.ended_at is None
        else [
            observation_of(row, o) for o in observation_rows(session, row.id) if o.observed_at >= row.ended_at
        ]
    )
    since_end = 0.0 if row.ended_at is None else minutes_between(row.ended_at, at)
    result = discharge_check(baseline_of(session, row), after[-1] if after else None, answers)
    return with_items(result, recovery_items(since_end, policy.recovery_min, after))


class DecrementOut(BaseModel):
    """When the predicted Cp falls below the band's lower edge after the end (model, weight, band named)."""

    threshold_ng_ml: float
    band_label: str
    band_source: str
    model_key: str
    weight_kg: float
    t_min: float | None
    at: datetime | None
    minutes_after_end: float | None


class RecoveryOut(BaseModel):
    """The recovery facts beside the checklist: the earliest discharge time and the PK decrement time."""

    ended_at: datetime
    recovery_min: float
    discharge_from: datetime
    source: str
    status: str
    decrement: DecrementOut


def recovery_out(session: Session, row: InfusionSession, config: Config) -> RecoveryOut | None:
    """The recovery facts once the infusion has ended."""
    if row.ended_at is None or row.started_at is None:
        return None
    policy = ending_policy(config)
    band = get_band(str(policy.decrement_band))
    end_min = minutes_between(row.started_at, row.ended_at)
    t = minute_cp_falls_below(
        row.model_key,
        pk_weight_kg(row),
        infusions(row, segment_rows(session, row.id), row.ended_at),
        end_min,
        band.low_ng_ml,
        boluses=bolus_doses(session, row),
    )
    source = policy.sources["recovery_min"]
    return RecoveryOut(
        ended_at=row.ended_at,
        recovery_min=policy.recovery_min,
        discharge_from=row.ended_at + timedelta(minutes=policy.recovery_min),
        source=source.source,
        status=source.status.value,
        decrement=DecrementOut(
            threshold_ng_ml=band.low_ng_ml,
            band_label=band.label,
            band_source=band.source,
            model_key=row.model_key,
            weight_kg=pk_weight_kg(row),
            t_min=t,
            at=None if t is None else row.started_at + timedelta(minutes=t),
            minutes_after_end=None if t is None else max(t - end_min, 0.0),
        ),
    )
