"""Fixtures: start `llmload mock` as a subprocess and hand out SDK clients pointed at it.

The binary comes from $LLMLOAD_BIN (default: target/release/llmload at the repo root).
The mock must print, as its first stdout line, exactly
    llmload mock: listening on http://127.0.0.1:PORT
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

import helpers

REPO_ROOT = Path(__file__).resolve().parents[2]
LISTEN_RE = re.compile(r"^llmload mock: listening on (http://127\.0\.0\.1:(\d+))$")
START_TIMEOUT_S = 10.0


def mock_bin() -> str:
    b = os.environ.get("LLMLOAD_BIN") or str(REPO_ROOT / "target" / "release" / "llmload")
    p = Path(b)
    if not p.is_absolute():
        p = (Path.cwd() / p).resolve()
    if not p.exists():
        pytest.exit(f"llmload binary not found at {p} (set LLMLOAD_BIN or build with cargo build --release)", 2)
    return str(p)


@dataclass
class Mock:
    proc: subprocess.Popen
    url: str
    args: list[str]
    stdout_path: Path
    stderr_path: Path
    expect_exit: bool = False  # set by tests that stop the mock on purpose

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stderr(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        return self.proc.returncode


def start_mock(extra_args: list[str] | tuple[str, ...] = (), tmpdir: Path | None = None) -> Mock:
    args = [mock_bin(), "mock", "--listen", "127.0.0.1:0", "--cores", "1", *extra_args]
    d = Path(tmpdir or tempfile.mkdtemp(prefix="llmload-conf-"))
    d.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}-{time.monotonic_ns()}"
    out_p, err_p = d / f"mock-{tag}.out", d / f"mock-{tag}.err"
    # Files, not pipes: a chatty mock can never block on a full pipe.
    with open(out_p, "wb") as out, open(err_p, "wb") as err:
        proc = subprocess.Popen(args, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=str(REPO_ROOT))
    deadline = time.monotonic() + START_TIMEOUT_S
    first_line = None
    while time.monotonic() < deadline:
        data = out_p.read_bytes()
        if b"\n" in data:
            first_line = data.split(b"\n", 1)[0].decode(errors="replace").rstrip("\r")
            break
        if proc.poll() is not None:
            raise RuntimeError(
                f"mock exited early with code {proc.returncode}: {' '.join(args)}\n"
                f"stdout: {data.decode(errors='replace')}\nstderr: {err_p.read_text(errors='replace')}"
            )
        time.sleep(0.02)
    if first_line is None:
        proc.kill()
        proc.wait()
        raise RuntimeError(
            f"mock did not print its listening line within {START_TIMEOUT_S}s: {' '.join(args)}\n"
            f"stderr: {err_p.read_text(errors='replace')}"
        )
    m = LISTEN_RE.match(first_line)
    if not m:
        proc.kill()
        proc.wait()
        raise RuntimeError(
            f"first stdout line of the mock is not `llmload mock: listening on http://127.0.0.1:PORT`: {first_line!r}"
        )
    return Mock(proc=proc, url=m.group(1), args=list(extra_args), stdout_path=out_p, stderr_path=err_p)


def _teardown(mocks: list[Mock]) -> None:
    crashed = []
    for m in mocks:
        if not m.alive() and not m.expect_exit:
            crashed.append(m)
        m.stop()
    if crashed:
        lines = [f"mock {m.args} died during the test (exit {m.proc.returncode}); stderr tail:\n{m.stderr()[-2000:]}" for m in crashed]
        pytest.fail("\n".join(lines), pytrace=False)


@pytest.fixture(scope="module")
def mock(tmp_path_factory) -> Mock:
    """One default mock per test module."""
    m = start_mock([], tmp_path_factory.mktemp("mock"))
    yield m
    _teardown([m])


@pytest.fixture
def mock_factory(tmp_path):
    """Start mocks with extra CLI args: `mock_factory("--api-key", "sk-test")`."""
    started: list[Mock] = []

    def make(*extra: str) -> Mock:
        m = start_mock(list(extra), tmp_path)
        started.append(m)
        return m

    yield make
    _teardown(started)


@pytest.fixture
def url(mock) -> str:
    return mock.url


@pytest.fixture
def oai(mock):
    c = helpers.openai_client(mock.url)
    yield c
    c.close()


@pytest.fixture
def anth(mock):
    c = helpers.anthropic_client(mock.url)
    yield c
    c.close()


@pytest.fixture(autouse=True)
def _mock_survives(request):
    """Pin a crash of the module's mock on the test that caused it."""
    yield
    if "mock" in request.fixturenames:
        m = request.getfixturevalue("mock")
        if not m.alive():
            pytest.fail(
                f"the mock died during this test (exit {m.proc.returncode}); stderr tail:\n{m.stderr()[-2000:]}",
                pytrace=False,
            )
