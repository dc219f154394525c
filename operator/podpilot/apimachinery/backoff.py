"""Retry pacing for failing evaluations, after client-go's workqueue rate limiters.

A failing Autoscaler is retried after ``min(base * 2**(failures-1), cap)`` seconds (its own
exponential backoff), and every retry also needs a token from one bucket shared by the
process, so a broken metrics API can neither flood the apiserver nor starve the others: the
delay is the larger of the two, as client-go's ``MaxOfRateLimiter`` combines them.
"""

from __future__ import annotations

from dataclasses import dataclass


def exponential_delay(failures: int, base: float, cap: float) -> float:
    """Seconds to wait after ``failures`` consecutive failures (``failures >= 1``)."""
    if failures <= 0:
        return 0.0
    return min(base * 2.0 ** min(failures - 1, 62), cap)


@dataclass
class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved; time is passed in."""

    rate: float
    burst: int
    tokens: float = 0.0
    updated: float | None = None

    def reserve(self, now: float) -> float:
        """Take one token; return how long to wait until it is really available."""
        if self.updated is None:
            self.tokens, self.updated = float(self.burst), now
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


def retry_delay(failures: int, bucket: TokenBucket, now: float, base: float, cap: float) -> float:
    """The delay before retrying an Autoscaler that failed ``failures`` times in a row."""
    return max(exponential_delay(failures, base, cap), bucket.reserve(now))
