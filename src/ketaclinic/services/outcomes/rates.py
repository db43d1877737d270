"""The clinic's own response rates per diagnosis, for the screening evidence."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from sqlalchemy.orm import Session

from ketaclinic.outcomes import (
    evaluate_responders,
    get_definition,
)
from ketaclinic.outcomes.definitions import DEFAULT_DEFINITION
from ketaclinic.screening import ClinicRate
from ketaclinic.services.outcomes.facts import course_facts


def clinic_response_rates(session: Session, definition_id: str = DEFAULT_DEFINITION) -> dict[str, ClinicRate]:
    """The clinic's own responders per diagnosis group, from its recorded outcomes (evaluable courses)."""
    facts = [f for f in course_facts(session) if f.evaluable]
    if not facts:
        return {}
    result = evaluate_responders(
        get_definition(definition_id),
        np.array([np.nan if f.baseline_nrs is None else f.baseline_nrs for f in facts], dtype=np.float64),
        np.array([np.nan if f.followup_nrs is None else f.followup_nrs for f in facts], dtype=np.float64),
        [f.discontinued for f in facts],
    )
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for fact, responder in zip(facts, result.responder.tolist(), strict=True):
        counts[fact.group][0] += 1
        counts[fact.group][1] += int(responder)
    return {group: ClinicRate(n=n, responders=r) for group, (n, r) in sorted(counts.items())}
