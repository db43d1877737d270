"""Area under each patient's daily pain NRS curve (trapezoidal rule), where the cohort has daily NRS."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ketaclinic.outcomes.stats import median_iqr

AUC_UNIT = "NRS point-days"


def daily_nrs_auc(days: Sequence[int], nrs: npt.NDArray[np.float64]) -> dict[str, Any]:
    """Per-patient trapezoidal area under the daily NRS from the first to the last day column.

    `nrs` is patient x day (NaN = not rated). A patient counts when rated on the first and the last
    day; days between without a rating are bridged by the straight line between their neighbours.
    """
    if len(days) < 2:
        message = "not recorded: the cohort has no daily NRS" if not days else "needs at least two days"
        return {"recorded": bool(days), "message": message}
    t = np.asarray(days, dtype=np.float64)
    first, last = int(days[0]), int(days[-1])
    counted = ~np.isnan(nrs[:, 0]) & ~np.isnan(nrs[:, -1])
    areas = np.array([_trapezoid(t, row) for row in nrs[counted]], dtype=np.float64)
    return {
        "recorded": True,
        "method": (
            f"trapezoidal rule over days {first}-{last} of the course (day 0 = first infusion day), "
            "straight lines between rated days; patients rated on both end days only"
        ),
        "unit": AUC_UNIT,
        "days": [first, last],
        "n": int(counted.sum()),
        "not_counted": int((~counted).sum()),
        "auc": median_iqr(areas),
        "mean_nrs": median_iqr(areas / (last - first)),
    }


def _trapezoid(days: npt.NDArray[np.float64], nrs: npt.NDArray[np.float64]) -> float:
    rated = ~np.isnan(nrs)
    x, y = days[rated], nrs[rated]
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))
