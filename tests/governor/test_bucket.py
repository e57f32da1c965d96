"""The token bucket: refill, spending, reshaping and debt."""

import math

from bridge.governor import TokenBucket


def test_refills_at_the_rate_up_to_the_capacity() -> None:
    bucket = TokenBucket(capacity=10.0, rate_per_s=2.0, level=0.0, now_s=0.0)
    bucket.refill(3.0)
    assert bucket.level == 6.0
    bucket.refill(100.0)
    assert bucket.level == 10.0


def test_take_spends_only_what_is_there() -> None:
    bucket = TokenBucket(capacity=10.0, rate_per_s=1.0, level=3.0, now_s=0.0)
    assert not bucket.take(4.0, now_s=0.0)
    assert bucket.level == 3.0
    assert bucket.seconds_until(4.0, now_s=0.0) == 1.0
    assert bucket.take(4.0, now_s=1.0)
    assert bucket.level == 0.0


def test_a_request_above_capacity_waits_for_a_full_bucket_and_leaves_a_debt() -> None:
    bucket = TokenBucket(capacity=5.0, rate_per_s=1.0, level=5.0, now_s=0.0)
    assert bucket.take(8.0, now_s=0.0)
    assert bucket.level == -3.0
    assert bucket.seconds_until(1.0, now_s=0.0) == 4.0


def test_zero_rate_means_never_and_reshape_clips() -> None:
    bucket = TokenBucket(capacity=10.0, rate_per_s=0.0, level=2.0, now_s=0.0)
    assert math.isinf(bucket.seconds_until(3.0, now_s=0.0))
    bucket.reshape(capacity=1.0, rate_per_s=0.5, now_s=1.0)
    assert bucket.level == 1.0
    assert bucket.rate_per_s == 0.5


def test_time_never_runs_backwards() -> None:
    bucket = TokenBucket(capacity=10.0, rate_per_s=1.0, level=0.0, now_s=5.0)
    bucket.refill(2.0)
    assert bucket.level == 0.0
    assert bucket.now_s == 5.0
