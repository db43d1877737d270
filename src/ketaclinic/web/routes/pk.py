"""PK: the JSON API (models, simulate) and the PK explorer page."""

from __future__ import annotations

import copy
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from ketaclinic.errors import InputError
from ketaclinic.pharmacology import list_models
from ketaclinic.reports.time_charts import concentration_chart
from ketaclinic.services import pk
from ketaclinic.services.permissions import Permission
from ketaclinic.web.deps import Principal, render, requires
from ketaclinic.web.forms import error_lines
from ketaclinic.web.nav import NavItem

router = APIRouter()
NAV = [NavItem("PK explorer", "/pk", Permission.PK_EXPLORE, order=60)]

PkApi = Annotated[Principal, Depends(requires(Permission.PK_EXPLORE))]
PkPage = Annotated[Principal, Depends(requires(Permission.PK_EXPLORE, page=True))]
ROWS = 4  # bolus and infusion rows on the page
TABLE_ROWS = 40  # rows of the value table shown (downsampled)
DEFAULTS: dict[str, Any] = {
    "model": "domino1984",
    "weight_kg": "70",
    "age_y": "",
    "until_min": "300",
    "step_s": "60",
    "boluses": [],
    "infusions": [{"start_min": "0", "end_min": "240", "rate": "0.35", "unit": "mg/kg/h"}],
}


@router.get("/api/v1/pk/models", tags=["pk"])
def api_models(principal: PkApi) -> list[dict[str, Any]]:
    """Every published PK model with its citation, source, status and population."""
    return [m.as_dict() for m in list_models()]


@router.post("/api/v1/pk/simulate", tags=["pk"])
def api_simulate(body: pk.SimulateIn, principal: PkApi) -> dict[str, Any]:
    """Cp (and Ce) of a regimen; like `ketaclinic pk simulate --json`. At most 20,000 points."""
    return pk.simulation_json(pk.run_simulation(principal.actor, body))


def _rows(request: Request, prefix: str, names: tuple[str, ...]) -> list[dict[str, str]]:
    params = request.query_params
    columns = {name: params.getlist(f"{prefix}_{name}") for name in names}
    count = max((len(v) for v in columns.values()), default=0)
    rows = [
        {name: (columns[name][i] if i < len(columns[name]) else "") for name in names} for i in range(count)
    ]
    return [r for r in rows if any(v.strip() for k, v in r.items() if k != "unit")]


def _form(request: Request) -> dict[str, Any]:
    params = request.query_params
    if "model" not in params:
        return copy.deepcopy(DEFAULTS)
    return {
        "model": params.get("model", ""),
        "weight_kg": params.get("weight_kg", ""),
        "age_y": params.get("age_y", ""),
        "until_min": params.get("until_min", ""),
        "step_s": params.get("step_s", ""),
        "boluses": _rows(request, "bolus", ("t_min", "dose_mg")),
        "infusions": _rows(request, "inf", ("start_min", "end_min", "rate", "unit")),
    }


def _request_of(form: dict[str, Any]) -> pk.SimulateIn:
    def blank(value: str) -> str | None:
        return value.strip() or None

    infusions = []
    for row in form["infusions"]:
        key = "rate_mg_kg_h" if row["unit"] == "mg/kg/h" else "rate_mg_h"
        infusions.append({"start_min": row["start_min"], "end_min": row["end_min"], key: row["rate"]})
    return pk.SimulateIn.model_validate(
        {
            "model": form["model"],
            "weight_kg": form["weight_kg"],
            "age_y": blank(form["age_y"]),
            "until_min": form["until_min"],
            "step_s": form["step_s"],
            "boluses": form["boluses"],
            "infusions": infusions,
        }
    )


@router.get("/pk", response_class=HTMLResponse, include_in_schema=False)
def explorer_page(request: Request, principal: PkPage) -> Response:
    """Choose a model, a patient and a regimen; see Cp and Ce against the bands, with every source."""
    form = _form(request)
    models = list_models()
    chosen = next((m for m in models if m.key == form["model"]), None)
    result: dict[str, Any] | None = None
    errors: list[str] = []
    try:
        prediction = pk.run_simulation(principal.actor, _request_of(form))
    except (ValidationError, InputError) as exc:
        errors = error_lines(exc)
    else:
        bands = pk.chart_bands()
        series: dict[str, Any] = {"Cp (plasma)": prediction.cp_ng_ml.tolist()}
        if prediction.ce_ng_ml is not None:
            series["Ce (effect site)"] = prediction.ce_ng_ml.tolist()
        rows = pk.points(prediction)
        stride = max(1, -(-len(rows) // TABLE_ROWS))
        table = rows[::stride]
        if table[-1] is not rows[-1]:
            table.append(rows[-1])
        # A bolus gives an instant plasma spike; keep the bands readable and say the peak on the chart.
        ce_top = float(prediction.ce_ng_ml.max()) if prediction.ce_ng_ml is not None else 0.0
        y_cap = max(2.0 * max(b["high"] for b in bands), 1.2 * ce_top)
        result = {
            "chart": concentration_chart(
                prediction.t_min.tolist(),
                series,
                bands=bands,
                y_cap=y_cap,
                title=f"Predicted concentration ({prediction.model_key}, {prediction.weight_kg:g} kg)",
            ),
            "bands": bands,
            "summary": pk.summary(prediction),
            "warnings": list(prediction.warnings),
            "table": table,
            "stride": stride,
            "point_count": len(rows),
            "has_ce": prediction.ce_ng_ml is not None,
        }
    while len(form["boluses"]) < ROWS:
        form["boluses"].append({"t_min": "", "dose_mg": ""})
    while len(form["infusions"]) < ROWS:
        form["infusions"].append({"start_min": "", "end_min": "", "rate": "", "unit": "mg/kg/h"})
    return render(
        request,
        "pk/explorer.html",
        status_code=422 if errors else 200,
        form=form,
        models=models,
        chosen=chosen,
        result=result,
        errors=errors,
        max_points=pk.MAX_POINTS,
    )
