"""Figures into text: percentiles, the lag time line, the result table and the last line."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence

from benchlib.kafka import LagSample


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by the nearest-rank method; NaN for no values.

    >>> percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50)
    3.0
    >>> percentile(list(range(1, 101)), 99)
    99
    >>> math.isnan(percentile([], 50))
    True
    """
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(math.ceil(q / 100 * len(ordered)), 1)
    return ordered[rank - 1]


def thin(samples: Sequence[LagSample], rows: int = 20) -> list[LagSample]:
    """At most ``rows`` samples, evenly spread, always keeping the first and the last.

    >>> s = [LagSample(float(i), i, 0, 0) for i in range(100)]
    >>> [x.at for x in thin(s, 4)]
    [0.0, 33.0, 66.0, 99.0]
    """
    if len(samples) <= rows:
        return list(samples)
    step = (len(samples) - 1) / (rows - 1)
    return [samples[round(i * step)] for i in range(rows)]


def lag_lines(samples: Sequence[LagSample]) -> list[str]:
    """The lag time line: raw offsets committed, their rate, lag on alerts.raw and overall.

    >>> print("\\n".join(lag_lines([LagSample(1.0, 0, 100, 120), LagSample(2.0, 50, 50, 90)])))
         t s  raw committed   alerts/s  raw lag  chain lag
         1.0              0          -      100        120
         2.0             50         50       50         90
    """
    lines = [f"{'t s':>8}{'raw committed':>15}{'alerts/s':>11}{'raw lag':>9}{'chain lag':>11}"]
    previous: LagSample | None = None
    for sample in thin(samples):
        rate = "-"
        if previous is not None and sample.at > previous.at:
            rate = (
                f"{(sample.raw_committed - previous.raw_committed) / (sample.at - previous.at):.0f}"
            )
        lines.append(
            f"{sample.at:>8.1f}{sample.raw_committed:>15}{rate:>11}{sample.raw_lag:>9}"
            f"{sample.chain_lag:>11}"
        )
        previous = sample
    return lines


def table(rows: Sequence[tuple[str, str, str]]) -> list[str]:
    """Rows of (measure, value, note) as aligned text.

    >>> print("\\n".join(table([("raw", "10 msgs/s", "x"), ("pipeline", "1 alerts/s", "")])))
    measure   value       note
    raw       10 msgs/s   x
    pipeline  1 alerts/s
    """
    head = ("measure", "value", "note")
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(2)]
    return [f"{m:<{widths[0]}}  {v:<{widths[1]}}  {n}".rstrip() for m, v, n in [head, *rows]]


def last_line(pipeline: float, raw: float, p99_ms: float, rss: float) -> str:
    """The bench's promised last line.

    >>> last_line(2500.4, 750000, 31.26, 812.0)
    'pipeline 2500 alerts/s = 0.33% of raw consume; p99 31 ms at 1000/s; rss 812 MB'
    """
    share = 100 * pipeline / raw if raw else math.nan
    return (
        f"pipeline {pipeline:.0f} alerts/s = {share:.2g}% of raw consume; "
        f"p99 {p99_ms:.0f} ms at 1000/s; rss {rss:.0f} MB"
    )


def traffic_lines(rows: Sequence[tuple[str, int, int]]) -> list[str]:
    """Messages and megabytes per topic.

    >>> print("\\n".join(traffic_lines([("alerts.raw", 2000, 3_000_000)])))
    topic                                      messages        MB
    alerts.raw                                    2,000       3.0
    """
    lines = [f"{'topic':<40}{'messages':>11}{'MB':>10}"]
    lines += [f"{name:<40}{count:>11,}{size / 1e6:>10.1f}" for name, count, size in rows]
    return lines


def pauses(changes: Counter[tuple[str, str]], seconds: float) -> tuple[str, str]:
    """A bench row's value and detail for the collector's pauses over ``seconds``: the changes
    of ``alertflow_gc_pause_seconds`` ((sample name, bucket bound) → value).

    >>> changes = Counter({("alertflow_gc_pause_seconds_count", ""): 3,
    ...                    ("alertflow_gc_pause_seconds_sum", ""): 0.2,
    ...                    ("alertflow_gc_pause_seconds_bucket", "0.05"): 2,
    ...                    ("alertflow_gc_pause_seconds_bucket", "0.25"): 3,
    ...                    ("alertflow_gc_pause_seconds_bucket", "+Inf"): 3})
    >>> pauses(changes, 10.0)
    ('200 ms in all', '3 collections in 10 s, the longest ≤ 250 ms; 2.0% of the time')
    >>> pauses(Counter(), 10.0)[1]
    'no collection in 10 s'
    """
    count = changes[("alertflow_gc_pause_seconds_count", "")]
    total = changes[("alertflow_gc_pause_seconds_sum", "")]
    if not count:
        return "0 ms", f"no collection in {seconds:.0f} s"
    buckets = sorted(
        (float(bound), value)
        for (name, bound), value in changes.items()
        if name.endswith("_bucket")
    )
    longest = next(bound for bound, value in buckets if value >= count)  # +Inf holds them all
    finite = [bound for bound, _ in buckets if math.isfinite(bound)]
    within = f"≤ {longest * 1000:,.0f}" if math.isfinite(longest) else f"> {finite[-1] * 1000:,.0f}"
    return (
        f"{total * 1000:,.0f} ms in all",
        f"{count:,.0f} collections in {seconds:.0f} s, the longest {within} ms; "
        f"{total / seconds:.1%} of the time",
    )


def notifications(told: Counter[str], alerts: int) -> tuple[str, str]:
    """A bench row's value and detail for the notifications a phase's alerts caused (the
    counts of ``receiver.Tally``).

    >>> value, detail = notifications(Counter(posts=12, pages=5, merged=3, retracted=2), 1000)
    >>> value
    '12 sent'
    >>> detail
    "for 1,000 alerts: 5 first pages, 3 'resolved, merged into' (2 within 1 s of their page)"
    """
    return (
        f"{told['posts']:,} sent",
        f"for {alerts:,} alerts: {told['pages']:,} first pages, "
        f"{told['merged']:,} 'resolved, merged into' "
        f"({told['retracted']:,} within 1 s of their page)",
    )


def main_thread(
    samples: Sequence[tuple[float, float]], start: float, end: float
) -> tuple[str, str]:
    """A bench row's value and detail for a worker's main thread between ``start`` and ``end``
    (perf_counter): its share of the time busy, and the share of sampling intervals in which
    it was idle (under 5% busy) — the stages waiting together, not working.

    >>> samples = [(0.0, 0.0), (0.1, 0.09), (0.2, 0.18), (0.3, 0.18), (0.4, 0.27)]
    >>> main_thread(samples, 0.0, 0.4)
    ('busy 68%', 'idle in 25% of its 0.1 s intervals (4 over 0.4 s, /proc)')
    >>> main_thread(samples, 5.0, 6.0)[0]
    'no samples'
    """
    kept = [(at, cpu) for at, cpu in samples if start <= at <= end]
    if len(kept) < 2:
        return "no samples", f"{len(kept)} samples over {end - start:.1f} s"
    steps = list(itertools.pairwise(kept))
    idle = sum(1 for (t0, c0), (t1, c1) in steps if c1 - c0 < 0.05 * (t1 - t0))
    wall = kept[-1][0] - kept[0][0]
    interval = wall / len(steps)
    return (
        f"busy {(kept[-1][1] - kept[0][1]) / wall:.0%}",
        f"idle in {idle / len(steps):.0%} of its {interval:.1f} s intervals "
        f"({len(steps)} over {wall:.1f} s, /proc)",
    )
