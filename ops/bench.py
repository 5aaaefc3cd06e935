"""`make bench`: simulated citizens over /api/chat, and the same load on bare Rasa REST.

Starts its own stack on free ports with a fresh data directory (or uses running servers with
--gateway/--rasa), warms it up, then runs N concurrent citizens mixing knowledge questions,
guided filing and handoff requests through the gateway, and in the same run the same citizens'
messages straight to Rasa's REST channel. Prints p50/p95/p99 latency and throughput for both,
the gateway/Rasa ratios, and the resident memory of the running system.

    python -m ops.bench --citizens 20 --messages 600
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from ops.load import Tally, gateway_send, make_citizens, rasa_send, run_citizens
from ops.stack import Stack, StackConfig

# the load would trip the per-sender and per-IP limits that protect a real deployment
LOAD_ENV = {
    "YISHI_HANDOFF_HOURS": "00:00-24:00",
    "YISHI_RATE_LIMIT_ENABLED": "false",
}


def start_stack(base: Path, extra_env: dict[str, str]) -> Stack:
    config = StackConfig.on_free_ports(
        var_dir=base / "var",
        log_dir=base / "logs",
        extra_env={**LOAD_ENV, **extra_env},
    )
    stack = Stack(config)
    stack.start_all()
    return stack


async def phase(
    name: str,
    base_url: str,
    citizens: int,
    messages: int,
    concurrency: int,
    headers: dict[str, str],
) -> dict[str, Any]:
    tally = Tally()
    people = make_citizens(citizens, "bench" if name == "gateway" else "benchrasa", seed=7)
    limits = httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base_url, timeout=60, limits=limits, headers=headers, trust_env=False
    ) as client:

        async def send(citizen: Any, text: str) -> Any:
            if name == "gateway":
                return await gateway_send(client, citizen, text)
            return await rasa_send(client, citizen, text)

        started = time.perf_counter()
        await run_citizens(send, people, messages, concurrency, tally)
        elapsed = time.perf_counter() - started
    return {
        "phase": name,
        "sent": tally.sent,
        "outcomes": dict(tally.outcomes),
        "seconds": round(elapsed, 2),
        "throughput": round(tally.sent / elapsed, 2) if elapsed else 0.0,
        **{k: round(v, 1) for k, v in tally.percentiles().items()},
        "scripts": dict(tally.by_script),
    }


async def warm_up(gateway_url: str) -> None:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=120, trust_env=False) as client:
        for text in ("你好", "护照要多少钱", "我要办异地就医备案", "不办了", "确定"):
            await client.post("/api/chat", json={"sender": "bench:warmup", "text": text})


def report(results: list[dict[str, Any]], rss: dict[str, float], console: Console) -> None:
    table = Table(title="make bench")
    for column in ("phase", "sent", "ok", "errors", "p50 ms", "p95 ms", "p99 ms", "msg/s"):
        table.add_column(column, justify="right")
    for r in results:
        ok = r["outcomes"].get("reply", 0)
        table.add_row(
            r["phase"],
            str(r["sent"]),
            str(ok),
            str(r["sent"] - ok),
            f"{r['p50']:.0f}",
            f"{r['p95']:.0f}",
            f"{r['p99']:.0f}",
            f"{r['throughput']:.1f}",
        )
    console.print(table)
    if len(results) == 2 and results[1]["p50"]:
        g, r = results
        console.print(
            f"gateway / bare Rasa: p50 ×{g['p50'] / r['p50']:.2f}, p95 ×{g['p95'] / r['p95']:.2f}, "
            f"throughput ×{g['throughput'] / r['throughput']:.2f}"
        )
    if rss:
        parts = ", ".join(f"{k} {v:.0f} MB" for k, v in rss.items())
        console.print(f"resident memory: {parts}; total {sum(rss.values()):.0f} MB")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--citizens", type=int, default=20)
    parser.add_argument("--messages", type=int, default=600, help="per phase")
    parser.add_argument("--concurrency", type=int, default=0, help="in flight (0: = citizens)")
    parser.add_argument("--gateway", help="use a running gateway at this URL")
    parser.add_argument("--rasa", help="use a running Rasa at this URL (with --gateway)")
    parser.add_argument("--rasa-token", default="yishi-dev-token")
    parser.add_argument("--skip-rasa", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    console = Console()
    concurrency = args.concurrency or args.citizens
    stack: Stack | None = None
    with tempfile.TemporaryDirectory(prefix="yishi-bench-") as tmp:
        if args.gateway:
            gateway_url, rasa_url = args.gateway, args.rasa
        else:
            console.print("starting Rasa, the action server and the gateway…")
            stack = start_stack(Path(tmp), {})
            gateway_url, rasa_url = stack.config.gateway_url, stack.config.rasa_url
        try:
            asyncio.run(warm_up(gateway_url))
            results = [
                asyncio.run(
                    phase("gateway", gateway_url, args.citizens, args.messages, concurrency, {})
                )
            ]
            if rasa_url and not args.skip_rasa:
                results.append(
                    asyncio.run(
                        phase("rasa", rasa_url, args.citizens, args.messages, concurrency, {})
                    )
                )
            rss = stack.rss_mb() if stack else {}
        finally:
            if stack is not None:
                stack.stop_all()
    report(results, rss, console)
    if args.json:
        args.json.write_text(json.dumps({"results": results, "rss_mb": rss}, indent=2))
    failed = sum(r["sent"] - r["outcomes"].get("reply", 0) for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
