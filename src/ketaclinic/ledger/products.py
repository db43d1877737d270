"""Controlled-substance products: drug, form, strength and container volume, with the NDC checked.

An NDC is printed in one of three 10-digit layouts (labeler-product-package 4-4-2, 5-3-2 or 5-4-1)
or as the 11-digit 5-4-2 form billing systems use; the 10-digit forms are padded to 11 digits by a
leading zero in the short segment (FDA National Drug Code Directory).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from ketaclinic.errors import InputError

# Segment lengths (labeler, product, package) of each accepted layout.
NDC_LAYOUTS: tuple[tuple[int, int, int], ...] = ((4, 4, 2), (5, 3, 2), (5, 4, 1), (5, 4, 2))
_NDC_SHAPE = re.compile(r"^(\d+)-(\d+)-(\d+)$")
# The controlled drugs the ledger keeps (their schedules are in the jurisdiction files).
CONTROLLED_DRUGS: tuple[str, ...] = ("ketamine", "esketamine", "midazolam")
# The product a session's drug (the PK engine's name for it) is drawn from.
SESSION_DRUG_PRODUCTS: dict[str, str] = {"racemic": "ketamine", "s-ketamine": "esketamine"}


def product_drug(session_drug: str) -> str:
    """The ledger's drug for a session's infusion drug (racemic: ketamine; s-ketamine: esketamine)."""
    return SESSION_DRUG_PRODUCTS.get(session_drug, session_drug)


class Form(StrEnum):
    """The finished form of a product (21 CFR 1304.22(c) asks for it)."""

    INJECTION_SOLUTION = "injection_solution"


@dataclass(frozen=True, slots=True)
class Ndc:
    """A National Drug Code as printed and in its 11-digit 5-4-2 form."""

    printed: str
    eleven_digit: str


def parse_ndc(text: str, *, field: str = "ndc") -> Ndc:
    """Check an NDC's digits and hyphen layout (4-4-2, 5-3-2, 5-4-1 or 5-4-2); InputError naming `field`.

    >>> parse_ndc("1234-5678-90").eleven_digit  # an example code, not a real product
    '01234-5678-90'
    """
    value = text.strip()
    match = _NDC_SHAPE.match(value)
    if match is None:
        raise InputError(
            "an NDC is three groups of digits joined by hyphens (4-4-2, 5-3-2, 5-4-1 or 5-4-2)", field=field
        )
    parts = match.groups()
    layout = tuple(len(p) for p in parts)
    if layout not in NDC_LAYOUTS:
        shown = "-".join(str(n) for n in layout)
        raise InputError(f"NDC layout {shown} is not one of 4-4-2, 5-3-2, 5-4-1 or 5-4-2", field=field)
    labeler, product, package = parts
    eleven = f"{labeler.zfill(5)}-{product.zfill(4)}-{package.zfill(2)}"
    return Ndc(printed=value, eleven_digit=eleven)


@dataclass(frozen=True, slots=True)
class Product:
    """One stocked product: a container of `container_ml` at `strength_mg_ml`."""

    drug: str
    form: Form
    strength_mg_ml: float
    container_ml: float
    ndc: Ndc

    @property
    def container_mg(self) -> float:
        """Drug in one full container (mg)."""
        return self.strength_mg_ml * self.container_ml

    @property
    def container_ul(self) -> int:
        """One full container in microlitres (the ledger's exact unit)."""
        return ml_to_ul(self.container_ml)

    def mg_of(self, quantity_ul: int) -> float:
        """Drug in `quantity_ul` of this product (mg)."""
        return quantity_ul * self.strength_mg_ml / 1000.0

    @property
    def label(self) -> str:
        """How the product reads on a list."""
        return (
            f"{self.drug} {self.strength_mg_ml:g} mg/mL x {self.container_ml:g} mL (NDC {self.ndc.printed})"
        )


def ml_to_ul(volume_ml: float) -> int:
    """A volume in mL as whole microlitres (quantities are kept as integers, so sums are exact)."""
    return round(volume_ml * 1000)


def make_product(drug: str, form: str, strength_mg_ml: float, container_ml: float, ndc: str) -> Product:
    """A checked product; InputError naming the field at fault."""
    name = drug.strip().lower()
    if name not in CONTROLLED_DRUGS:
        raise InputError(f"the ledger keeps {', '.join(CONTROLLED_DRUGS)}; not {drug!r}", field="drug")
    try:
        finished = Form(form)
    except ValueError:
        raise InputError(f"form must be one of {', '.join(f.value for f in Form)}", field="form") from None
    if not 0 < strength_mg_ml <= 1000:
        raise InputError("strength must be above 0 and at most 1000 mg/mL", field="strength_mg_ml")
    if not 0 < container_ml <= 1000:
        raise InputError("container volume must be above 0 and at most 1000 mL", field="container_ml")
    return Product(name, finished, float(strength_mg_ml), float(container_ml), parse_ndc(ndc))


# A DEA registration number: two letters then seven digits, the seventh a check digit.
_DEA_SHAPE = re.compile(r"^[A-Z][A-Z9]\d{7}$")


def check_dea_registration(text: str, *, field: str = "supplier_registration") -> str:
    """A DEA registration number's shape and check digit; the number upper-cased, or InputError.

    Check digit: the sum of digits 1, 3 and 5 plus twice the sum of digits 2, 4 and 6; its last
    digit is the seventh digit (DEA Diversion Control Division registration format).
    """
    value = text.strip().upper()
    if not _DEA_SHAPE.match(value):
        raise InputError("a DEA registration number is two letters and seven digits", field=field)
    d = [int(c) for c in value[2:]]
    check = (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10
    if check != d[6]:
        raise InputError("the DEA registration number's check digit does not match", field=field)
    return value
