"""`bedrock-revoker audit export|verify` on a SQLite store filled through the request hub."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sqlite3
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import T0, Clock, make_plan

from bot import cli
from bot.requests import RequestService
from bot.store import open_store

REQUESTER, ALICE = "U_REQ", "U_ALICE"


class FakeStdin(io.StringIO):
    def isatty(self) -> bool:
        return False


async def _yes(user_id: str) -> bool:
    return True


@dataclass(frozen=True)
class Seeded:
    url: str
    approved: str  # created at T0, approved a minute later: 2 events
    rejected: str  # created two days later, then rejected: 2 events


async def _seed(url: str) -> Seeded:
    store = open_store(url)
    clock = Clock()
    hub = RequestService(store, clock=clock)
    try:
        first = await hub.create(make_plan("alice"), REQUESTER, "C1", "INC-1: key in a gist")
        clock.now = T0 + timedelta(minutes=1)
        assert (await hub.approve(first.id, ALICE, _yes)).ok
        clock.now = T0 + timedelta(days=2)
        second = await hub.create(make_plan("bob"), REQUESTER, "C1", "INC-2: key in a log")
        clock.now += timedelta(minutes=1)
        assert (await hub.reject(second.id, ALICE, _yes, "false alarm")).ok
    finally:
        await store.close()
    return Seeded(url, first.id, second.id)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("REVOKER_", "SLACK_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no developer .env


@pytest.fixture
def seeded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Seeded:
    url = f"sqlite:///{tmp_path}/revoker.db"
    monkeypatch.setenv("REVOKER_DATABASE_URL", url)
    return asyncio.run(_seed(url))


def run(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    stdin: str = "",
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", FakeStdin(stdin))
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def events(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines()]


# --- export ---------------------------------------------------------------------------------------


def test_export_prints_every_chain_in_order_as_json_lines(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(monkeypatch, capsys, ["audit", "export"])
    assert code == 0, err
    got = [(e["request_id"], e["seq"], e["type"]) for e in events(out)]
    assert got == [
        (seeded.approved, 1, "requested"),
        (seeded.approved, 2, "approved"),
        (seeded.rejected, 1, "requested"),
        (seeded.rejected, 2, "rejected"),
    ]


def test_export_one_request_accepts_the_id_as_people_type_it(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(monkeypatch, capsys, ["audit", "export", "--request", seeded.rejected])
    assert code == 0
    assert {e["request_id"] for e in events(out)} == {seeded.rejected}

    typed = " " + seeded.approved.lower() + " "
    code, out, _ = run(monkeypatch, capsys, ["audit", "export", "--request", typed])
    assert code == 0
    assert [e["seq"] for e in events(out)] == [1, 2]


@pytest.mark.parametrize(
    "since", ["2025-03-02", "2025-03-02T00:00:00Z", "2025-03-02T02:00:00+02:00"]
)
def test_export_since_selects_whole_chains_of_recent_requests(
    seeded: Seeded,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    since: str,
) -> None:
    code, out, _ = run(monkeypatch, capsys, ["audit", "export", "--since", since])
    assert code == 0
    assert [(e["request_id"], e["seq"]) for e in events(out)] == [
        (seeded.rejected, 1),
        (seeded.rejected, 2),
    ]


def test_export_since_keeps_a_chain_whose_last_event_is_recent(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The approval came a minute after the request: the chain is exported from its first event.
    since = (T0 + timedelta(seconds=30)).isoformat()
    code, out, _ = run(monkeypatch, capsys, ["audit", "export", "--since", since])
    assert code == 0
    assert [(e["request_id"], e["seq"]) for e in events(out)][:2] == [
        (seeded.approved, 1),
        (seeded.approved, 2),
    ]


def test_export_of_an_unknown_request_fails(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(monkeypatch, capsys, ["audit", "export", "--request", "R-00000000"])
    assert (code, out) == (1, "")
    assert err == "error: no audit events for R-00000000\n"


def test_export_does_not_create_a_missing_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo.db"
    monkeypatch.setenv("REVOKER_DATABASE_URL", f"sqlite:///{missing}")
    code, out, err = run(monkeypatch, capsys, ["audit", "export"])
    assert (code, out) == (1, "")
    assert "does not exist" in err and err.count("\n") == 1
    assert not missing.exists()


def test_export_of_an_empty_store_prints_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/empty.db"
    asyncio.run(open_store(url).close())
    monkeypatch.setenv("REVOKER_DATABASE_URL", url)
    assert run(monkeypatch, capsys, ["audit", "export"]) == (0, "", "")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["audit", "export", "--since", "yesterday"], "--since is not a date"),
        (["audit", "export", "--since", "2025-03-02T00:00:00"], "--since is not a date"),
        (["audit", "export", "--request", "R-!!"], "--request:"),
        (["audit", "verify", "no-such-export.jsonl"], "cannot read no-such-export.jsonl"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    seeded: Seeded,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    code, out, err = run(monkeypatch, capsys, argv)
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {message}") and err.count("\n") == 1


def test_bad_database_url_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REVOKER_DATABASE_URL", "postgres://user:hunter22@db/revoker")
    code, out, err = run(monkeypatch, capsys, ["audit", "export"])
    assert (code, out) == (2, "")
    assert "REVOKER_DATABASE_URL" in err and "hunter22" not in err


def test_audit_needs_an_action(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(monkeypatch, capsys, ["audit"])
    assert code == 2 and "ACTION" in err


# --- verify ---------------------------------------------------------------------------------------


def _export(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    code, out, _ = run(monkeypatch, capsys, ["audit", "export"])
    assert code == 0
    return out


def test_an_export_piped_into_verify_is_intact(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    exported = _export(monkeypatch, capsys)
    assert run(monkeypatch, capsys, ["audit", "verify", "-"], exported) == (
        0,
        "ok: 4 events in the input, every chain intact\n",
        "",
    )


def test_verify_reads_a_file(
    seeded: Seeded,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    export = tmp_path / "audit.jsonl"
    export.write_text(_export(monkeypatch, capsys), encoding="utf-8")
    code, out, _ = run(monkeypatch, capsys, ["audit", "verify", str(export)])
    assert (code, out) == (0, "ok: 4 events in the input, every chain intact\n")


def test_a_filtered_export_verifies_too(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(monkeypatch, capsys, ["audit", "export", "--since", "2025-03-02"])
    assert run(monkeypatch, capsys, ["audit", "verify", "-"], out)[:2] == (
        0,
        "ok: 2 events in the input, every chain intact\n",
    )


def test_an_edited_event_fails_verification(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = _export(monkeypatch, capsys).splitlines()
    edited = json.loads(lines[1])
    edited["actor"] = "U_MALLORY"  # someone rewrites who approved
    lines[1] = json.dumps(edited, sort_keys=True, separators=(",", ":"))
    code, out, err = run(monkeypatch, capsys, ["audit", "verify", "-"], "\n".join(lines) + "\n")
    assert code == 1
    assert out == f"line 2: {seeded.approved} event 2 was altered (hash mismatch)\n"
    assert "FAILED: 1 problem(s) in 4 events" in err


def test_a_dropped_and_a_garbled_line_are_each_reported(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = _export(monkeypatch, capsys).splitlines()
    tampered = [lines[1], lines[2], lines[3][:-5]]  # first event of one chain gone, one cut short
    code, out, _ = run(monkeypatch, capsys, ["audit", "verify", "-"], "\n".join(tampered))
    assert code == 1
    problems = out.splitlines()
    assert len(problems) == 2
    assert problems[0].startswith(f"line 1: {seeded.approved} event 2 found where event 1")
    assert problems[1] == "line 3: not JSON"


def test_verify_of_nothing_is_not_a_pass(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(monkeypatch, capsys, ["audit", "verify", "-"], "\n\n")
    assert (code, out) == (1, "no audit events in the input\n")


# --- verify the store itself ---------------------------------------------------------------------


def test_verify_with_no_file_checks_the_store_itself(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(monkeypatch, capsys, ["audit", "verify"]) == (
        0,
        "ok: 4 events in the store, every chain intact\n",
        "",
    )


def test_an_event_edited_in_the_store_is_named_with_its_request(
    seeded: Seeded,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = sqlite3.connect(tmp_path / "revoker.db")
    with db:
        (body,) = db.execute(
            "SELECT body FROM audit_events WHERE request_id = ? AND seq = 2", (seeded.approved,)
        ).fetchone()
        forged = {**json.loads(body), "actor": "U_MALLORY"}  # someone rewrites who approved
        db.execute(
            "UPDATE audit_events SET body = ? WHERE request_id = ? AND seq = 2",
            (json.dumps(forged), seeded.approved),
        )
    db.close()
    code, out, err = run(monkeypatch, capsys, ["audit", "verify"])
    assert code == 1
    assert out == f"line 2: {seeded.approved} event 2 was altered (hash mismatch)\n"
    assert "FAILED: 1 problem(s) in 4 events" in err


def test_verify_of_an_empty_store_is_not_a_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/empty.db"
    asyncio.run(open_store(url).close())
    monkeypatch.setenv("REVOKER_DATABASE_URL", url)
    code, out, _ = run(monkeypatch, capsys, ["audit", "verify"])
    assert (code, out) == (1, "no audit events in the store\n")


def test_verify_checks_a_dynamodb_store_directly(
    moto_aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.store.dynamodb import DynamoDbStore

    DynamoDbStore("revoker-audit").create_table()
    monkeypatch.setenv("REVOKER_DATABASE_URL", "dynamodb://revoker-audit")
    asyncio.run(_seed("dynamodb://revoker-audit"))
    assert run(monkeypatch, capsys, ["audit", "verify"])[:2] == (
        0,
        "ok: 4 events in the store, every chain intact\n",
    )


def test_export_from_a_missing_dynamodb_table_names_store_init_and_creates_nothing(
    moto_aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import boto3

    monkeypatch.setenv("REVOKER_DATABASE_URL", "dynamodb://revoker-requests")
    code, out, err = run(monkeypatch, capsys, ["audit", "export"])
    assert (code, out) == (1, "")
    assert err == (
        "error: DynamoDB table 'revoker-requests' does not exist in us-east-1. Create it once "
        "with `bedrock-revoker store init` (same REVOKER_DATABASE_URL and AWS settings), or "
        "deploy deploy/cloudformation/bot.yaml, which creates it.\n"
    )
    assert boto3.client("dynamodb").list_tables()["TableNames"] == []


def test_store_init_creates_the_table_once_and_export_then_reads_it(
    moto_aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REVOKER_DATABASE_URL", "dynamodb://revoker-requests")
    assert run(monkeypatch, capsys, ["store", "init"]) == (
        0,
        "DynamoDB table 'revoker-requests' in us-east-1 created; it is active\n",
        "",
    )
    assert run(monkeypatch, capsys, ["store", "init"]) == (
        0,
        "DynamoDB table 'revoker-requests' in us-east-1 already exists; it is active\n",
        "",
    )
    assert run(monkeypatch, capsys, ["audit", "export"]) == (0, "", "")


def test_store_init_for_sqlite_creates_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "revoker.db"
    monkeypatch.setenv("REVOKER_DATABASE_URL", f"sqlite:///{path}")
    assert run(monkeypatch, capsys, ["store", "init"]) == (
        0,
        f"SQLite store {path} created\n",
        "",
    )
    assert path.is_file()
    assert run(monkeypatch, capsys, ["store", "init"])[1] == f"SQLite store {path} already exists\n"
