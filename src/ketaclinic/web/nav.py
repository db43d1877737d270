"""Navigation entries; each route module may declare `NAV`, shown to roles holding the permission."""

from __future__ import annotations

from dataclasses import dataclass

from ketaclinic.services.permissions import Permission


@dataclass(frozen=True, slots=True)
class NavItem:
    """One link of the top navigation."""

    label: str
    href: str
    permission: Permission
    order: int = 50
