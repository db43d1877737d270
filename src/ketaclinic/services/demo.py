"""The synthetic demo clinic: staff logins and patients, then every capability's own demo records.

Service modules that define `seed_demo(db, context)` (and an integer `DEMO_ORDER`) are discovered and
run in order, so each capability seeds its own records on top of the patients made here.
"""

from __future__ import annotations

import importlib
import pkgutil
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import func, select

from ketaclinic import services
from ketaclinic.services import accounts, patients
from ketaclinic.services.permissions import SYSTEM, Actor
from ketaclinic.store.db import Database
from ketaclinic.store.tables.accounts import User
from ketaclinic.store.tables.patients import Patient

DEMO_LOGINS: tuple[tuple[str, str, str, str], ...] = (
    ("admin", "admin", "admin-demo-pass", "Alex Admin"),
    ("drsmith", "physician", "physician-demo-pass", "Dr Sam Smith"),
    ("nurse", "nurse", "nurse-demo-pass", "Nina Nurse"),
    ("researcher", "researcher", "researcher-demo-pass", "Rita Researcher"),
    ("drjones", "physician", "physician2-demo-pass", "Dr Jo Jones"),
)

# (diagnosis codes, mechanism, prior treatments) per synthetic patient profile.
_PROFILES: tuple[tuple[list[str], str, list[tuple[str, str]]], ...] = (
    (
        ["G50.0"],
        "neuropathic",
        [("carbamazepine", "failed"), ("oxcarbazepine", "intolerant"), ("baclofen", "failed")],
    ),
    (
        ["G50.1"],
        "nociplastic",
        [("amitriptyline", "failed"), ("gabapentin", "partial"), ("pregabalin", "failed")],
    ),
    (
        ["G90.50"],
        "nociplastic",
        [("physiotherapy", "partial"), ("gabapentin", "failed"), ("amitriptyline", "failed")],
    ),
    (
        ["M79.7"],
        "nociplastic",
        [("duloxetine", "failed"), ("pregabalin", "intolerant"), ("amitriptyline", "failed")],
    ),
    (
        ["B02.23"],
        "neuropathic",
        [("pregabalin", "failed"), ("lidocaine patch", "partial"), ("amitriptyline", "failed")],
    ),
    (
        ["E11.42"],
        "neuropathic",
        [("duloxetine", "failed"), ("pregabalin", "failed"), ("tapentadol", "intolerant")],
    ),
    (
        ["G89.4"],
        "nociceptive",
        [("paracetamol", "failed"), ("naproxen", "failed"), ("tramadol", "intolerant")],
    ),
)
_GIVEN = (
    "Ava",
    "Ben",
    "Cleo",
    "Dan",
    "Eva",
    "Finn",
    "Gia",
    "Hugo",
    "Iris",
    "Jon",
    "Kira",
    "Leo",
    "Mia",
    "Noah",
    "Olga",
    "Paul",
    "Quinn",
    "Rosa",
    "Sven",
    "Tara",
    "Uma",
    "Vic",
    "Wren",
    "Xavi",
    "Yara",
    "Zeno",
)
_FAMILY = ("Testa", "Demo", "Sample", "Fictus", "Imago", "Proxy", "Mock", "Placebo")


@dataclass
class DemoContext:
    """What earlier demo steps made, for later ones to build on."""

    rng: random.Random
    physician: Actor
    second_physician: Actor
    nurse: Actor
    researcher: Actor
    patient_ids: list[int] = field(default_factory=list)
    today: date = field(default_factory=date.today)


def _demo_steps() -> list[Callable[[Database, DemoContext], None]]:
    steps: list[tuple[int, Callable[[Database, DemoContext], None]]] = []
    for module_info in pkgutil.iter_modules(services.__path__):
        if module_info.name == "demo":
            continue
        module = importlib.import_module(f"{services.__name__}.{module_info.name}")
        seeder = getattr(module, "seed_demo", None)
        if callable(seeder):
            steps.append((int(getattr(module, "DEMO_ORDER", 50)), seeder))
    return [step for _, step in sorted(steps, key=lambda s: s[0])]


def is_seeded(db: Database) -> bool:
    """True when the demo clinic is already there."""
    with db.transaction() as session:
        return bool(
            session.execute(
                select(func.count()).select_from(Patient).where(Patient.synthetic.is_(True))
            ).scalar_one()
        )


def _ensure_logins(db: Database) -> dict[str, Actor]:
    actors: dict[str, Actor] = {}
    for username, role, password, full_name in DEMO_LOGINS:
        with db.transaction() as session:
            user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
            existing = accounts.actor_of(user) if user else None
        actors[username] = existing or accounts.create_user(
            db, SYSTEM, username=username, role=role, password=password, full_name=full_name
        )
    return actors


def seed_demo(db: Database, *, patient_count: int = 28, seed: int = 20240101) -> DemoContext:
    """Create the synthetic clinic (idempotent: does nothing to an already seeded database)."""
    actors = _ensure_logins(db)
    context = DemoContext(
        rng=random.Random(seed),
        physician=actors["drsmith"],
        second_physician=actors["drjones"],
        nurse=actors["nurse"],
        researcher=actors["researcher"],
    )
    if is_seeded(db):
        return context
    rng = context.rng
    for index in range(patient_count):
        codes, mechanism, treatments = _PROFILES[index % len(_PROFILES)]
        sex = "female" if rng.random() < 0.62 else "male"
        height = rng.gauss(166 if sex == "female" else 178, 7)
        created = patients.register_patient(
            db,
            context.nurse,
            patients.PatientCreate(
                mrn=f"DEMO-{1001 + index}",
                family_name=f"{_FAMILY[index % len(_FAMILY)]}",
                given_name=_GIVEN[index % len(_GIVEN)],
                birth_date=context.today - timedelta(days=int(365.25 * rng.uniform(24, 78))),
                sex=sex,
                weight_kg=round(rng.uniform(52, 108), 1),
                height_cm=round(height, 0),
                diagnoses=codes,
                pain_mechanism=mechanism,
                pain_duration_months=rng.randint(14, 180),
                prior_treatments=[patients.PriorTreatmentIn(name=n, outcome=o) for n, o in treatments],
                notes="Synthetic demo patient: not a real person.",
            ),
            synthetic=True,
        )
        context.patient_ids.append(created.id)
    for step in _demo_steps():
        step(db, context)
    return context
