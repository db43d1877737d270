"""Body-size bounds: the one range every weight and height field and check accepts.

Registry, intake, plan, PK and dose-check fields and the pure checks all use these, so a value
stored through one is never refused by another. Formula-validity ranges (such as the Devine ideal
weight's height range in dosing/weight.py) are separate and named as such.
"""

from __future__ import annotations

# Plausibility, not clinical thresholds: 1 kg (the lightest weight a record may hold) to 400 kg
# (above the heaviest adults dosed by weight).
MIN_WEIGHT_KG = 1.0
MAX_WEIGHT_KG = 400.0

# Plausibility: 30 cm (shorter than any newborn, so no real height is refused) to 250 cm (above
# almost every adult ever measured); the widest range any field accepted before these were shared.
MIN_HEIGHT_CM = 30.0
MAX_HEIGHT_CM = 250.0

# Plausibility of a bag or syringe volume, not a clinical threshold: 1 mL (the smallest syringe a pump
# takes) to 5,000 mL (above any infusion bag; the plan form's upper bound before these were shared).
# Below 1 mL the containers-per-session count is meaningless and, near zero, overflows.
MIN_CONTAINER_VOLUME_ML = 1.0
MAX_CONTAINER_VOLUME_ML = 5000.0
