"""What earlier demo steps made, for later ones to build on."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from ketaclinic.services.permissions import Actor
from ketaclinic.settings import Settings


@dataclass
class DemoContext:
    """What earlier demo steps made, for later ones to build on."""

    rng: random.Random
    physician: Actor
    second_physician: Actor
    nurse: Actor
    researcher: Actor
    config: Settings | Path | None  # the clinic's library and policies the demo is checked against
    patient_ids: list[int] = field(default_factory=list)
    full_names: dict[int, str] = field(default_factory=dict)  # patient id -> "given family", as signed
    today: date = field(default_factory=date.today)
