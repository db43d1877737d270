"""Path and query parameter types shared by every route: an id outside the column range is a 422."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from ketaclinic.inputs import MAX_RECORD_ID

# A record id in a path: 1 to the INTEGER column's maximum on both databases (a larger one would
# overflow the driver's bind and answer 500; a 422 names the parameter instead).
RecordId = Annotated[int, Path(ge=1, le=MAX_RECORD_ID)]
RecordIdQuery = Annotated[int, Query(ge=1, le=MAX_RECORD_ID)]
