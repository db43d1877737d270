"""The ledger's stock and counts pages, and a form action that comes back to its page (or to the page with
the refusal beside the fields and what was typed kept, passwords left out)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from ketaclinic.errors import ConflictError, InputError, NotFoundError, http_status
from ketaclinic.services.ledger import catalogue, counts, on_hand
from ketaclinic.services.ledger.chain import chain_status
from ketaclinic.services.permissions import Permission
from ketaclinic.web.deps import DbDep, Principal, SettingsDep, render, requires
from ketaclinic.web.forms import error_line, form_errors, text

ViewPage = Annotated[Principal, Depends(requires(Permission.LEDGER_VIEW, page=True))]
ReceivePage = Annotated[Principal, Depends(requires(Permission.LEDGER_RECEIVE, page=True))]
AdjustPage = Annotated[Principal, Depends(requires(Permission.LEDGER_ADJUST, page=True))]
DispensePage = Annotated[Principal, Depends(requires(Permission.LEDGER_DISPENSE, page=True))]
CountPage = Annotated[Principal, Depends(requires(Permission.LEDGER_COUNT, page=True))]
Refused = (ValidationError, InputError, ConflictError, NotFoundError)
Step = Callable[[FormData], object]


def stock_page(
    request: Request, db: DbDep, principal: Principal, settings: SettingsDep, **extra: Any
) -> Response:
    """Balances, containers, products, locations, open counts and the chain's state."""
    status = extra.pop("status_code", 200)
    products = catalogue.list_products(db, principal.actor, config=settings)
    return render(
        request,
        "ledger/stock.html",
        status_code=status,
        balances=on_hand.balances(db, principal.actor, config=settings),
        products=products,
        product_names={p.id: f"{p.drug} {p.strength_mg_ml:g} mg/mL" for p in products},
        locations=catalogue.list_locations(db, principal.actor),
        open_counts=counts.list_counts(db, principal.actor, open_only=True),
        chain=chain_status(db, principal.actor),
        containers=on_hand.containers_in_stock(db, principal.actor),
        typed=extra.pop("typed", {}),
        typed_form=extra.pop("typed_form", None),
        field_errors=extra.pop("field_errors", {}),
        error=extra.pop("error", None),
        **extra,
    )


def counts_page(
    request: Request, db: DbDep, principal: Principal, settings: SettingsDep, **extra: Any
) -> Response:
    """A count form per location with stock, and the recent counts with their differences."""
    status = extra.pop("status_code", 200)
    return render(
        request,
        "ledger/counts.html",
        status_code=status,
        balances=on_hand.balances(db, principal.actor, config=settings),
        locations=catalogue.list_locations(db, principal.actor),
        recent=counts.list_counts(db, principal.actor, limit=30),
        error=extra.pop("error", None),
        field_errors=extra.pop("field_errors", {}),
        **extra,
    )


async def _page_action(
    request: Request, page: Callable[..., Response], back: str, form_id: str | None, step: Step
) -> Response:
    """Run one form of a ledger page: on to `back`, or `page` again with the refusal."""
    form = await request.form()
    try:
        step(form)
    except Refused as exc:
        typed = {k: str(v) for k, v in form.items() if k != "csrf_token" and "password" not in k}
        return page(
            status_code=http_status(exc),
            error=error_line(exc),
            field_errors=form_errors(exc, top_level=True),
            **({"typed": typed, "typed_form": form_id} if form_id else {}),
        )
    return RedirectResponse(back, status_code=303)


async def stock_action(
    request: Request, db: DbDep, principal: Principal, settings: SettingsDep, form_id: str, step: Step
) -> Response:
    """A stock page form: back to the page, or the page with the refusal and `form_id`'s fields typed."""
    page = partial(stock_page, request, db, principal, settings)
    return await _page_action(request, page, "/ledger", form_id, step)


async def counts_action(
    request: Request, db: DbDep, principal: Principal, settings: SettingsDep, step: Step
) -> Response:
    """A counts page form: back to the page, or the page with the refusal."""
    page = partial(counts_page, request, db, principal, settings)
    return await _page_action(request, page, "/ledger/counts", None, step)


def witness_fields(form: FormData) -> dict[str, str]:
    """The witness of a ledger form and the password they confirm with."""
    return {"witness": text(form, "witness"), "witness_password": text(form, "witness_password")}
