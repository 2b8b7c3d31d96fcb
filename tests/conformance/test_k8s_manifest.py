"""deploy/kubernetes: the Indexed Job that runs N shards of one load test, checked for what
makes a distributed run correct (not just valid YAML):

- a Job with completionMode Indexed and completions == parallelism == the N of --shard K/N;
- K comes from JOB_COMPLETION_INDEX (0-based, as --shard expects);
- START_AT comes from the ConfigMap in these manifests, which has that key;
- the profile file the command reads is the ConfigMap key mounted at that path, and the
  profile there passes `llmload validate`;
- --out lies on the results volume, a PVC declared here;
- restartPolicy Never and a backoffLimit (a retried shard would send its load late);
- the key only through a secretKeyRef: no literal secrets anywhere;
- deploy/Dockerfile builds the image the Job names (see the note above those tests for what
  they do and do not prove).
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
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


# deploy/Dockerfile: the image the Job names. These tests read the Dockerfile, they do not
# build or run the image (the suite needs no Docker): they prove the
# wiring between the Dockerfile, the Job, Cargo.toml and the docs — the tag, the binary's
# path, the user, the toolchain version, the build command, the files the build reads — not
# that the base images exist or that the build succeeds.

ROOT = DEPLOY.parents[1]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
BUILD_CMD = re.compile(r"docker build -t (\S+) -f deploy/Dockerfile \.")
# Debian's default PATH (the runtime stage sets no other).
DEBIAN_PATH = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]


def stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's stages, each a list of (INSTRUCTION, arguments): continuation lines
    joined, comments (and the syntax directive) dropped."""
    lines, cur = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        s = raw.strip()
        if s.startswith("#") or (not s and not cur):
            continue
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        lines.append(cur + s)
        cur = ""
    assert not cur, "a continuation at the end of the Dockerfile"
    out: list[list[tuple[str, str]]] = []
    for line in lines:
        instr, _, args = line.partition(" ")
        if instr.upper() == "FROM":
            out.append([])
        assert out, f"{line!r} before the first FROM"
        out[-1].append((instr.upper(), args.strip()))
    return out


def instr(stage: list[tuple[str, str]], name: str) -> list[str]:
    return [a for i, a in stage if i == name]


def cargo_toml() -> dict:
    import tomllib

    return tomllib.loads((ROOT / "Cargo.toml").read_text())


def builder() -> tuple[str, list[tuple[str, str]]]:
    """(stage name, instructions) of the build stage: the first, `FROM rust:… AS name`."""
    st = stages()
    assert len(st) == 2, "two stages: build, run"
    m = re.fullmatch(r"rust:\S+\s+AS\s+(\S+)", instr(st[0], "FROM")[0], re.I)
    assert m, f"the build stage is FROM rust:… AS name: {instr(st[0], 'FROM')}"
    return m.group(1), st[0]


def built_binary() -> str:
    """The path the build stage's `cargo build --release` writes the binary to."""
    _, st = builder()
    workdir = instr(st, "WORKDIR")
    assert len(workdir) == 1 and workdir[0].startswith("/")
    bins = [b["name"] for b in cargo_toml().get("bin", [])]
    assert bins == ["llmload"], bins
    return f"{workdir[0].rstrip('/')}/target/release/{bins[0]}"


def test_the_dockerfile_builds_the_image_the_job_names_as_documented():
    _, _, c = job_container()
    image = c["image"]
    for doc in [ROOT / "docs" / "distributed.md", DEPLOY / "README.md", DOCKERFILE]:
        tags = BUILD_CMD.findall(doc.read_text())
        assert tags, f"{doc.relative_to(ROOT)}: no `docker build -t … -f deploy/Dockerfile .`"
        assert set(tags) == {image}, f"{doc.relative_to(ROOT)} builds {tags}, the Job runs {image}"


def test_the_build_stage_is_a_locked_release_build_on_a_new_enough_rust():
    _, st = builder()
    version = re.match(r"rust:(\d+)\.(\d+)(?:\.(\d+))?-", instr(st, "FROM")[0])
    assert version, f"pin the toolchain: {instr(st, 'FROM')}"
    have = tuple(int(v or 0) for v in version.groups())
    want = tuple(int(v) for v in (cargo_toml()["package"]["rust-version"].split(".") + ["0"])[:3])
    assert have >= want, f"rust {have} in the build stage < Cargo.toml's rust-version {want}"
    builds = []
    for run in instr(st, "RUN"):
        words = [w for w in shlex.split(run) if not w.startswith("--mount=")]
        if words[:2] == ["cargo", "build"]:
            builds.append(words)
    assert len(builds) == 1, f"one cargo build: {instr(st, 'RUN')}"
    assert {"--release", "--locked"} <= set(builds[0]), builds[0]
    assert not any("target-cpu" in w for w in builds[0] + instr(st, "ENV")), "a portable binary"


def test_the_run_stage_holds_the_binary_where_the_job_runs_it():
    name, _ = builder()
    run = stages()[1]
    assert re.fullmatch(r"debian:\S+-slim", instr(run, "FROM")[0]), instr(run, "FROM")
    copies = [shlex.split(a) for a in instr(run, "COPY")]
    assert len(copies) == 1, f"only the binary is copied in: {copies}"
    flags = [w for w in copies[0] if w.startswith("--")]
    paths = [w for w in copies[0] if not w.startswith("--")]
    assert flags == [f"--from={name}"] and len(paths) == 2, copies[0]
    src, dest = paths
    assert src == built_binary(), f"COPY {src}: the build writes {built_binary()}"
    # What the Job's `command` resolves to is the copied file.
    _, pod, c = job_container()
    cmd = command(c)[0]
    if cmd.startswith("/"):
        assert cmd == dest
    else:
        on_path = str(PurePosixPath(dest).parent) in DEBIAN_PATH
        assert PurePosixPath(dest).name == cmd and on_path, f"the Job runs {cmd}, the image has {dest}"
    assert not instr(run, "ENV"), "no ENV: PATH stays Debian's"
    assert instr(run, "ENTRYPOINT") == [json.dumps([dest])], "docker run IMAGE run … works too"
    installs = [shlex.split(r) for r in instr(run, "RUN") if "apt-get install" in r]
    assert any("ca-certificates" in w for w in installs), "CA roots for https targets"
    # A numeric non-root user (runAsNonRoot can only verify a numeric one), the Job's uid.
    user = instr(run, "USER")
    assert len(user) == 1 and re.fullmatch(r"\d+(:\d+)?", user[0]), user
    uid = int(user[0].split(":")[0])
    assert uid != 0 and uid == pod["securityContext"]["runAsUser"]
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_the_build_context_holds_every_file_the_build_reads():
    _, st = builder()
    copied = []
    for args in instr(st, "COPY"):
        words = shlex.split(args)
        assert not any(w.startswith("--from") for w in words)
        copied += [w for w in words[:-1] if not w.startswith("--")]
    for src in copied:
        assert (ROOT / src).exists(), f"COPY {src}: not in the repository"
    assert {"Cargo.toml", "Cargo.lock"} <= set(copied), "--locked needs Cargo.lock"
    lines = (ROOT / "deploy" / "Dockerfile.dockerignore").read_text().splitlines()
    ignored = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for src in copied:
        assert not any(fnmatch.fnmatch(src, pat) for pat in ignored), f"{src} is in the .dockerignore"

    def inside(path: Path) -> bool:
        rel = path.resolve().relative_to(ROOT)
        return any(rel == Path(s) or Path(s) in rel.parents for s in copied)

    pkg = cargo_toml()
    for target in [pkg["lib"]] + pkg["bin"]:
        assert inside(ROOT / target["path"]), f"{target['path']} is not copied in"
    # Files compiled in (include_str!/include_bytes!) must be in the context too.
    included = 0
    for rs in (ROOT / "src").rglob("*.rs"):
        for rel in re.findall(r'include_(?:str|bytes)!\("([^"]+)"\)', rs.read_text()):
            assert inside(rs.parent / rel), f"{rs.relative_to(ROOT)}: {rel} is not copied in"
            included += 1
    assert included >= 2, "the quickstart profile and the report's CSS are compiled in"
