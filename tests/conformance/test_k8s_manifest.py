"""deploy/kubernetes: the Indexed Job that runs N shards of one load test, checked for what
makes a distributed run correct (not just valid YAML):

- a Job with completionMode Indexed and completions == parallelism == the N of --shard K/N;
- K comes from JOB_COMPLETION_INDEX (0-based, as --shard expects);
- START_AT comes from the ConfigMap in these manifests, which has that key;
- the profile file the command reads is the ConfigMap key mounted at that path, and the
  profile there passes `llmload validate`;
- --out lies on the results volume, a PVC declared here;
- restartPolicy Never and a backoffLimit (a retried shard would send its load late);
- the key only through a secretKeyRef: no literal secrets anywhere.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path, PurePosixPath

import pytest
import yaml

from conftest import mock_bin

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"


def docs() -> list[tuple[str, dict]]:
    out = []
    for f in sorted(DEPLOY.glob("*.yaml")):
        for d in yaml.safe_load_all(f.read_text()):
            if d is not None:
                out.append((f.name, d))
    return out


def one(kind: str) -> dict:
    found = [d for _, d in docs() if d.get("kind") == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def job_container() -> tuple[dict, dict, dict]:
    job = one("Job")
    pod = job["spec"]["template"]["spec"]
    containers = pod["containers"]
    assert len(containers) == 1, "one llmload container per shard"
    return job, pod, containers[0]


def command(c: dict) -> list[str]:
    return [str(a) for a in (c.get("command") or []) + (c.get("args") or [])]


def flag(cmd: list[str], name: str) -> str:
    assert cmd.count(name) == 1, f"{name} once in {cmd}"
    return cmd[cmd.index(name) + 1]


def env(c: dict, name: str) -> dict:
    found = [e for e in c.get("env") or [] if e["name"] == name]
    assert len(found) == 1, f"env {name} once in the container"
    return found[0]


def mount_for(c: dict, pod: dict, path: str) -> tuple[dict, dict, str]:
    """The volume mount holding `path`, its volume, and the path inside the volume."""
    p = PurePosixPath(path)
    best = None
    for m in c.get("volumeMounts") or []:
        mp = PurePosixPath(m["mountPath"])
        if p == mp or mp in p.parents:
            if best is None or len(mp.parts) > len(PurePosixPath(best["mountPath"]).parts):
                best = m
    assert best is not None, f"{path} is on no volume mount"
    vols = [v for v in pod.get("volumes") or [] if v["name"] == best["name"]]
    assert len(vols) == 1, f"volume {best['name']} declared once"
    return best, vols[0], str(p.relative_to(best["mountPath"]))


def test_every_yaml_document_parses_and_kustomization_lists_every_manifest():
    names = {f.name for f in DEPLOY.glob("*.yaml")}
    assert {"llmload-job.yaml", "llmload-config.yaml", "kustomization.yaml"} <= names
    for name, d in docs():
        assert isinstance(d, dict) and d.get("kind"), f"{name}: a document without kind"
        if d["kind"] != "Kustomization":
            assert d.get("apiVersion") and d.get("metadata", {}).get("name"), f"{name}: {d['kind']}"
    kust = one("Kustomization")
    assert set(kust["resources"]) == names - {"kustomization.yaml"}
    assert "configMapGenerator" not in kust and "secretGenerator" not in kust, "names stay as written"


def test_indexed_job_with_completions_parallelism_and_shard_count_equal():
    job, pod, c = job_container()
    spec = job["spec"]
    assert job["apiVersion"] == "batch/v1"
    assert spec["completionMode"] == "Indexed"
    cmd = command(c)
    assert cmd[:2] == ["llmload", "run"], cmd
    m = re.fullmatch(r"\$\(JOB_COMPLETION_INDEX\)/(\d+)", flag(cmd, "--shard"))
    assert m, f"--shard must be $(JOB_COMPLETION_INDEX)/N: {cmd}"
    n = int(m.group(1))
    assert n >= 2
    assert spec["completions"] == spec["parallelism"] == n


def test_shard_index_comes_from_the_job_completion_index():
    _, _, c = job_container()
    e = env(c, "JOB_COMPLETION_INDEX")
    assert e["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    )
    assert "value" not in e


def test_start_at_comes_from_the_configmap_in_the_manifests():
    _, _, c = job_container()
    assert flag(command(c), "--start-at") == "$(START_AT)"
    ref = env(c, "START_AT")["valueFrom"]["configMapKeyRef"]
    cm = one("ConfigMap")
    assert ref["name"] == cm["metadata"]["name"]
    assert ref["key"] in cm["data"]
    start = cm["data"][ref["key"]]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)|\d+", start), start
    assert ref.get("optional") is not True


def test_profile_is_the_mounted_configmap_key_and_validates(tmp_path):
    _, pod, c = job_container()
    cmd = command(c)
    profile_path = cmd[2]
    assert profile_path.startswith("/") and profile_path.endswith(".json"), cmd
    mount, vol, rel = mount_for(c, pod, profile_path)
    cm = one("ConfigMap")
    assert vol["configMap"]["name"] == cm["metadata"]["name"]
    items = vol["configMap"].get("items")
    key = next((i["key"] for i in items if i["path"] == rel), None) if items else rel
    assert key in cm["data"], f"{profile_path}: no ConfigMap key behind it"
    p = tmp_path / "profile.json"
    p.write_text(cm["data"][key])
    r = subprocess.run([mock_bin(), "validate", str(p)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_out_is_on_the_results_pvc_per_shard():
    _, pod, c = job_container()
    out = flag(command(c), "--out")
    assert "$(JOB_COMPLETION_INDEX)" in out, "each shard writes its own directory"
    mount, vol, _ = mount_for(c, pod, out)
    assert not mount.get("readOnly")
    claim = vol["persistentVolumeClaim"]["claimName"]
    assert claim == "llmload-results"
    pvc = one("PersistentVolumeClaim")
    assert pvc["metadata"]["name"] == claim
    assert "ReadWriteMany" in pvc["spec"]["accessModes"]


def test_never_restarted_and_backoff_limit_set():
    job, pod, _ = job_container()
    assert pod["restartPolicy"] == "Never"
    assert isinstance(job["spec"].get("backoffLimit"), int)
    assert job["spec"]["backoffLimit"] == 0, "a retried shard would send its load at the wrong time"


SECRETISH = re.compile(r"(vk|key|token|secret|password|passwd|auth)", re.I)


def test_the_key_only_through_a_secret_key_ref():
    _, _, c = job_container()
    vk = env(c, "LLMLOAD_VK")
    assert "value" not in vk
    assert vk["valueFrom"]["secretKeyRef"]["name"] and vk["valueFrom"]["secretKeyRef"]["key"]
    cmd = command(c)
    assert not any(a.startswith("--vk") or a.lower().startswith("--header") for a in cmd), cmd
    for name, d in docs():
        assert d.get("kind") != "Secret", f"{name}: a Secret's value does not belong in the repo"
        for cont in (d.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []):
            for e in cont.get("env") or []:
                if SECRETISH.search(e["name"]):
                    assert "value" not in e, f"{name}: env {e['name']} has a literal value"
    text = "\n".join(f.read_text() for f in DEPLOY.glob("*.yaml"))
    assert not re.search(r"(?i)bearer\s+[A-Za-z0-9._~+/-]{8,}", text), "a bearer token in the manifests"
    assert not re.search(r"sk-[A-Za-z0-9]{16,}", text), "an API key in the manifests"
