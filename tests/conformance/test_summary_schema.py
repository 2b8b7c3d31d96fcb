"""docs/summary.schema.json (JSON Schema 2020-12) against real summaries: the summary.json of
every shipped profile run against the built-in mock, of a merge of two shards and of a run
rebuilt from results.jsonl validates; summaries with a field missing, added, mistyped or
misnamed do not."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from conftest import REPO_ROOT, mock_bin

SCHEMA = json.loads((REPO_ROOT / "docs" / "summary.schema.json").read_text())
PROFILES = sorted((REPO_ROOT / "profiles").glob("*.json"))
RUN_TIMEOUT_S = 120


def validator() -> Draft202012Validator:
    return Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)


def errors(summary: dict) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator().iter_errors(summary)]


def llmload(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [mock_bin(), *args], stdin=subprocess.DEVNULL, capture_output=True, timeout=RUN_TIMEOUT_S
    )
    # 1 (a threshold missed) and 3 (generator-bound on a busy machine) still write every report.
    assert proc.returncode in (0, 1, 3), f"exit {proc.returncode}\n{proc.stdout.decode()}\n{proc.stderr.decode()}"
    return proc


def run(out: Path, *args: str) -> Path:
    llmload("run", *args, "--cores", "1", "--out", str(out))
    dirs = [p for p in out.iterdir() if p.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def summary_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def test_the_schema_is_a_valid_2020_12_schema():
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_every_shipped_profile_is_there():
    # The parametrized test below covers each of them; an empty glob would cover none.
    assert len(PROFILES) >= 10, PROFILES


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.stem)
def test_the_summary_of_every_shipped_profile_validates(tmp_path, profile):
    # 10 users reach every scenario of every profile (as tests/workload.rs runs them).
    run_dir = run(tmp_path, str(profile), "--mock", "--stages", "10:1s", "--warmup", "0", "--grace", "3s")
    summary = summary_of(run_dir)
    assert errors(summary) == []
    assert summary["stages"][0]["all"]["ok"] > 0, summary["stages"][0]["all"]
    assert summary["timeline"], "the engine sampled no second"


def test_merged_and_rebuilt_summaries_validate(tmp_path):
    shards = []
    for k in (0, 1):
        shards.append(
            run(
                tmp_path / f"s{k}",
                "--stages", "2:1s,@20:1s", "--warmup", "0", "--grace", "2s", "--seed", "5", "--shard", f"{k}/2",
            )
        )
    merged = tmp_path / "merged"
    llmload("merge", "--out", str(merged), *map(str, shards))
    rebuilt = tmp_path / "rebuilt"
    llmload("report", "--from-jsonl", str(shards[0]), "--out", str(rebuilt))
    for name, s in [("shard", summary_of(shards[0])), ("merged", summary_of(merged)), ("rebuilt", summary_of(rebuilt))]:
        assert errors(s) == [], name
    m = summary_of(merged)
    assert len(m["meta"]["merged_runs"]) == 2 and m["timeline"], m["meta"]
    assert summary_of(rebuilt)["meta"]["run_id"].startswith("jsonl-")


def test_broken_summaries_do_not_validate(tmp_path):
    good = summary_of(run(tmp_path, "--stages", "5:2s", "--warmup", "0"))
    assert errors(good) == []

    def broken(change) -> list[str]:
        s = copy.deepcopy(good)
        change(s)
        return errors(s)

    all_ = lambda s: s["stages"][0]["all"]  # noqa: E731
    cases = {
        "a counter missing": lambda s: all_(s).pop("served"),
        "an undocumented field": lambda s: all_(s).__setitem__("surprise", 1),
        "a negative count": lambda s: all_(s).__setitem__("requests", -1),
        "a rate that is not a number": lambda s: all_(s).__setitem__("rps", None),
        "an unknown error class": lambda s: all_(s)["errors"].__setitem__("oops", 1),
        "an unknown metric": lambda s: all_(s)["us"].__setitem__("latencyy", all_(s)["us"]["latency"]),
        "a share above 1": lambda s: all_(s).__setitem__("ok_rate", 1.5),
        "another schema version": lambda s: s.__setitem__("schema_version", 2),
        "a malformed stage": lambda s: s["stages"][0].__setitem__("stage", "two users"),
        "a timeline second without its stage": lambda s: s["timeline"][0].pop("stage"),
        "a meta field missing": lambda s: s["meta"].pop("run_id"),
    }
    for what, change in cases.items():
        assert broken(change), f"{what}: still validates"
