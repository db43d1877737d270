"""Demo step zero: the staff logins and the synthetic patients every later step builds on."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from ketaclinic.services import accounts
from ketaclinic.services.demo.context import DemoContext
from ketaclinic.services.patients import records, registry
from ketaclinic.services.permissions import SYSTEM, Actor
from ketaclinic.store.db import Database
from ketaclinic.store.tables.accounts import User

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


def ensure_logins(db: Database) -> dict[str, Actor]:
    """The demo staff accounts, created once."""
    return _ensure_logins(db)


def seed_patients(db: Database, context: DemoContext, patient_count: int) -> None:
    """Register the synthetic patients."""
    rng = context.rng
    for index in range(patient_count):
        codes, mechanism, treatments = _PROFILES[index % len(_PROFILES)]
        sex = "female" if rng.random() < 0.62 else "male"
        height = rng.gauss(166 if sex == "female" else 178, 7)
        created = registry.register_patient(
            db,
            context.nurse,
            registry.PatientCreate(
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
                prior_treatments=[records.PriorTreatmentIn(name=n, outcome=o) for n, o in treatments],
                notes="Synthetic demo patient: not a real person.",
            ),
            synthetic=True,
            config=context.config,
        )
        context.patient_ids.append(created.id)
        context.full_names[created.id] = f"{created.given_name} {created.family_name}"
