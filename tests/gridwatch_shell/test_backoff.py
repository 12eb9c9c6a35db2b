"""The one retry policy for a lost connection (gridwatch.redisconn.Backoff), which the ingest
worker, the dispatcher's loops and the web hub use, and paho's reconnect mirrors."""
from gridwatch.redisconn import RETRY_FIRST_S, RETRY_MAX_S, Backoff


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def test_waits_double_from_the_first_to_the_ceiling():
    clock = Clock()
    b = Backoff(clock=clock)
    waits = []
    for _ in range(8):
        waits.append(b.delay())
        clock.t += waits[-1]  # the next try fails as soon as it is made
    assert waits == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0]
    assert (RETRY_FIRST_S, RETRY_MAX_S) == (0.2, 5.0)


def test_a_failure_after_the_connection_held_starts_from_the_first_wait():
    clock = Clock()
    b = Backoff(clock=clock)
    for _ in range(5):
        clock.t += b.delay()
    clock.t += 60  # up for a minute, then lost again
    assert b.delay() == RETRY_FIRST_S


def test_the_mqtt_clients_reconnect_by_the_same_policy(settings):
    from telemetry.mqtt import connect

    c = connect(settings, "backoff-probe", clean_start=True, session_expiry_s=0)
    try:
        assert (c._reconnect_min_delay, c._reconnect_max_delay) == (RETRY_FIRST_S, RETRY_MAX_S)
    finally:
        c.disconnect()
        c.loop_stop()
