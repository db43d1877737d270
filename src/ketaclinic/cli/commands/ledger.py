"""`ketaclinic ledger ...`: receive stock, balances, a session's reconciliation, counts, reports, verify."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer

from ketaclinic.cli.output import answer, emit_json, fail

ledger_app = typer.Typer(help="The controlled-substance ledger.", no_args_is_help=True)
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _context() -> tuple[Any, Any, Any]:
    """The database, the acting system user and the settings (imports kept out of the CLI's start-up)."""
    from ketaclinic.cli.commands.foundation import open_database
    from ketaclinic.services.permissions import SYSTEM
    from ketaclinic.settings import load_settings

    return open_database(), SYSTEM, load_settings()


@ledger_app.command("receive")
def receive(
    product_id: Annotated[int, typer.Option("--product", help="The product id (see `ledger products`).")],
    location_id: Annotated[int, typer.Option("--location", help="The storage location id.")],
    lot: Annotated[str, typer.Option("--lot", help="The lot number on the box.")],
    expiry: Annotated[str, typer.Option("--expiry", help="Expiry date (YYYY-MM-DD).")],
    containers: Annotated[int, typer.Option("--containers", help="How many containers.")],
    supplier: Annotated[str, typer.Option("--supplier", help="Supplier name.")],
    address: Annotated[str, typer.Option("--address", help="Supplier address.")],
    registration: Annotated[str, typer.Option("--registration", help="Supplier's DEA registration number.")],
    invoice: Annotated[str, typer.Option("--invoice", help="Invoice number.")],
    received_on: Annotated[
        str | None, typer.Option("--received-on", help="Date received (default today).")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Receive containers into a storage location."""
    from ketaclinic.services.ledger import receipts

    db, actor, settings = _context()
    data = receipts.ReceiptIn.model_validate(
        {
            "product_id": product_id,
            "location_id": location_id,
            "lot": lot,
            "expiry": expiry,
            "containers": containers,
            "supplier_name": supplier,
            "supplier_address": address,
            "supplier_registration": registration,
            "invoice": invoice,
            "received_on": received_on,
        }
    )
    made = receipts.receive(db, actor, data, config=settings)
    said = (
        f"received: {made.containers} containers of lot {made.lot} ({made.received_mg:g} mg),"
        f" entry {made.entry_seq}"
    )
    answer(made, as_json, [said])


@ledger_app.command("products")
def products(as_json: AsJson = False) -> None:
    """The stocked products and their schedules."""
    from ketaclinic.services.ledger import catalogue

    db, actor, settings = _context()
    rows = catalogue.list_products(db, actor, config=settings)
    answer(rows, as_json, (f"{p.id}\t{p.schedule}\t{p.label}" for p in rows))


@ledger_app.command("balance")
def balance(as_json: AsJson = False) -> None:
    """The running balance per product, lot and location."""
    from ketaclinic.services.ledger import on_hand

    db, actor, settings = _context()
    rows = on_hand.balances(db, actor, config=settings)
    answer(
        rows,
        as_json,
        (
            f"{b.product}\tlot {b.lot} (exp {b.expiry})\t{b.location}"
            f"\t{b.balance_ml:g} mL = {b.balance_mg:g} mg"
            f"\t{b.sealed_containers} sealed, {b.open_containers} open"
            + (" QUARANTINED (expired)" if b.quarantined else "")
            for b in rows
        ),
    )


@ledger_app.command("reconcile")
def reconcile(
    session_id: Annotated[int, typer.Argument(help="The infusion session.")], as_json: AsJson = False
) -> None:
    """A session's reconciliation: prepared, administered (from the chart), wasted and the discrepancy."""
    from ketaclinic.services.ledger import reconciling

    db, actor, settings = _context()
    result = reconciling.reconciliation(db, actor, session_id, config=settings)
    said = (
        f"session {session_id}: prepared {result.prepared_mg:g} mg,"
        f" administered {result.administered_mg:g} mg,"
        f" wasted {result.wasted_mg:g} mg, discrepancy {result.discrepancy_mg:g} mg"
        f" (tolerance {result.tolerance_mg:g} mg): {result.state}"
    )
    answer(result, as_json, [said])


@ledger_app.command("count")
def count(
    location_id: Annotated[int, typer.Option("--location", help="The storage location counted.")],
    lines: Annotated[
        list[str], typer.Option("--line", help="PRODUCT_ID:LOT:ML found (repeat for each line).")
    ],
    second_counter: Annotated[str, typer.Option("--second-counter", help="Username of the second counter.")],
    kind: Annotated[str, typer.Option("--kind", help="shift, daily, biennial or initial.")] = "daily",
    as_json: AsJson = False,
) -> None:
    """Record a two-person count (the second counter types their password); differences are reported."""
    from ketaclinic.services.ledger import counts

    parsed = []
    for line in lines:
        parts = line.rsplit(":", 1)
        head = parts[0].split(":", 1)
        if len(parts) != 2 or len(head) != 2:
            fail(f"--line: {line!r} is not PRODUCT_ID:LOT:ML")
        parsed.append({"product_id": head[0], "lot": head[1], "counted_ml": parts[1]})
    password = typer.prompt(f"password of {second_counter}", hide_input=True)
    db, actor, settings = _context()
    data = counts.CountIn.model_validate(
        {
            "location_id": location_id,
            "kind": kind,
            "lines": parsed,
            "second_counter": second_counter,
            "second_counter_password": password,
        }
    )
    made = counts.record_count(db, actor, data, config=settings)
    found = [
        f"product {out.product_id} lot {out.lot}: {out.counted_ml:g} of {out.expected_ml:g} mL"
        + ("" if out.difference_ml == 0 else f"  DIFFERENCE {out.difference_ml:+g} mL")
        for out in made.lines
    ]
    answer(made, as_json, [*found, f"count {made.id}: {made.differences} difference(s)"])


@ledger_app.command("report")
def report(
    start: Annotated[str, typer.Option("--from", help="First day (YYYY-MM-DD).")],
    end: Annotated[str, typer.Option("--to", help="Last day (YYYY-MM-DD).")],
    drug: Annotated[str | None, typer.Option("--drug", help="One drug only.")] = None,
    as_json: AsJson = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
) -> None:
    """The dispensing record, reconciliations, discrepancies and inventory of a period."""
    from ketaclinic.reports.ledger_csv import report_csv
    from ketaclinic.services.ledger.reports import ledger_report

    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError as bad:
        fail(f"--from/--to: {bad}")
    db, actor, settings = _context()
    made = ledger_report(db, actor, first, last, drug=drug, config=settings)
    if as_json:
        emit_json(made)
    elif as_csv:
        typer.echo(report_csv(made), nl=False)
    else:
        typer.echo(f"{made.jurisdiction}: {first} to {last}")
        typer.echo(f"  {len(made.dispensing)} dispensing record entries")
        typer.echo(f"  {len(made.reconciliations)} preparations, {len(made.discrepancies)} discrepancies")
        typer.echo(
            f"  {len(made.count_differences)} count differences; {len(made.inventory)} inventory lines"
        )


@ledger_app.command("verify")
def verify() -> None:
    """Prove the ledger's chain and balances intact (exit 0), or name the first broken entry (exit 1)."""
    from ketaclinic.services.ledger.chain import verify_ledger

    db, _actor, _settings = _context()
    result = verify_ledger(db)
    if not result.ok:
        typer.echo(f"broken: {result.problem} (first broken entry: {result.first_bad_seq})", err=True)
        raise typer.Exit(1)
    typer.echo(f"ok: {result.entries} entries")


def register(app: typer.Typer) -> None:
    """Add the `ledger` command group."""
    app.add_typer(ledger_app, name="ledger")
