"""Request metrics in the Prometheus text format, kept in process memory.

Not tracing or logging; counts and latency buckets per operation and status only.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class Metrics:
    requests: defaultdict[tuple[str, int], int] = field(default_factory=lambda: defaultdict(int))
    buckets: defaultdict[str, list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0] * (len(_BUCKETS) + 1))
    )
    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))

    def observe(self, operation: str, status: int, elapsed_s: float) -> None:
        self.requests[(operation, status)] += 1
        counts = self.buckets[operation]
        for i, bound in enumerate(_BUCKETS):
            if elapsed_s <= bound:
                counts[i] += 1
                break
        else:
            counts[-1] += 1
        self.seconds[operation] += elapsed_s

    def exposition(self) -> str:
        lines = [
            "# HELP gateway_requests_total Requests answered, by operation and HTTP status.",
            "# TYPE gateway_requests_total counter",
        ]
        for (operation, status), count in sorted(self.requests.items()):
            lines.append(
                f'gateway_requests_total{{operation="{operation}",status="{status}"}} {count}'
            )
        lines += [
            "# HELP gateway_request_duration_seconds Time from arrival to response.",
            "# TYPE gateway_request_duration_seconds histogram",
        ]
        for operation, counts in sorted(self.buckets.items()):
            cumulative = 0
            for bound, count in zip((*_BUCKETS, float("inf")), counts, strict=True):
                cumulative += count
                le = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(
                    f'gateway_request_duration_seconds_bucket{{operation="{operation}",'
                    f'le="{le}"}} {cumulative}'
                )
            lines.append(
                f'gateway_request_duration_seconds_sum{{operation="{operation}"}} '
                f"{self.seconds[operation]:.6f}"
            )
            lines.append(
                f'gateway_request_duration_seconds_count{{operation="{operation}"}} {cumulative}'
            )
        return "\n".join(lines) + "\n"
