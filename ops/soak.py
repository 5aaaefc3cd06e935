"""`make soak`: many citizens for a long time while Rasa and the action server die and come back.

200 citizens send 20,000 messages (knowledge questions, guided filing to the receipt, requests
for a person) through the gateway of a stack started on free ports. A third of the way in Rasa is
killed (SIGKILL) and restarted; two thirds in, the action server. Afterwards it checks, from the
gateway's database and Rasa's tracker store:

- every message got exactly one outcome: a reply, or an explicit error (an HTTP status with the
  gateway's JSON error and a Chinese apology); a transport failure counts as lost;
- no conversation lost history: the gateway holds every message each citizen sent, and Rasa's
  tracker holds at least every message the bot answered;
- no duplicate form records: never more applications for a citizen than filings it confirmed.

    python -m ops.soak --citizens 200 --messages 20000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sqlite3
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from ops.bench import LOAD_ENV, warm_up
from ops.load import Citizen, Tally, gateway_send, make_citizens, run_citizens
from ops.stack import Stack, StackConfig


def kill(stack: Stack, name: str) -> None:
    process = stack.processes.get(name)
    if process is not None and process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


class Chaos:
    """Kills a process when the run reaches a share of its messages, then restarts it."""

    def __init__(self, stack: Stack, plan: list[tuple[float, str]], total: int) -> None:
        self.stack = stack
        self.pending = sorted((int(share * total), name) for share, name in plan)
        self.events: list[dict[str, Any]] = []
        self.tasks: list[asyncio.Task[None]] = []

    def on_message(self, sent: int) -> None:
        while self.pending and sent >= self.pending[0][0]:
            _, name = self.pending.pop(0)
            self.tasks.append(asyncio.get_running_loop().create_task(self._cycle(name, sent)))

    async def _cycle(self, name: str, sent: int) -> None:
        started = time.monotonic()
        kill(self.stack, name)
        self.stack.stop(name)  # closes its log handle
        self.stack.start(name)
        ready_after = await asyncio.to_thread(self.stack.wait_ready, name, 300.0)
        self.events.append(
            {
                "process": name,
                "killed_at_message": sent,
                "down_s": round(time.monotonic() - started, 1),
                "load_s": round(ready_after, 1),
            }
        )


def verify(stack: Stack, citizens: list[Citizen], tally: Tally) -> dict[str, Any]:
    db = sqlite3.connect(stack.config.var_dir / "yishi.db")
    try:
        inbound = dict(
            db.execute(
                "SELECT sender, COUNT(*) FROM chat_messages WHERE direction = 'in' GROUP BY sender"
            ).fetchall()
        )
        filed = dict(
            db.execute("SELECT sender, COUNT(*) FROM applications GROUP BY sender").fetchall()
        )
    finally:
        db.close()
    c = stack.config
    history_lost = tracker_short = duplicated = receipts_missing = 0
    with httpx.Client(base_url=c.rasa_url, timeout=30, trust_env=False) as rasa:
        for citizen in citizens:
            if inbound.get(citizen.sender, 0) < citizen.recorded:
                history_lost += 1
            tracker = rasa.get(
                f"/conversations/{citizen.sender}/tracker", params={"token": c.rasa_token}
            ).json()
            users = sum(1 for e in tracker.get("events") or [] if e.get("event") == "user")
            if users < citizen.answered:
                tracker_short += 1
            records = filed.get(citizen.sender, 0)
            if records > citizen.form_runs_confirmed:
                duplicated += records - citizen.form_runs_confirmed
            if records < len(citizen.receipts):
                receipts_missing += len(citizen.receipts) - records
    explicit = sum(v for k, v in tally.outcomes.items() if k.startswith("error:"))
    lost = sum(v for k, v in tally.outcomes.items() if k.startswith("transport:"))
    return {
        "sent": tally.sent,
        "replied": tally.outcomes.get("reply", 0),
        "explicit_errors": explicit,
        "lost": lost,
        "outcomes": dict(tally.outcomes),
        "conversations_missing_messages": history_lost,
        "trackers_missing_turns": tracker_short,
        "duplicated_records": duplicated,
        "receipts_without_record": receipts_missing,
        "applications": sum(filed.values()),
        "receipts_received": sum(len(c.receipts) for c in citizens),
    }


async def soak(
    stack: Stack,
    citizens: list[Citizen],
    messages: int,
    concurrency: int,
    plan: list[tuple[float, str]],
    error_pause: tuple[float, float] = (10.0, 30.0),
) -> tuple[Tally, Chaos, float]:
    tally = Tally()
    chaos = Chaos(stack, plan, messages)
    limits = httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=stack.config.gateway_url, timeout=60, limits=limits, trust_env=False
    ) as client:

        async def send(citizen: Citizen, text: str) -> Any:
            return await gateway_send(client, citizen, text)

        started = time.perf_counter()
        await run_citizens(
            send,
            citizens,
            messages,
            concurrency,
            tally,
            on_message=chaos.on_message,
            error_pause=error_pause,
        )
        await asyncio.gather(*chaos.tasks)
        return tally, chaos, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--citizens", type=int, default=200)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=24)
    parser.add_argument(
        "--kill",
        default="0.33:rasa,0.66:actions",
        help="share:process pairs (rasa, actions, gateway); empty for none",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    plan = [
        (float(share), name)
        for share, name in (item.split(":") for item in args.kill.split(",") if item)
    ]
    console = Console()
    with tempfile.TemporaryDirectory(prefix="yishi-soak-") as tmp:
        base = Path(tmp)
        stack = Stack(
            StackConfig.on_free_ports(
                var_dir=base / "var", log_dir=base / "logs", extra_env=dict(LOAD_ENV)
            )
        )
        console.print("starting Rasa, the action server and the gateway…")
        stack.start_all()
        try:
            asyncio.run(warm_up(stack.config.gateway_url))
            citizens = make_citizens(args.citizens, "soak", seed=11)
            tally, chaos, seconds = asyncio.run(
                soak(stack, citizens, args.messages, args.concurrency, plan)
            )
            alive = {name: stack.is_ready(name) for name in ("rasa", "actions", "gateway")}
            result = verify(stack, citizens, tally)
            result.update(
                seconds=round(seconds, 1),
                throughput=round(tally.sent / seconds, 1),
                restarts=chaos.events,
                alive=alive,
                rss_mb={k: round(v) for k, v in stack.rss_mb().items()},
                **{k: round(v, 1) for k, v in tally.percentiles().items()},
            )
        finally:
            stack.stop_all()
    table = Table(title="make soak")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key in (
        "sent",
        "replied",
        "explicit_errors",
        "lost",
        "conversations_missing_messages",
        "trackers_missing_turns",
        "duplicated_records",
        "receipts_without_record",
        "applications",
        "receipts_received",
        "seconds",
        "throughput",
        "p50",
        "p95",
        "p99",
    ):
        table.add_row(key, str(result[key]))
    console.print(table)
    console.print("outcomes:", dict(Counter(result["outcomes"])))
    console.print("restarts:", result["restarts"])
    console.print("alive afterwards:", result["alive"], "RSS MB:", result["rss_mb"])
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2))
    bad = (
        result["lost"]
        + result["conversations_missing_messages"]
        + result["trackers_missing_turns"]
        + result["duplicated_records"]
        + result["receipts_without_record"]
        + (result["sent"] - result["replied"] - result["explicit_errors"] - result["lost"])
        + sum(1 for ok in alive.values() if not ok)
    )
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
