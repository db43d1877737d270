"""Roles and what each may do: the one place permissions are decided."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ketaclinic.errors import PermissionDeniedError


class Role(StrEnum):
    """Staff roles."""

    ADMIN = "admin"
    PHYSICIAN = "physician"
    NURSE = "nurse"
    RESEARCHER = "researcher"


class Permission(StrEnum):
    """Things a user can be allowed to do."""

    USERS_MANAGE = "users.manage"
    CONFIG_MANAGE = "config.manage"
    AUDIT_VIEW = "audit.view"
    TOKENS_OWN = "tokens.own"
    PATIENTS_VIEW = "patients.view"
    PATIENTS_EDIT = "patients.edit"
    PATIENTS_VIEW_DEIDENTIFIED = "patients.view_deidentified"
    REFERENCE_VIEW = "reference.view"
    PK_EXPLORE = "pk.explore"
    SCREENING_EDIT = "screening.edit"
    SCREENING_SIGN = "screening.sign"
    CONSENT_RECORD = "consent.record"
    PLANS_VIEW = "plans.view"
    PLANS_CREATE = "plans.create"
    PLANS_APPROVE = "plans.approve"
    PLANS_COSIGN = "plans.cosign"
    SESSIONS_VIEW = "sessions.view"
    SESSIONS_CHART = "sessions.chart"
    SESSIONS_SIGN = "sessions.sign"
    SCHEDULE_BOOK = "schedule.book"
    OUTCOMES_RECORD = "outcomes.record"
    PATIENT_ALERTS_ACKNOWLEDGE = (
        "patient_alerts.acknowledge"  # a patient's answers at home: a physician's call
    )
    ANALYTICS_VIEW = "analytics.view"
    COHORT_IMPORT = "cohort.import"
    EXPORT = "export"
    LEDGER_VIEW = "ledger.view"
    LEDGER_RECEIVE = "ledger.receive"  # receive, return, destroy, report a loss
    LEDGER_ADJUST = "ledger.adjust"  # book a count difference, reverse an entry, accept a discrepancy
    LEDGER_DISPENSE = "ledger.dispense"  # prepare for a session, record its waste
    LEDGER_COUNT = "ledger.count"
    LEDGER_WITNESS = "ledger.witness"  # witness a waste or destruction, check a preparation, count second


_CLINICAL_COMMON = {
    Permission.TOKENS_OWN,
    Permission.PATIENTS_VIEW,
    Permission.PATIENTS_EDIT,
    Permission.REFERENCE_VIEW,
    Permission.PLANS_VIEW,
    Permission.PLANS_COSIGN,
    Permission.SESSIONS_VIEW,
    Permission.SESSIONS_CHART,
    Permission.SESSIONS_SIGN,
    Permission.SCHEDULE_BOOK,
    Permission.OUTCOMES_RECORD,
}

# Admin and physician receive and adjust stock; nurses (and physicians) prepare, waste and count; a
# witness is any other clinical user; researchers see nothing of the ledger.
_LEDGER_CLINICAL = {
    Permission.LEDGER_VIEW,
    Permission.LEDGER_DISPENSE,
    Permission.LEDGER_COUNT,
    Permission.LEDGER_WITNESS,
}
_LEDGER_STOCK = {Permission.LEDGER_VIEW, Permission.LEDGER_RECEIVE, Permission.LEDGER_ADJUST}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(
        {Permission.USERS_MANAGE, Permission.CONFIG_MANAGE, Permission.AUDIT_VIEW, Permission.TOKENS_OWN}
        | _LEDGER_STOCK
    ),
    Role.PHYSICIAN: frozenset(
        _CLINICAL_COMMON
        | {
            Permission.PK_EXPLORE,
            Permission.SCREENING_EDIT,
            Permission.SCREENING_SIGN,
            Permission.CONSENT_RECORD,
            Permission.PLANS_CREATE,
            Permission.PLANS_APPROVE,
            Permission.PATIENT_ALERTS_ACKNOWLEDGE,
            Permission.ANALYTICS_VIEW,
            Permission.COHORT_IMPORT,
            Permission.EXPORT,
        }
        | _LEDGER_CLINICAL
        | _LEDGER_STOCK
    ),
    Role.NURSE: frozenset(_CLINICAL_COMMON | _LEDGER_CLINICAL),
    Role.RESEARCHER: frozenset(
        {
            Permission.TOKENS_OWN,
            Permission.PATIENTS_VIEW_DEIDENTIFIED,
            Permission.REFERENCE_VIEW,
            Permission.PK_EXPLORE,
            Permission.ANALYTICS_VIEW,
            Permission.COHORT_IMPORT,
            Permission.EXPORT,
        }
    ),
}


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: a logged-in user, or the system itself for CLI maintenance."""

    user_id: int | None
    username: str
    role: Role | None
    is_system: bool = False

    @property
    def role_name(self) -> str:
        """The role as recorded in the audit trail."""
        if self.is_system:
            return "system"
        return self.role.value if self.role else "none"

    def can(self, permission: Permission) -> bool:
        """True when this actor holds the permission: the system actor holds all, no role holds none."""
        if self.is_system:
            return True
        return self.role is not None and permission in ROLE_PERMISSIONS[self.role]

    @property
    def sees_identities(self) -> bool:
        """Whether names, birth dates, MRNs and free text may be shown to this actor."""
        return self.can(Permission.PATIENTS_VIEW)


# Record fields that identify a patient (or are free text that may): shown only to actors who
# `sees_identities`, wherever they surface outside the patient's own record (the audit view masks them).
IDENTIFYING_FIELDS = frozenset(
    {
        "mrn",
        "family_name",
        "given_name",
        "birth_date",
        "notes",
        "contact_email",
        "contact_phone",
        "contact_address",
        "referrer_name",
        "referrer_identifier",
        "referrer_address",
        "referrer_email",
    }
)

SYSTEM = Actor(user_id=None, username="system", role=None, is_system=True)


def require(actor: Actor, permission: Permission) -> None:
    """Raise PermissionDeniedError unless the actor holds the permission."""
    if not actor.can(permission):
        raise PermissionDeniedError(f"role {actor.role_name} may not {permission.value}")
