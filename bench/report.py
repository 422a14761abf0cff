"""Medians over runs, targets met or not, and the Markdown report."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .cases import (
    CASES_BY_NAME,
    TARGET_ADDED_P50_MS,
    TARGET_CPU_MS,
    TARGET_CPU_MS_EMBED,
    TARGET_CPU_MS_STREAM,
    TARGET_CPU_MS_TOOL_STREAM,
    TARGET_CPU_MS_TOOLS,
    TARGET_LIMIT_CPU_MS,
    TARGET_LIMIT_ROUND_TRIPS,
    TARGET_MESSAGES_RATIO,
    TARGET_P99_MS_512,
    TARGET_RSS_MB,
    TARGET_SUCCESS_500,
)
from .measure import ON_TIME_SLACK_MS, Run
from .profile import Profile


def med(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def fmt(v: float | None, digits: int = 1) -> str:
    return "–" if v is None else f"{v:,.{digits}f}"


def spread(runs: list[Run], get: Callable[[Run], float | None], digits: int = 1) -> str:
    """median (run values) when there is more than one run."""
    vals = [get(r) for r in runs]
    m = fmt(med(vals), digits)
    return m if len(runs) < 2 else f"{m} ({', '.join(fmt(v, digits) for v in vals)})"


@dataclass
class CaseSummary:
    name: str
    direct: list[Run]
    gateway: list[Run]

    @property
    def open_loop(self) -> bool:
        return CASES_BY_NAME[self.name].open_loop

    def rps(self, runs: list[Run]) -> float | None:
        return med(r.load.rps for r in runs)

    @property
    def added_p50(self) -> float | None:
        g, d = med(r.load.p50_ms for r in self.gateway), med(r.load.p50_ms for r in self.direct)
        return None if g is None or d is None else g - d

    @property
    def cpu(self) -> float | None:
        return med(r.cpu_ms_per_req for r in self.gateway)

    @property
    def rss(self) -> float | None:
        return max((r.rss_peak_mb for r in self.gateway if r.rss_peak_mb), default=None)

    @property
    def errors(self) -> int:
        return sum(r.load.errors for r in self.gateway)

    @property
    def success_pct(self) -> float | None:
        sent = sum(r.load.sent for r in self.gateway)
        return None if not sent else 100 * sum(r.load.requests - r.load.errors for r in self.gateway) / sent

    @property
    def records_ok(self) -> bool:
        return all(r.records == r.counted and r.exit_code == 0 for r in self.gateway)


def summaries(runs: list[Run]) -> list[CaseSummary]:
    names = list(dict.fromkeys(r.case for r in runs))
    return [
        CaseSummary(
            n,
            [r for r in runs if r.case == n and r.path == "direct"],
            [r for r in runs if r.case == n and r.path == "gateway"],
        )
        for n in names
    ]


def r_lat(c: CaseSummary) -> str:
    return f"{(CASES_BY_NAME[c.name].latency_ms + ON_TIME_SLACK_MS) / 1000:g} s"


def targets(cases: list[CaseSummary]) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) of the cases, looked up by name."""
    by = {c.name: c for c in cases}
    rows: list[tuple[str, str, str]] = []

    def verdict(ok: bool | None) -> str:
        return "not measured" if ok is None else ("met" if ok else "**not met**")

    plain = [c for c in cases if not CASES_BY_NAME[c.name].stream and c.cpu is not None]
    if plain:
        worst = max(plain, key=lambda c: c.cpu or 0)
        measured = ", ".join(f"{c.name} {fmt(c.cpu, 2)}" for c in plain)
        rows.append(
            (
                f"gateway CPU ≤ {TARGET_CPU_MS:g} ms per non-streamed request",
                measured,
                verdict((worst.cpu or 0) <= TARGET_CPU_MS),
            )
        )
    if (s := by.get("stream16")) and s.cpu is not None:
        rows.append(
            (
                f"gateway CPU ≤ {TARGET_CPU_MS_STREAM:g} ms per 20-chunk stream",
                fmt(s.cpu, 2),
                verdict(s.cpu <= TARGET_CPU_MS_STREAM),
            )
        )
    for name, target, what in (
        ("tools16", TARGET_CPU_MS_TOOLS, "non-streamed tool-call request"),
        ("toolstream16", TARGET_CPU_MS_TOOL_STREAM, "streamed tool call (20 argument deltas)"),
    ):
        if (t := by.get(name)) and t.cpu is not None:
            rows.append((f"gateway CPU ≤ {target:g} ms per {what}", fmt(t.cpu, 2), verdict(t.cpu <= target)))
    rows += _limit_rows(by.get("limited16"), by.get("unlimited16_redis"), verdict)
    if (c1 := by.get("c1")) and c1.added_p50 is not None:
        rows.append(
            (
                f"added p50 ≤ {TARGET_ADDED_P50_MS:g} ms at concurrency 1",
                f"{fmt(c1.added_p50, 2)} ms",
                verdict(c1.added_p50 <= TARGET_ADDED_P50_MS),
            )
        )
    for name, workers in (("c512_200ms", "1 worker"), ("c512_200ms_w2", "2 workers")):
        if (c := by.get(name)) and c.gateway:
            p99 = med(r.load.p99_ms for r in c.gateway) or 0.0
            ok = c.errors == 0 and p99 <= TARGET_P99_MS_512
            rows.append(
                (
                    f"512 in flight, 200 ms upstream: 0 errors, p99 ≤ {TARGET_P99_MS_512:g} ms ({workers})",
                    f"{c.errors} errors, p99 {fmt(p99, 0)} ms",
                    verdict(ok),
                )
            )
    rss = [c.rss for c in cases if c.rss is not None]
    if rss:
        rows.append(
            (
                f"peak RSS ≤ {TARGET_RSS_MB:g} MB per process",
                f"max {fmt(max(rss), 0)} MB",
                verdict(max(rss) <= TARGET_RSS_MB),
            )
        )
    for name, workers in (("rate500_1500ms", "1 worker"), ("rate500_1500ms_w2", "2 workers")):
        if (r := by.get(name)) and r.success_pct is not None:
            rows.append(
                (
                    f"1.5 s upstream, 500 req/s: 100% success ({workers})",
                    f"{fmt(r.success_pct, 2)}%",
                    verdict(r.success_pct >= TARGET_SUCCESS_500),
                )
            )
    # Issue 16: embeddings.
    if (e := by.get("embed16")) and e.cpu is not None:
        rows.append(
            (
                f"gateway CPU ≤ {TARGET_CPU_MS_EMBED:g} ms per embeddings request (16 texts)",
                fmt(e.cpu, 2),
                verdict(e.cpu <= TARGET_CPU_MS_EMBED),
            )
        )
    for name, base in (("messages16", "c16"), ("messagesstream16", "stream16")):
        m, b = by.get(name), by.get(base)
        if m and b and m.cpu is not None and b.cpu:
            rows.append(
                (
                    f"{name} gateway CPU within {TARGET_MESSAGES_RATIO - 1:.0%} of {base}",
                    f"{fmt(m.cpu, 2)} vs {fmt(b.cpu, 2)} ms ({m.cpu / b.cpu - 1:+.0%})",
                    verdict(m.cpu <= b.cpu * TARGET_MESSAGES_RATIO),
                )
            )
    if cases:
        ok = all(c.records_ok for c in cases)
        rows.append(
            ("nothing lost: records == requests counted, clean exit", "all runs" if ok else "see cases", verdict(ok))
        )
    return rows


def _limit_rows(
    limited: CaseSummary | None, free: CaseSummary | None, verdict: Callable[[bool | None], str]
) -> list[tuple[str, str, str]]:
    """Issue 15's speed targets: what a limited key adds, beside an unlimited key, same run."""
    if limited is None or free is None or limited.cpu is None or free.cpu is None:
        return []
    added = limited.cpu - free.cpu
    trips = med(r.limiter_calls_per_req for r in limited.gateway)
    free_trips = med(r.limiter_calls_per_req for r in free.gateway)
    return [
        (
            f"limited key adds ≤ {TARGET_LIMIT_CPU_MS:g} ms of gateway CPU (limited16 − unlimited16_redis)",
            f"{fmt(added, 3)} ms ({fmt(limited.cpu, 3)} − {fmt(free.cpu, 3)})",
            verdict(added <= TARGET_LIMIT_CPU_MS),
        ),
        (
            f"limited key: ≤ {TARGET_LIMIT_ROUND_TRIPS:g} Redis round trips per request (reserve, reconcile); "
            "unlimited key: none",
            f"{fmt(trips, 2)} per request (unlimited: {fmt(free_trips, 2)})",
            verdict(None if trips is None else trips <= TARGET_LIMIT_ROUND_TRIPS and not free_trips),
        ),
    ]


def _on_time(runs: list[Run]) -> float | None:
    sent = sum(r.load.sent for r in runs)
    return 100 * sum(r.load.on_time for r in runs) / sent if sent else None


def _case_table(c: CaseSummary) -> list[str]:
    d, g = c.direct, c.gateway
    lines = [
        f"### {c.name}: {CASES_BY_NAME[c.name].title}",
        "",
        "| | direct (fake) | through the gateway |",
        "|---|---|---|",
    ]

    def row(label: str, dv: str, gv: str) -> None:
        lines.append(f"| {label} | {dv} | {gv} |")

    label = "answered/s (over send window + tail)" if c.open_loop else "req/s"
    row(label, spread(d, lambda r: r.load.rps, 0), spread(g, lambda r: r.load.rps, 0))
    row("p50 ms", spread(d, lambda r: r.load.p50_ms, 2), spread(g, lambda r: r.load.p50_ms, 2))
    row("p99 ms", spread(d, lambda r: r.load.p99_ms, 2), spread(g, lambda r: r.load.p99_ms, 2))
    row("added p50 ms", "", fmt(c.added_p50, 2))
    row("errors (all runs)", str(sum(r.load.errors for r in d)), str(c.errors))
    if c.open_loop:
        row("offered req/s", spread(d, lambda r: r.load.offered_rps, 0), spread(g, lambda r: r.load.offered_rps, 0))
        sent_d = sum(r.load.sent for r in d)
        ok_d = 100 * sum(r.load.requests - r.load.errors for r in d) / sent_d if sent_d else None
        row("success % (2xx within the 30 s client timeout)", fmt(ok_d, 2), fmt(c.success_pct, 2))
        row(
            f"on time % (2xx within upstream latency + {ON_TIME_SLACK_MS / 1000:g} s)",
            fmt(_on_time(d), 2),
            fmt(_on_time(g), 2),
        )
        row(
            "seconds to answer everything (send window + tail)",
            spread(d, lambda r: r.load.seconds, 1),
            spread(g, lambda r: r.load.seconds, 1),
        )
        row(
            "generator send lag p99 ms",
            spread(d, lambda r: r.load.lag_p99_ms, 1),
            spread(g, lambda r: r.load.lag_p99_ms, 1),
        )
    row("gateway CPU ms/request", "", spread(g, lambda r: r.cpu_ms_per_req, 2))
    row("gateway peak RSS MB (VmHWM)", "", spread(g, lambda r: r.rss_peak_mb, 0))
    recs = "; ".join(f"{r.records}/{r.counted}/{r.sent_total}/{r.completed_total}" for r in g)
    row("records / counted by gateway / sent / answered", "", recs + (" ✓" if c.records_ok else " ✗"))
    row("upstream calls seen by the fake (gateway run)", "", "; ".join(str(r.upstream_calls) for r in g))
    if CASES_BY_NAME[c.name].redis:
        row(
            "limiter round trips to Redis per request (admits + settles, one EVALSHA each)",
            "",
            spread(g, lambda r: r.limiter_calls_per_req, 2),
        )
    row("record statuses", "", "; ".join(", ".join(f"{k} {v}" for k, v in sorted(r.statuses.items())) for r in g))
    row(
        "load generator CPU % of a core",
        spread(d, lambda r: r.load.loadgen_cpu_pct, 0),
        spread(g, lambda r: r.load.loadgen_cpu_pct, 0),
    )
    row("fake upstream CPU % of a core", spread(d, lambda r: r.fake_cpu_pct, 0), spread(g, lambda r: r.fake_cpu_pct, 0))
    row(
        "other processes' CPU % of the machine",
        spread(d, lambda r: r.others_cpu_pct, 0),
        spread(g, lambda r: r.others_cpu_pct, 0),
    )
    details = [r.load.error_detail for r in [*d, *g] if r.load.error_detail]
    if details:
        row("error detail", "", "; ".join(details))
    problems = sum(r.log_problems for r in g)
    row("gateway log: error/exception lines", "", str(problems))
    lines.append("")
    samples = list(dict.fromkeys(s for r in g for s in r.log_samples))
    if samples:
        lines += ["Gateway log lines flagged:", "", "```", *samples[:8], "```", ""]
    return lines


def summary_table(cases: list[CaseSummary]) -> list[str]:
    lines = [
        "| case | direct req/s | gateway req/s | direct p50 / p99 ms | gateway p50 / p99 ms | added p50 ms | gateway errors | gateway CPU ms/req | peak RSS MB | records = counted |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        dp50, dp99 = med(r.load.p50_ms for r in c.direct), med(r.load.p99_ms for r in c.direct)
        gp50, gp99 = med(r.load.p50_ms for r in c.gateway), med(r.load.p99_ms for r in c.gateway)
        lines.append(
            f"| {c.name} | {fmt(c.rps(c.direct), 0)} | {fmt(c.rps(c.gateway), 0)} | {fmt(dp50, 2)} / {fmt(dp99, 2)} | "
            f"{fmt(gp50, 2)} / {fmt(gp99, 2)} | {fmt(c.added_p50, 2)} | {c.errors} | {fmt(c.cpu, 2)} | {fmt(c.rss, 0)} | "
            f"{'yes' if c.records_ok else '**no**'} |"
        )
    return lines


def profile_section(p: Profile | None, version: str) -> list[str]:
    if p is None:
        return ["## Profile", "", "Not run (py-spy missing or --no-profile).", ""]
    return [
        f"## Profile ({p.case})",
        "",
        f"{version}, `py-spy record --gil --rate 200`: {p.samples} samples of whichever gateway thread held "
        "the GIL (Python work; C code running without the GIL, such as SQLite inside the record writer, is "
        f"not seen). Gateway CPU while profiled: {fmt(p.cpu_ms_per_req, 2)} ms/request; by thread (/proc): "
        + ", ".join(f"{n} {v:.0f}%" for n, v in p.threads)
        + ". "
        f"Files: {', '.join(f'`{f}`' for f in p.files)}.",
        "",
        "Self time by package (stdlib frames count for their caller; whole threads by name):",
        "",
        "| where | % of samples |",
        "|---|---|",
        *[f"| {n} | {v:.1f} |" for n, v in p.packages],
        "",
        "Inclusive share of the pieces a request passes through (rows nest, so they do not sum to 100):",
        "",
        "| piece | % of samples |",
        "|---|---|",
        *[f"| {n} | {v:.1f} |" for n, v in p.components],
        "",
        "Top functions by self time:",
        "",
        "| function | % self |",
        "|---|---|",
        *[f"| `{n}` | {v:.1f} |" for n, v in p.self_top],
        "",
        "Top functions by inclusive time (entry points left out):",
        "",
        "| function | % inclusive |",
        "|---|---|",
        *[f"| `{n}` | {v:.1f} |" for n, v in p.inclusive_top],
        "",
    ]


def render(runs: list[Run], profile: Profile | None, *, header: list[str], py_spy_version: str) -> str:
    cases = summaries(runs)
    lines = [*header]
    lines += ["## Targets", "", "| target | measured (medians) | verdict |", "|---|---|---|"]
    lines += [f"| {t} | {m} | {v} |" for t, m, v in targets(cases)]
    lines += [""]
    lines += ["## Summary (medians over runs)", "", *summary_table(cases), "", "## Cases", ""]
    for c in cases:
        lines += _case_table(c)
    lines += profile_section(profile, py_spy_version)
    return "\n".join(lines) + "\n"
