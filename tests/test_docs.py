"""The docs run: their shell examples, their JSON examples, their settings table and their references.

Shell examples are the fenced ``sh``/``bash``/``shell``/``console`` blocks of README.md,
CONTRIBUTING.md and docs/*.md. Every command in them runs, unless the block is preceded by the line
``<!-- docs: not run (why) -->``. In a ``console`` block, lines starting with ``$ `` are commands
and the lines after one are its expected stdout (``...`` matches anything, as in a doctest).
Commands run through the real entry point in process, from a scratch directory where ``docs/`` and
``tests/`` point at the repository's, against a fresh SQLite database.
"""

from __future__ import annotations

import doctest
import importlib
import json
import re
import shlex
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ketaclinic.monitoring import replay_session
from ketaclinic.screening import parse_intake
from ketaclinic.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_LANGUAGES = {"sh", "bash", "shell", "console"}
NOT_RUN = re.compile(r"<!-- docs: not run \((?P<why>[^)]+)\) -->")
FENCE = re.compile(r"^```(?P<lang>[\w-]*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)
PROGRAM = re.compile(r"^(?:\S*/)?ketaclinic$")  # `ketaclinic`, `.venv/bin/ketaclinic`


@dataclass(frozen=True)
class Block:
    """One fenced block of a doc, with where it is and whether it is marked not to run."""

    path: Path
    line: int
    lang: str
    body: str
    not_run: str | None

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


@dataclass(frozen=True)
class Command:
    """A shell line of a doc and, in a console block, the stdout it shows (None: not shown)."""

    argv: list[str]
    expected: str | None


def _blocks() -> Iterator[Block]:
    for path in DOC_FILES:
        text = path.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            marker = NOT_RUN.fullmatch(before.strip())
            yield Block(
                path=path,
                line=text.count("\n", 0, match.start()) + 1,
                lang=match.group("lang"),
                body=match.group("body"),
                not_run=marker.group("why") if marker else None,
            )


def _joined_lines(body: str) -> list[str]:
    """The block's lines, with backslash continuations joined and blank lines dropped."""
    lines: list[str] = []
    pending = ""
    for raw in body.splitlines():
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        lines.append(pending + raw)
        pending = ""
    return [line for line in lines if line.strip()]


def _commands(block: Block) -> list[Command]:
    """The commands of a shell block (comments dropped; a console block's output kept)."""
    if block.lang != "console":
        return [
            Command(shlex.split(line, comments=True), None)
            for line in _joined_lines(block.body)
            if shlex.split(line, comments=True)
        ]
    commands: list[Command] = []
    argv: list[str] | None = None
    output: list[str] = []
    for line in block.body.splitlines():
        if line.startswith("$ "):
            if argv is not None:
                commands.append(Command(argv, "\n".join(output)))
            argv, output = shlex.split(line[2:], comments=True), []
        else:
            assert argv is not None, f"{block.id}: console output before any `$ ` command"
            output.append(line)
    if argv is not None:
        commands.append(Command(argv, "\n".join(output)))
    return commands


SHELL_BLOCKS = [block for block in _blocks() if block.lang in SHELL_LANGUAGES]
RUNNABLE = [block for block in SHELL_BLOCKS if block.not_run is None]


def test_shell_examples_are_found() -> None:
    assert len(RUNNABLE) >= 8
    assert any(block.lang == "console" for block in RUNNABLE)
    assert any(block.not_run for block in SHELL_BLOCKS)  # `make run` serves until stopped


def test_no_command_hides_in_an_unlabelled_block() -> None:
    hidden = [
        block.id
        for block in _blocks()
        if block.lang not in SHELL_LANGUAGES
        and any(PROGRAM.match(line.split(" ", 1)[0].lstrip("$ ")) for line in block.body.splitlines())
    ]
    assert hidden == [], "label these blocks sh or console (or mark them not run)"


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with the repository's docs/ and tests/, and a fresh var dir."""
    for name in ("docs", "tests"):
        (tmp_path / name).symlink_to(ROOT / name, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    for name in ("KETACLINIC_DATABASE_URL", "KETACLINIC_SECRET_KEY", "KETACLINIC_CONFIG_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KETACLINIC_VAR_DIR", str(tmp_path / "var"))
    return tmp_path


def _run(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str, str]:
    """Run `ketaclinic ARGS` through its real entry point (one line on stderr and 2 on bad input)."""
    from ketaclinic.cli import main

    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["ketaclinic", *argv[1:]])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("block", RUNNABLE, ids=lambda block: block.id)
def test_shell_example_runs(
    block: Block, scratch: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = _commands(block)
    assert commands, f"{block.id}: no command"
    checker = doctest.OutputChecker()
    for command in commands:
        assert PROGRAM.match(command.argv[0]), (
            f"{block.id}: `{shlex.join(command.argv)}` is not a ketaclinic command; "
            "mark the block <!-- docs: not run (why) -->"
        )
        code, out, err = _run(command.argv, capsys, monkeypatch)
        assert code == 0, f"{block.id}: `{shlex.join(command.argv)}` exited {code}: {err}"
        if "--json" in command.argv:
            json.loads(out)
        if command.expected is not None:
            expected = command.expected.rstrip() + "\n"
            assert checker.check_output(expected, out, doctest.ELLIPSIS), (
                f"{block.id}: `{shlex.join(command.argv)}` printed\n{out}\nthe doc shows\n{expected}"
            )


# --- docs/examples/*.json: each checked by what it documents ---------------------------------------

EXAMPLES = ROOT / "docs" / "examples"


def _screening_intake(data: Any, api: Callable[[str], TestClient]) -> None:
    """A screening intake (docs/intake.md): parses, and the API evaluates it for a physician."""
    parse_intake(data)
    answer = api("physician").post("/api/v1/screening/evaluate", json={"intake": data})
    assert answer.status_code == 200, answer.text
    assert answer.json()["verdict"] == "eligible"


def _replay_session(data: Any, api: Callable[[str], TestClient]) -> None:
    """A recorded session for `ketaclinic monitor replay` (no API route; the pure function reads it)."""
    result = replay_session(data)
    assert result["ignored_keys"] == [], "the example has keys the replay does not read"
    assert result["alerts"]


def _referral_bundle(data: Any, api: Callable[[str], TestClient]) -> None:
    """A FHIR Bundle for `ketaclinic fhir import` (docs/interoperability.md): one patient, all read."""
    from ketaclinic.interop.fhir_import import read_referrals

    read = read_referrals(json.dumps(data))
    (patient,) = read.patients
    assert (patient.diagnoses, patient.weight_kg, patient.height_cm, read.ignored) == (
        ["G50.0"],
        68.5,
        167,
        {},
    )


EXAMPLE_CHECKS: dict[str, Callable[[Any, Callable[[str], TestClient]], None]] = {
    "intake-tn.json": _screening_intake,
    "replay-session.json": _replay_session,
    "referral-bundle.json": _referral_bundle,
}


def test_every_example_has_a_check() -> None:
    assert sorted(path.name for path in EXAMPLES.glob("*.json")) == sorted(EXAMPLE_CHECKS)


@pytest.mark.parametrize("name", sorted(EXAMPLE_CHECKS))
def test_example_is_valid_input(name: str, api_client: Callable[[str], TestClient]) -> None:
    EXAMPLE_CHECKS[name](json.loads((EXAMPLES / name).read_text(encoding="utf-8")), api_client)


def test_inline_replay_example_of_the_monitoring_doc_replays() -> None:
    text = (ROOT / "docs" / "monitoring.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```json\n(.*?)\n```", text, flags=re.DOTALL) if '"segments"' in b)
    assert replay_session(json.loads(block))["ignored_keys"] == []


# --- the settings table ------------------------------------------------------------------------------


def _documented_settings() -> dict[str, str]:
    """`| `KETACLINIC_X` | default | meaning |` rows of the README's Configuration section."""
    section = (
        (ROOT / "README.md").read_text(encoding="utf-8").split("## Configuration", 1)[1].split("\n## ", 1)[0]
    )
    return dict(re.findall(r"^\| `(KETACLINIC_\w+)` \| (.+?) \|", section, flags=re.MULTILINE))


def test_settings_table_lists_exactly_the_variables_read() -> None:
    read = set(re.findall(r'"(KETACLINIC_\w+)"', (ROOT / "src/ketaclinic/settings.py").read_text()))
    assert set(_documented_settings()) == read
    fields = {name.removeprefix("KETACLINIC_").lower() for name in read}
    assert fields == set(Settings.__dataclass_fields__)


def test_settings_table_defaults_are_the_loaded_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    loaded = load_settings({})
    documented = {name: cell.strip("`") for name, cell in _documented_settings().items()}
    assert documented["KETACLINIC_DATABASE_URL"] == loaded.database_url
    assert Path(documented["KETACLINIC_VAR_DIR"]) == loaded.var_dir
    assert documented["KETACLINIC_IDLE_TIMEOUT_MIN"] == str(loaded.idle_timeout_min)
    assert documented["KETACLINIC_SECURE_COOKIES"] == str(int(loaded.secure_cookies))
    assert documented["KETACLINIC_CONFIG_DIR"] == "unset" and loaded.config_dir is None
    secret_file = re.search(r"generated into `(.+?)`", _documented_settings()["KETACLINIC_SECRET_KEY"])
    assert secret_file
    assert (tmp_path / secret_file.group(1)).read_text().strip() == loaded.secret_key


# --- names and paths the docs point at ---------------------------------------------------------------

DOTTED = re.compile(r"`((?:ketaclinic|services)\.[A-Za-z_][\w.]*)(?:\(|`)")
PATH = re.compile(r"`((?:src|docs|tests|benchmarks|scripts|services|store|web|data)/[\w./*-]*)`")


def _resolves(name: str) -> bool:
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(target, attribute):
                return False
            target = getattr(target, attribute)
        return True
    return False


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda path: path.name)
def test_code_the_doc_names_exists(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    missing = [
        name
        for name in DOTTED.findall(text)
        if not _resolves(name if name.startswith("ketaclinic.") else f"ketaclinic.{name}")
    ]
    missing += [
        ref
        for ref in PATH.findall(text)
        if not any(
            any(base.glob(ref)) or (base / ref).exists() for base in (ROOT, ROOT / "src" / "ketaclinic")
        )
    ]
    assert missing == []


# --- doctests of the pure packages -------------------------------------------------------------------

PURE_PACKAGES = (
    "pharmacology",
    "dosing",
    "screening",
    "monitoring",
    "outcomes",
    "scheduling",
    "interop",
    "ledger",
)


def test_the_pure_packages_docstring_examples_run_with_the_suite() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"][
        "ini_options"
    ]
    assert "--doctest-modules" in config["addopts"].split()
    assert {f"src/ketaclinic/{package}" for package in PURE_PACKAGES} <= set(config["testpaths"])
    assert not [
        path
        for path in config["testpaths"]
        if path.startswith("src/") and path.split("/")[-1] not in PURE_PACKAGES
    ]
    for package in PURE_PACKAGES:
        sources = (ROOT / "src" / "ketaclinic" / package).glob("*.py")
        assert any(">>> " in path.read_text(encoding="utf-8") for path in sources), package


def _commands_of(group: Any, prefix: str = "") -> set[str]:
    names: set[str] = set()
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            names |= _commands_of(command, f"{prefix}{name} ")
        else:
            names.add(prefix + name)
    return names


def test_readme_lists_every_cli_command() -> None:
    import typer

    from ketaclinic.cli import app

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    bullet = readme.split("- CLI (", 1)[1].split("\n- ", 1)[0].split("):", 1)[1]
    listed: set[str] = set()
    for item in re.findall(r"`([^`]+)`", bullet.split("Commands that answer", 1)[0]):
        words = [word for word in item.split() if re.fullmatch(r"[a-z|-]+", word)]
        head, *sub = words[:2]
        listed |= {f"{head} {name}" for name in sub[0].split("|")} if sub else {head}
    assert listed == _commands_of(typer.main.get_command(app))
