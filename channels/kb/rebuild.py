"""Rebuilding the knowledge index from the admin page, in a child process.

`python -m retrieval.build --progress-file …` runs beside the gateway (so the gateway never
holds a second copy of the embedding model, and a crash cannot take it down) and keeps its
progress in `<index_root>/.rebuild/progress.json`. One rebuild at a time: the runner holds an
exclusive lock on `<index_root>/.rebuild/lock` for as long as its child runs, so a second
gateway replica sharing the index directory is refused too. When the build points
indexes/CURRENT at the new index, the action server and the gateway swap it in by themselves
(retrieval.searcher.SearcherHandle); nothing is restarted.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from retrieval.build import STAGES
from retrieval.config import ROOT, RetrievalSettings
from retrieval.manifest import CURRENT_FILE, MANIFEST_FILE, corpus_sha256

logger = logging.getLogger(__name__)
STATE_DIR = ".rebuild"
LOG_TAIL_CHARS = 4000


class RebuildBusyError(Exception):
    """A rebuild is already running (here or in another gateway sharing the index)."""


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def percent(progress: dict[str, Any] | None) -> float:
    """The whole build's share done, from the stage and the count within it."""
    if not progress:
        return 0.0
    if progress.get("stage") == "done":
        return 100.0
    steps = int(progress.get("steps") or len(STAGES))
    step = int(progress.get("step") or 0)
    total = int(progress.get("total") or 0)
    within = min(1.0, int(progress.get("done") or 0) / total) if total else 0.0
    return round(100.0 * max(0, step - 1 + within) / steps, 1)


class RebuildRunner:
    """Starts `python -m retrieval.build` for one gateway and reports on it."""

    def __init__(
        self,
        settings: RetrievalSettings,
        python: str = sys.executable,
        on_finish: Callable[[dict[str, Any]], None] | None = None,
        command: list[str] | None = None,
    ) -> None:
        self.settings = settings
        self.python = python
        self.on_finish = on_finish
        self.command = command or [python, "-m", "retrieval.build", "--quiet"]
        self.dir = settings.index_root / STATE_DIR
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock_file: IO[str] | None = None
        self._started: dict[str, Any] = {}

    # -- paths -----------------------------------------------------------------------------

    @property
    def progress_path(self) -> Path:
        return self.dir / "progress.json"

    @property
    def last_path(self) -> Path:
        return self.dir / "last.json"

    @property
    def log_path(self) -> Path:
        return self.dir / "build.log"

    # -- starting --------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        s = self.settings
        return {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            # the gateway's own view of where things are, whatever the child's defaults
            "YISHI_RETRIEVAL_KNOWLEDGE_DIR": str(s.knowledge_dir),
            "YISHI_RETRIEVAL_INDEX_ROOT": str(s.index_root),
            "YISHI_RETRIEVAL_CACHE_DIR": str(s.cache_dir),
            "YISHI_RETRIEVAL_MODEL_DIR": str(s.model_dir),
            "YISHI_RETRIEVAL_INDEX_TYPE": s.index_type,
        }

    def start(self, actor: str) -> dict[str, Any]:
        with self._lock:
            if self._proc is not None and self._proc.poll() is None:
                raise RebuildBusyError()
            self.dir.mkdir(parents=True, exist_ok=True)
            lock_file = open(self.dir / "lock", "a+", encoding="utf-8")  # noqa: SIM115
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                lock_file.close()
                raise RebuildBusyError() from exc
            self.progress_path.unlink(missing_ok=True)
            self._started = {
                "started_by": actor,
                "started_at": time.time(),
                "kb_version_before": self.current_version(),
            }
            _write_json(self.dir / "running.json", self._started)
            log = open(self.log_path, "wb")  # noqa: SIM115 - closed by the watcher
            try:
                self._proc = subprocess.Popen(
                    [*self.command, "--progress-file", str(self.progress_path)],
                    cwd=ROOT,
                    env=self._env(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError:
                log.close()
                lock_file.close()
                raise
            self._lock_file = lock_file
            threading.Thread(
                target=self._watch, args=(self._proc, log), name="kb-rebuild", daemon=True
            ).start()
            logger.info("knowledge rebuild started by %s (pid %d)", actor, self._proc.pid)
        return self.status()

    def _watch(self, proc: subprocess.Popen[bytes], log: IO[bytes]) -> None:
        code = proc.wait()
        log.close()
        progress = _read_json(self.progress_path) or {}
        finished = time.time()
        result: dict[str, Any] = {
            **self._started,
            "finished_at": finished,
            "seconds": round(finished - float(self._started.get("started_at", finished)), 1),
            "exit_code": code,
            "ok": code == 0 and progress.get("stage") == "done",
            "kb_version": progress.get("kb_version"),
            "build_seconds": progress.get("seconds"),
            "embedded": progress.get("embedded"),
        }
        if not result["ok"]:
            result["error"] = progress.get("error") or f"exit_{code}"
            result["error_detail"] = progress.get("detail") or self._log_tail()
        _write_json(self.last_path, result)
        with self._lock:
            if self._lock_file is not None:
                self._lock_file.close()  # releases the flock
                self._lock_file = None
        logger.info(
            "knowledge rebuild %s in %.1f s: %s",
            "finished" if result["ok"] else "failed",
            result["seconds"],
            result.get("kb_version") or result.get("error"),
        )
        if self.on_finish is not None:
            try:
                self.on_finish(result)
            except Exception:  # noqa: BLE001 - reporting must not kill the watcher
                logger.exception("rebuild result could not be recorded")

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-LOG_TAIL_CHARS:]
        except OSError:
            return ""

    # -- reporting -------------------------------------------------------------------------

    def running_here(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def running_anywhere(self) -> bool:
        if self.running_here():
            return True
        try:
            with open(self.dir / "lock", "a+", encoding="utf-8") as probe:
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(probe, fcntl.LOCK_UN)
        except FileNotFoundError:
            return False
        except OSError:
            return True
        return False

    def current_version(self) -> str | None:
        pointer = self.settings.index_root / CURRENT_FILE
        try:
            return pointer.read_text().strip() or None
        except OSError:
            return None

    def pending_changes(self) -> bool:
        """knowledge/ differs from what the current index was built from."""
        version = self.current_version()
        if version is None:
            return True
        manifest = _read_json(self.settings.index_root / version / MANIFEST_FILE) or {}
        return manifest.get("corpus_sha256") != corpus_sha256(self.settings.knowledge_dir)

    def status(self) -> dict[str, Any]:
        running = self.running_anywhere()
        progress = _read_json(self.progress_path) if running else None
        started = _read_json(self.dir / "running.json") if running else None
        return {
            "state": "running" if running else "idle",
            "progress": (
                {**progress, "percent": percent(progress)}
                if progress
                else ({"stage": "starting", "percent": 0.0} if running else None)
            ),  # fmt: skip
            "started_at": (started or {}).get("started_at"),
            "started_by": (started or {}).get("started_by"),
            "last": _read_json(self.last_path),
            "kb_version": self.current_version(),
            "pending_changes": self.pending_changes(),
        }

    def stop(self) -> None:
        """Ends a running child (the gateway is shutting down); its temporary files are
        cleared by the next build."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, 15)
                proc.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
