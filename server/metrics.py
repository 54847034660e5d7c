"""Prometheus metrics in the text exposition format (no client library needed for this few)."""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
SPEED_BUCKETS = (1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300)


class Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value

    def lines(self, name: str, labels: str = "") -> list[str]:
        out, running = [], 0
        sep = "," if labels else ""
        for bound, count in zip(self.buckets, self.counts, strict=False):
            running += count
            out.append(f'{name}_bucket{{{labels}{sep}le="{bound:g}"}} {running}')
        running += self.counts[-1]
        out.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {running}')
        brace = f"{{{labels}}}" if labels else ""
        out += [f"{name}_sum{brace} {self.sum:.6f}", f"{name}_count{brace} {running}"]
        return out


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        self.duration: dict[str, Histogram] = defaultdict(lambda: Histogram(LATENCY_BUCKETS))
        self.ttft = Histogram(LATENCY_BUCKETS)
        self.speed = Histogram(SPEED_BUCKETS)
        self.prompt_tokens = 0
        self.completion_tokens = 0

    def request(self, endpoint: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(endpoint, status)] += 1
            self.duration[endpoint].observe(seconds)

    def generation(self, prompt_tokens: int, completion_tokens: int, ttft_s: float | None,
                   decode_s: float | None) -> None:
        with self._lock:
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens
            if ttft_s is not None:
                self.ttft.observe(ttft_s)
            if decode_s and completion_tokens > 1:
                self.speed.observe((completion_tokens - 1) / decode_s)

    def render(self, queue_depth: int, active: int) -> str:
        with self._lock:
            lines = ["# HELP assistant_requests_total HTTP requests by endpoint and status.",
                     "# TYPE assistant_requests_total counter"]
            lines += [f'assistant_requests_total{{endpoint="{e}",status="{s}"}} {n}'
                      for (e, s), n in sorted(self.requests.items())]
            lines += ["# HELP assistant_request_duration_seconds Time to answer a request (streams: to the last byte).",
                      "# TYPE assistant_request_duration_seconds histogram"]
            for endpoint, hist in sorted(self.duration.items()):
                lines += hist.lines("assistant_request_duration_seconds", f'endpoint="{endpoint}"')
            lines += ["# HELP assistant_time_to_first_token_seconds From request to the first generated text.",
                      "# TYPE assistant_time_to_first_token_seconds histogram",
                      *self.ttft.lines("assistant_time_to_first_token_seconds"),
                      "# HELP assistant_decode_tokens_per_second Decode speed of each generation.",
                      "# TYPE assistant_decode_tokens_per_second histogram",
                      *self.speed.lines("assistant_decode_tokens_per_second"),
                      "# HELP assistant_prompt_tokens_total Prompt tokens processed.",
                      "# TYPE assistant_prompt_tokens_total counter",
                      f"assistant_prompt_tokens_total {self.prompt_tokens}",
                      "# HELP assistant_completion_tokens_total Tokens generated.",
                      "# TYPE assistant_completion_tokens_total counter",
                      f"assistant_completion_tokens_total {self.completion_tokens}",
                      "# HELP assistant_queue_depth Requests waiting for a slot.",
                      "# TYPE assistant_queue_depth gauge",
                      f"assistant_queue_depth {queue_depth}",
                      "# HELP assistant_active_requests Requests being decoded.",
                      "# TYPE assistant_active_requests gauge",
                      f"assistant_active_requests {active}"]
        return "\n".join(lines) + "\n"
