"""Small cells hidden: a count from 1 to threshold - 1 is shown as "<threshold"."""

from __future__ import annotations

DEFAULT_THRESHOLD = 5
# Below this, a hidden cell says "1 or 2": as good as the number in a village.
MIN_THRESHOLD = 3


class ThresholdTooLow(ValueError):
    """A suppression threshold below MIN_THRESHOLD was asked for."""


def check_threshold(threshold: int) -> int:
    """Return the threshold when it may be used; raise ThresholdTooLow below MIN_THRESHOLD."""
    if threshold < MIN_THRESHOLD:
        raise ThresholdTooLow(
            f"the suppression threshold must be at least {MIN_THRESHOLD}, got {threshold}: "
            "counts of 1 or 2 identify children and reporters in small places"
        )
    return threshold


def hidden(count: int, threshold: int) -> bool:
    """Tell whether a count is small enough to be hidden (zero never is)."""
    return 0 < count < threshold


def shown(count: int, threshold: int) -> int | str:
    """Return the count as it may be shown: itself, or "<threshold" when small."""
    return f"<{threshold}" if hidden(count, threshold) else count
