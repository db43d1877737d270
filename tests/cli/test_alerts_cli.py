"""`ketaclinic alerts check`, run as cron would: a fresh SQLite database from the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_alerts_check_records_nothing_when_nothing_waits(tmp_path: Path) -> None:
    env = {**os.environ, "KETACLINIC_VAR_DIR": str(tmp_path)}
    env.pop("KETACLINIC_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "ketaclinic", "alerts", "check", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"renotified_alert_ids": []}
