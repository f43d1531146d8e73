"""Judgments per second of the ``openai`` evaluator against a loopback OpenAI-compatible server; prints JSON.

Two figures: the client's own overhead (a server that answers at once) and how the concurrency limit hides
server latency (a server that takes ``--latency-ms`` per request; ideal = concurrency / latency).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from http_judge_server import JudgeServer, Reply  # noqa: E402

from rlaif_audit.default_plugins.evaluators.openai_judge import OpenAIJudge  # noqa: E402
from rlaif_audit.records.types import JudgeItem  # noqa: E402


def make_items(n: int) -> list[JudgeItem]:
    context = [{"role": "user", "content": "Which is better?"}]
    return [JudgeItem(f"p{i}", "ab", context, f"first {i}", f"second {i}") for i in range(n)]


def rate(latency_s: float, concurrency: int, n: int) -> float:
    top = {"A": math.log(0.7), "B": math.log(0.3)}
    with JudgeServer(lambda prompt, attempt, body: Reply("A", top, delay_s=latency_s)) as server:
        judge = OpenAIJudge(base_url=server.url, model="judge-model", concurrency=concurrency)
        started = time.perf_counter()
        judgments = list(judge.judge(make_items(n)))
        seconds = time.perf_counter() - started
    assert len(judgments) == n and all(j.parse_status == "ok" for j in judgments)
    return n / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=400, help="Items per measurement.")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="Simulated server latency.")
    args = parser.parse_args()
    latency = args.latency_ms / 1000
    figures = {
        "overhead_judgments_per_s": {f"concurrency_{c}": round(rate(0.0, c, args.n), 1) for c in (1, 8)},
        "latency_ms": args.latency_ms,
        "with_latency_judgments_per_s": {},
    }
    for concurrency in (1, 4, 16):
        measured = rate(latency, concurrency, min(args.n, 40 * concurrency))
        figures["with_latency_judgments_per_s"][f"concurrency_{concurrency}"] = {
            "measured": round(measured, 1), "ideal": round(concurrency / latency, 1)}
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
