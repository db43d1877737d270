"""The charting load's two tables: what was checked, and what one configuration of the server carried."""

from __future__ import annotations

import sys
from typing import Any


def passed(r: dict[str, Any], p99_target_ms: float) -> bool:
    """Every check held, and a paced run met the latency target."""
    streams = r.get("streams", {})
    paced_ok = r["pace_s"] == 0 or (r["p99_ms"] is not None and r["p99_ms"] < p99_target_ms)
    return paced_ok and (
        r["errors"] == 0
        and r["readings_lost_or_doubled"] == 0
        and r["findings"] == r["findings_expected"]
        and r["findings_duplicated"] == 0
        and r["audit_events"] == r["writes"]
        and all(count == 0 for count in streams.values())
    )


def print_checks(results: list[dict[str, Any]]) -> None:
    """The correctness table: one row per run."""
    print(
        "| backend | workers | pace s | requests | errors | lost/doubled readings "
        "| alert findings (expected) | doubled findings | alerts | audit events = writes "
        "| streams: lost / doubled / miscounted events, cut |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        audit_ok = "ok" if r["audit_events"] == r["writes"] else "MISMATCH"
        s = r.get("streams")
        streams = f"{s['lost']} / {s['doubled']} / {s['miscounted'] + s['foreign']}, {s['cut']}" if s else "-"
        print(
            f"| {r['backend']} | {r['workers']} | {r['pace_s']:g} | {r['requests']} | {r['errors']} "
            f"| {r['readings_lost_or_doubled']} | {r['findings']} ({r['findings_expected']}) "
            f"| {r['findings_duplicated']} | {r['alerts']} | {r['audit_events']} = {r['writes']} {audit_ok} "
            f"| {streams} |"
        )
        if r["first_error"]:
            print(f"first error ({r['backend']}): {r['first_error']}", file=sys.stderr)


def print_capacity(results: list[dict[str, Any]], p99_target_ms: float) -> None:
    """The capacity table: backend x workers x pace."""
    print(
        "| backend | workers | pace s | nurses | streams | req/s | p50 ms | p95 ms | p99 ms | server CPU % "
        "| server CPU ms / write | event delay p50 / p99 ms | stream readers CPU % "
        f"| p99 < {p99_target_ms:g} ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        paced = r["pace_s"] > 0
        within = r["p99_ms"] is not None and r["p99_ms"] < p99_target_ms
        verdict = ("met" if within else "NOT MET") if paced else "n/a (saturation)"
        delay = f"{r['delay_p50_ms']} / {r['delay_p99_ms']}" if "streams" in r else "-"
        readers = f"{r['reader_cpu_pct']:g}" if "streams" in r else "-"
        print(
            f"| {r['backend']} | {r['workers']} | {r['pace_s']:g} | {r['nurses']} | {r['subscribers']} "
            f"| {r['throughput_req_s']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} "
            f"| {r['server_cpu_pct']:g} | {r['cpu_ms_per_write']} | {delay} | {readers} | {verdict} |"
        )
