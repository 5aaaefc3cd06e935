"""Start, watch and stop the three Yishi processes: Rasa, the action server and the gateway.

`python -m ops.stack run` (what `make run` / `make demo` call) starts all three on 127.0.0.1,
waits until each is ready (Rasa: a model loaded, then one warm-up parse), prints the URL,
restarts a process that dies, and stops all three on Ctrl-C. Logs go to logs/<name>.log.
The end-to-end tests use the same `Stack` on free ports with their own data directory.
Unless YISHI_DATA_KEYS or YISHI_DATA_KEY_FILE is set, the gateway encrypts personal data with a
key file made once in the data directory (<var>/data.keys, mode 0600; never commit it).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ops.paths import APP_PYTHON, BOT_DIR, LOG_DIR, MODEL_FILE, RASA_BIN, ROOT, VAR_DIR, rasa_env

SERVICES = ("actions", "rasa", "gateway")

# One address (the end-to-end tests, the fuzz suite) sends far more than any citizen: these
# raise the gateway's rate limits without switching them off.
RAISED_LIMITS_ENV = {
    "YISHI_RATE_LIMIT_SENDER": "100000/minute",
    "YISHI_RATE_LIMIT_VOICE": "100000/minute",
    "YISHI_RATE_LIMIT_IP": "100000/minute",
    "YISHI_RATE_LIMIT_PROGRESS": "100000/minute",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


@dataclass
class StackConfig:
    host: str = "127.0.0.1"
    gateway_port: int = field(default_factory=lambda: _env_int("YISHI_PORT", 8000))
    rasa_port: int = field(default_factory=lambda: _env_int("YISHI_RASA_PORT", 5005))
    action_port: int = field(default_factory=lambda: _env_int("YISHI_ACTION_PORT", 5055))
    rasa_token: str = field(
        default_factory=lambda: os.environ.get("YISHI_RASA_TOKEN", "yishi-dev-token")
    )
    internal_token: str = field(
        default_factory=lambda: os.environ.get("YISHI_INTERNAL_TOKEN", "yishi-dev-internal-token")
    )
    var_dir: Path = VAR_DIR
    log_dir: Path = LOG_DIR
    model: Path = MODEL_FILE
    endpoints: Path = field(
        default_factory=lambda: ROOT / os.environ.get("YISHI_RASA_ENDPOINTS", "bot/endpoints.yml")
    )
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def database_url(self) -> str:
        """SQLite in the data directory, unless YISHI_DATABASE_URL names another database
        (PostgreSQL for the scale-out path: `make test-scale`)."""
        url = self.extra_env.get("YISHI_DATABASE_URL") or os.environ.get("YISHI_DATABASE_URL")
        return url or f"sqlite:///{self.var_dir / 'yishi.db'}"

    @property
    def data_key_file(self) -> Path:
        return self.var_dir / "data.keys"

    @classmethod
    def on_free_ports(cls, var_dir: Path, log_dir: Path, **kwargs: Any) -> StackConfig:
        return cls(
            gateway_port=free_port(),
            rasa_port=free_port(),
            action_port=free_port(),
            var_dir=var_dir,
            log_dir=log_dir,
            **kwargs,
        )

    @property
    def gateway_url(self) -> str:
        return f"http://{self.host}:{self.gateway_port}"

    @property
    def rasa_url(self) -> str:
        return f"http://{self.host}:{self.rasa_port}"

    @property
    def action_url(self) -> str:
        return f"http://{self.host}:{self.action_port}"


def ensure_data_key_file(path: Path) -> None:
    """Create a key file with one fresh data key (a Fernet key: 32 random bytes, URL-safe
    base64) unless it exists; readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(
            "# Yishi data keys: the first encrypts, all decrypt. Never commit this file.\n"
            f"{base64.urlsafe_b64encode(os.urandom(32)).decode('ascii')}\n"
        )
    print(f"Created a data key file for personal data at rest: {path}")


def _get_json(url: str, timeout: float = 2.0, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (loopback)
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (urllib.error.URLError, OSError, ValueError):
        return 0, None


class Stack:
    """The three processes, each in its own process group, logging to its own file."""

    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: dict[str, Any] = {}
        self.started_at: dict[str, float] = {}
        self.ready_after: dict[str, float] = {}

    # -- commands ---------------------------------------------------------------------------
    def _command(self, name: str) -> tuple[list[str], dict[str, str]]:
        c = self.config
        base = {**os.environ, **c.extra_env, "PYTHONUNBUFFERED": "1"}
        if name == "actions":
            cmd = [
                str(APP_PYTHON),
                "-m",
                "rasa_sdk",
                "--actions",
                "actions",
                "-p",
                str(c.action_port),
            ]
            env = {
                **base,
                "SANIC_HOST": c.host,
                "YISHI_GATEWAY_URL": c.gateway_url,
                "YISHI_INTERNAL_TOKEN": c.internal_token,
            }
            return cmd, env
        if name == "rasa":
            cmd = [
                str(RASA_BIN), "run",
                "--enable-api", "--auth-token", c.rasa_token,
                "-i", c.host, "-p", str(c.rasa_port),
                "-m", str(c.model),
                "--endpoints", str(c.endpoints),
                "--credentials", str(BOT_DIR / "credentials.yml"),
            ]  # fmt: skip
            env = {
                **base,
                **rasa_env(),
                "YISHI_ACTION_ENDPOINT": f"{c.action_url}/webhook",
                "YISHI_TRACKER_DB": str(c.var_dir / "rasa_tracker.db"),
            }
            return cmd, env
        if name == "gateway":
            cmd = [
                str(APP_PYTHON), "-m", "uvicorn", "channels.main:create_app", "--factory",
                "--host", c.host, "--port", str(c.gateway_port), "--no-access-log",
            ]  # fmt: skip
            env = {
                **base,
                "YISHI_HOST": c.host,
                "YISHI_PORT": str(c.gateway_port),
                "YISHI_RASA_URL": c.rasa_url,
                "YISHI_RASA_TOKEN": c.rasa_token,
                "YISHI_ACTION_URL": c.action_url,
                "YISHI_DATABASE_URL": c.database_url,
                "YISHI_INTERNAL_TOKEN": c.internal_token,
                "YISHI_TRACKER_DB": str(c.var_dir / "rasa_tracker.db"),
            }
            if not env.get("YISHI_DATA_KEYS") and not env.get("YISHI_DATA_KEY_FILE"):
                env["YISHI_DATA_KEY_FILE"] = str(c.data_key_file)
            return cmd, env
        raise ValueError(f"unknown service {name!r}")

    # -- readiness --------------------------------------------------------------------------
    def is_ready(self, name: str) -> bool:
        c = self.config
        if name == "actions":
            status, body = _get_json(f"{c.action_url}/health")
            return status == 200 and isinstance(body, dict) and body.get("status") == "ok"
        if name == "rasa":
            status, body = _get_json(f"{c.rasa_url}/status?token={c.rasa_token}")
            return status == 200 and isinstance(body, dict) and bool(body.get("model_file"))
        if name == "gateway":
            status, _ = _get_json(f"{c.gateway_url}/healthz")
            return status == 200
        raise ValueError(name)

    def wait_ready(self, name: str, timeout: float = 180.0) -> float:
        """Block until `name` is ready; return the seconds since it was started."""
        deadline = time.monotonic() + timeout
        process = self.processes[name]
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {process.returncode}; {self.log_path(name)} ends:\n"
                    + self.log_tail(name)
                )
            if self.is_ready(name):
                if name == "rasa":  # the first parse loads lazily built parts: do it now
                    _get_json(
                        f"{self.config.rasa_url}/model/parse?token={self.config.rasa_token}",
                        timeout=60,
                        body={"text": "你好"},
                    )
                elapsed = time.monotonic() - self.started_at[name]
                self.ready_after[name] = elapsed
                return elapsed
            time.sleep(0.5)
        raise TimeoutError(
            f"{name} not ready after {timeout:.0f} s; {self.log_path(name)} ends:\n"
            + self.log_tail(name)
        )

    def log_tail(self, name: str, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path(name).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # -- lifecycle --------------------------------------------------------------------------
    def log_path(self, name: str) -> Path:
        return self.config.log_dir / f"{name}.log"

    def start(self, name: str) -> None:
        if name in self.processes and self.processes[name].poll() is None:
            return
        self.config.var_dir.mkdir(parents=True, exist_ok=True)
        self.config.log_dir.mkdir(parents=True, exist_ok=True)
        cmd, env = self._command(name)
        if name == "gateway" and env.get("YISHI_ENV") != "production":
            if not env.get("YISHI_DATA_KEYS"):
                ensure_data_key_file(Path(env["YISHI_DATA_KEY_FILE"]))
        log = open(self.log_path(name), "ab")  # noqa: SIM115 (closed in stop)
        self._logs[name] = log
        self.started_at[name] = time.monotonic()
        self.processes[name] = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def stop(self, name: str, timeout: float = 15.0) -> None:
        process = self.processes.pop(name, None)
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            except ProcessLookupError:
                pass
        log = self._logs.pop(name, None)
        if log is not None:
            log.close()

    def restart(self, name: str, timeout: float = 180.0) -> float:
        self.stop(name)
        self.start(name)
        return self.wait_ready(name, timeout)

    def start_all(self, timeout: float = 240.0) -> None:
        # Rasa is the slow one (30-40 s): start everything at once, then wait in order.
        for name in SERVICES:
            self.start(name)
        try:
            for name in SERVICES:
                self.wait_ready(name, timeout)
        except BaseException:
            self.stop_all()
            raise

    def stop_all(self) -> None:
        for name in reversed(SERVICES):
            self.stop(name)

    def rss_mb(self) -> dict[str, float]:
        """Resident memory of each process group, from /proc (Linux)."""
        result: dict[str, float] = {}
        for name, process in self.processes.items():
            total_kb = 0
            for pid in _group_pids(process.pid):
                try:
                    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                        if line.startswith("VmRSS:"):
                            total_kb += int(line.split()[1])
                except OSError:
                    continue
            result[name] = total_kb / 1024
        return result

    def __enter__(self) -> Stack:
        self.start_all()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


def _group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def run_forever(stack: Stack) -> None:
    """Start everything, print where it is, restart what dies, stop on Ctrl-C / SIGTERM."""
    stopping = False

    def _stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    c = stack.config
    print(
        f"Starting Rasa ({c.rasa_port}), action server ({c.action_port}), gateway ({c.gateway_port}); logs in {c.log_dir}"
    )
    t0 = time.monotonic()
    stack.start_all()
    print(
        f"All ready in {time.monotonic() - t0:.1f} s: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in stack.ready_after.items())
    )
    print(
        f"\n  一事通 web chat:  {c.gateway_url}/\n  坐席工作台:      {c.gateway_url}/agent\n  API docs:        {c.gateway_url}/docs\n  Health:          {c.gateway_url}/healthz\n\nCtrl-C stops all three.",
        flush=True,
    )
    restarts: list[float] = []
    try:
        while not stopping:
            time.sleep(1)
            for name in SERVICES:
                process = stack.processes.get(name)
                if stopping or process is None or process.poll() is None:
                    continue
                now = time.monotonic()
                restarts = [t for t in restarts if now - t < 300]
                if len(restarts) >= 5:
                    print(
                        f"{name} keeps dying (see {stack.log_path(name)}); giving up",
                        file=sys.stderr,
                    )
                    stopping = True
                    break
                restarts.append(now)
                print(
                    f"{name} exited with {process.returncode}; restarting",
                    file=sys.stderr,
                    flush=True,
                )
                stack.stop(name)
                stack.start(name)
    finally:
        print("Stopping…", flush=True)
        stack.stop_all()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["run"])
    parser.parse_args()
    if not MODEL_FILE.exists():
        sys.exit(f"No model at {MODEL_FILE}: run `make train` first")
    run_forever(Stack())


if __name__ == "__main__":
    main()
