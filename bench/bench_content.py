"""Benchmark: normalise (to_dingtalk_markdown) and split, on 10 KB, 100 KB and 1 MB reports;
and refusing a 50 MB one (more than max_parts), in time and memory.

Run on purpose, not in the test suite::

    .venv/bin/python bench/bench_content.py            # the table
    .venv/bin/python bench/bench_content.py --profile  # where the 1 MB run spends its time

The documents are build reports of the kind people send to DingTalk: per service a heading,
a paragraph mixing English and Chinese with links and bold, a bullet list, and now and then
a results table, a log tail in a code block and a quote. Each size is timed several times
and the best run is reported (the least disturbed by other work on the machine). The time
per KB should stay flat from 10 KB to 1 MB (linear), and 1 MB should take under a second.

The last rows build a 50 MB message and have ``split`` and ``Robot.bodies(split=True)``
refuse it (it would take some 2,500 parts; ``max_parts`` is 10): each should take a few
milliseconds and a peak of well under a megabyte (``tracemalloc``) beyond the text itself.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import TypeVar

from dingwire import Markdown, MemoryBudgetStore, Robot, TooLargeError
from dingwire.content import split, to_dingtalk_markdown

SIZES = (10_000, 100_000, 1_000_000)
WORDS = [
    "build",
    "deploy",
    "latency",
    "error",
    "retry",
    "timeout",
    "upstream",
    "cache",
    "shard",
    "replica",
    "canary",
    "rollback",
    "migration",
    "queue",
    "worker",
    "cluster",
    "node",
    "region",
]
CHINESE = "部署完成服务延迟错误告警恢复数据库连接超时请检查日志磁盘空间不足已回滚发布成功失败"


def _sentence(r: random.Random) -> str:
    english = " ".join(r.choice(WORDS) for _ in range(r.randint(8, 16)))
    chinese = "".join(r.choice(CHINESE) for _ in range(r.randint(10, 30)))
    return f"{english.capitalize()}，{chinese}。"


def _section(r: random.Random, i: int) -> str:
    service = f"svc-{r.choice(WORDS)}-{i}"
    out = [f"## {service} 第{i}次构建"]
    paragraph = " ".join(_sentence(r) for _ in range(r.randint(2, 4)))
    out.append(
        f"{paragraph}\nSee [run #{i}](https://ci.example.com/runs/{i}) and "
        f"**{r.choice(WORDS)}** for details, owner @13800000{i % 1000:03d}."
    )
    out.append(
        "\n".join(
            f"- {r.choice(WORDS)} {r.choice(CHINESE)}{r.choice(CHINESE)}: "
            f"`{r.choice(WORDS)}_{j}` took {r.randint(1, 999)} ms"
            for j in range(r.randint(3, 6))
        )
    )
    if i % 3 == 0:
        rows = [
            f"| {r.choice(WORDS)}-{j} | {'ok' if r.random() < 0.8 else '**failed**'} | "
            f"{r.randint(1, 999)} ms | {r.choice(CHINESE)}{r.choice(CHINESE)} |"
            for j in range(r.randint(5, 10))
        ]
        out.append("| job | result | p99 | 备注 |\n|---|---|---:|---|\n" + "\n".join(rows))
    if i % 4 == 0:
        log = [
            f"{'    ' * r.randint(0, 2)}{r.choice(WORDS)}[{j}]: {r.choice(WORDS)} = {r.random():.4f}"
            for j in range(r.randint(8, 20))
        ]
        out.append("```text\n" + "\n".join(log) + "\n```")
    if i % 5 == 0:
        out.append(f"> {_sentence(r)}\n> — on-call 值班")
    return "\n\n".join(out)


def report(size: int, seed: int = 7) -> str:
    """A realistic markdown report of about ``size`` bytes (UTF-8)."""
    r = random.Random(seed)
    sections: list[str] = []
    total = 0
    i = 0
    while total < size:
        i += 1
        section = _section(r, i)
        sections.append(section)
        total += len(section.encode()) + 2
    return "\n\n".join(sections)


def run(text: str) -> tuple[float, float, int]:
    """Seconds to normalise, seconds to split, number of parts."""
    start = time.perf_counter()
    normalised = to_dingtalk_markdown(text)
    middle = time.perf_counter()
    parts = split(Markdown("Nightly report 日报", normalised), max_parts=10_000)
    end = time.perf_counter()
    return middle - start, end - middle, len(parts)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per size (best is kept)")
    parser.add_argument("--profile", action="store_true", help="profile the 1 MB run")
    args = parser.parse_args(argv)
    if args.profile:
        import cProfile
        import pstats

        text = report(SIZES[-1])
        cProfile.runctx("run(text)", globals(), {"text": text}, "/tmp/bench_content.prof")
        pstats.Stats("/tmp/bench_content.prof").sort_stats("cumulative").print_stats(25)
        return 0
    run(report(1_000))  # load markdown-it once, outside the timings
    print(f"{'size':>8} {'parts':>6} {'normalise':>10} {'split':>8} {'total':>8} {'ms/KB':>7}")
    per_kb = []
    for size in SIZES:
        text = report(size)
        runs = [run(text) for _ in range(args.repeat)]
        best = min(runs, key=lambda r: r[0] + r[1])
        total = best[0] + best[1]
        kb = len(text.encode()) / 1000
        per_kb.append(total * 1000 / kb)
        print(
            f"{kb:>6.0f}KB {best[2]:>6} {best[0] * 1000:>8.1f}ms {best[1] * 1000:>6.1f}ms "
            f"{total * 1000:>6.1f}ms {per_kb[-1]:>7.3f}"
        )
    spread = max(per_kb) / statistics.mean(per_kb)
    print(f"ms/KB varies by a factor of {spread:.2f} from the mean across sizes (1.0 = linear)")
    refusals()
    return 0


def refusals() -> None:
    """Refusing a 50 MB report: seconds and peak memory of each way in."""
    text = (report(1_000_000) + "\n\n") * 50
    robot = Robot(
        "http://127.0.0.1:9/robot/send?access_token=bench",
        keywords=["告警"],
        budget_store=MemoryBudgetStore(),
    )
    message = measured("building Markdown(title, text)", lambda: Markdown("Nightly", text))
    ways: list[tuple[str, Callable[[], object]]] = [
        ("split(message)", lambda: split(message)),
        ("Robot.bodies(split=True)", lambda: robot.bodies(message, split=True)),
    ]
    for name, way in ways:
        try:
            measured(name, way)
        except TooLargeError as error:
            print(f"{'':<32} refused: about {getattr(error, 'parts', '?'):,} parts")
        else:
            raise SystemExit(f"{name}: not refused")


T = TypeVar("T")


def measured(name: str, work: Callable[[], T]) -> T:
    """``work()``, its time and its peak memory printed (also when it raises)."""
    if name.startswith("building"):
        print(f"\n{'a 50 MB report':<32} {'time':>8} {'peak memory':>12}")
    tracemalloc.start()
    start = time.perf_counter()
    try:
        return work()
    finally:
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"{name:<32} {seconds * 1000:>6.1f}ms {peak / 1000:>9.0f} KB")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
