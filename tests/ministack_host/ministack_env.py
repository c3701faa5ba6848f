"""A virtualenv with ministack and this checkout of iotsql (editable, with the `ministack` extra),
made once and cached, and `iotsql ministack` started from it as a real server process.

ministack pins botocore exactly, which the dev environment's boto3 may not accept, so it gets an
environment of its own; the test process talks to it over HTTP and MQTT-over-WebSocket only.

The cache is `$IOTSQL_TEST_CACHE`, else `$XDG_CACHE_HOME/iotsql-tests`, else
`~/.cache/iotsql-tests` (CI can keep that folder between runs). A virtualenv's name holds the
ministack version, the Python version and a hash of this checkout's path and pyproject.toml, so
a change of dependencies or of checkout makes a new one (and removes that checkout's older
ones). Creation holds a file lock, so test
processes running at once build it once; a virtualenv is only used once its `.complete` marker
exists. `IOTSQL_TEST_MINISTACK` picks another ministack version (default MINISTACK_VERSION).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parents[2]
#: The ministack release the tests run by default (the newest of the supported range).
MINISTACK_VERSION = os.environ.get("IOTSQL_TEST_MINISTACK", "1.5.33")
INSTALL_TIMEOUT = 900


class EnvironmentUnavailable(Exception):
    """The virtualenv could not be made (no network, no package index...)."""


def cache_root() -> Path:
    explicit = os.environ.get("IOTSQL_TEST_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "iotsql-tests"


def _checkout() -> str:
    return hashlib.sha256(str(REPO).encode("utf-8")).hexdigest()[:10]


def environment_name(version: str = MINISTACK_VERSION) -> str:
    """`ministack-<version>-py<X><Y>-<checkout>-<pyproject>`: one virtualenv per checkout and
    dependency set."""
    dependencies = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()[:10]
    python = f"py{sys.version_info.major}{sys.version_info.minor}"
    return f"ministack-{version}-{python}-{_checkout()}-{dependencies}"


def _prune(root: Path, keep: str) -> None:
    """Remove this checkout's virtualenvs of the same ministack and Python made for an older
    pyproject.toml (their lock files stay: a process may hold one)."""
    prefix = keep.rsplit("-", 1)[0]
    for old in root.glob(f"{prefix}-*"):
        if old.is_dir() and old.name != keep:
            shutil.rmtree(old, ignore_errors=True)


def _python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (released when the file is closed)."""
    with open(path, "a+b") as handle:
        try:
            import fcntl
        except ImportError:  # Windows
            import msvcrt

            while True:
                try:
                    msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
                    break
                except OSError:  # LK_LOCK gives up after 10 s: keep waiting
                    continue
            yield
            return
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield


def ministack_python(version: str = MINISTACK_VERSION) -> Path:
    """The Python of the cached virtualenv (made on first use)."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    name = environment_name(version)
    venv = root / name
    marker = venv / ".complete"
    if marker.exists():
        return _python(venv)
    with _file_lock(root / f"{name}.lock"):
        if marker.exists():  # made by another process while this one waited
            return _python(venv)
        if venv.exists():  # left half made by an interrupted run
            shutil.rmtree(venv)
        _prune(root, name)
        _run([sys.executable, "-m", "venv", str(venv)], "create the virtualenv")
        _run(
            [str(_python(venv)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             f"ministack=={version}", "-e", f"{REPO}[ministack]"],
            f"install ministack {version} and iotsql into {venv}",
        )  # fmt: skip
        marker.write_text(f"ministack {version}\n", encoding="utf-8")
    return _python(venv)


def _run(command: list[str], what: str) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT,
                              env=clean_env())  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as err:
        raise EnvironmentUnavailable(f"could not {what}: {err}") from err
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise EnvironmentUnavailable(f"could not {what} (exit {done.returncode}):\n{tail}")


def clean_env() -> dict[str, str]:
    """The environment without what would make the virtualenv see the dev environment's
    packages or talk to a real AWS account."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
           and not k.startswith("AWS_")}  # fmt: skip
    return env


# ---- the server -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """`iotsql ministack` running on 127.0.0.1:port; its output goes to `log`."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path
    _log_handle: IO[bytes]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        if not self._log_handle.closed:
            self._log_handle.flush()
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        self._log_handle.close()


def start_server(python: Path, log: Path, timeout: float = 60.0) -> Server:
    """Start `python -m iotsql ministack` on a free port and wait until it answers."""
    port = free_port()
    env = clean_env()
    env.update({
        "IOT_MTLS_ENABLED": "0",  # ministack's MQTT/TLS listener would take port 8883
        "SFTP_ENABLED": "0",
        "PERSIST_STATE": "0",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    })  # fmt: skip
    handle = open(log, "wb")  # noqa: SIM115 (closed by Server.stop)
    process = subprocess.Popen(
        [str(python), "-m", "iotsql", "ministack", "--port", str(port), "--host", "127.0.0.1"],
        stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    server = Server(process, port, log, handle)
    try:
        wait_ready(server.endpoint, timeout, process)
    except RuntimeError:
        server.stop()
        raise RuntimeError(f"iotsql ministack did not start:\n{server.output()[-3000:]}") from None
    return server


def wait_ready(
    endpoint: str, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Wait until ministack at `endpoint` says it is ready (RuntimeError after `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{endpoint}/_ministack/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if (process is not None and process.poll() is not None) or time.monotonic() > deadline:
            raise RuntimeError(f"ministack at {endpoint} is not ready")
        time.sleep(0.2)
