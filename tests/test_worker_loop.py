"""The loop's signal plumbing in-process: a lost lease interrupts the work at once, the
first stop signal asks to stop, the second interrupts."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator

import pytest

from tests.worker_helpers import make_task
from worker.loop import LEASE_LOST_SIGNAL, Interrupted, LeaseLost, Options, Worker, poll_delay
from worker.progress import Progress


@pytest.fixture
def worker() -> Iterator[Worker]:
    w = Worker(Options(server="http://127.0.0.1:9", token=None, name="t"), Progress("t"))
    handlers = {signal.SIGUSR2: signal.signal(signal.SIGUSR2, w._on_stop_signal),
                LEASE_LOST_SIGNAL: signal.signal(LEASE_LOST_SIGNAL, w._on_lease_lost)}
    yield w
    for signum, handler in handlers.items():
        signal.signal(signum, handler)
    w.api.close()


def test_lost_lease_interrupts_the_work_at_once(worker: Worker):
    worker.task, worker.in_work = make_task(), True
    threading.Timer(0.2, worker._lease_lost, args=(worker.task.id,)).start()
    started = time.monotonic()
    with pytest.raises(LeaseLost):
        time.sleep(10)  # a long step of the user's code
    assert time.monotonic() - started < 2


def test_a_late_lease_notice_is_ignored_outside_the_work(worker: Worker):
    worker.task, worker.in_work = make_task(), False
    worker._lease_lost(worker.task.id)
    time.sleep(0.2)  # the handler ran and did nothing
    worker.in_work = True
    worker._lease_lost(worker.task.id + 1)  # another trial's notice
    time.sleep(0.2)


def test_first_signal_asks_to_stop_and_the_second_interrupts(worker: Worker):
    signal.raise_signal(signal.SIGUSR2)
    assert worker.signals == 1
    assert worker.stopping.wait(2)  # set from a helper thread, never in the handler
    with pytest.raises(Interrupted) as exc:
        signal.raise_signal(signal.SIGUSR2)
    assert exc.value.signum == signal.SIGUSR2


def test_poll_delay_backs_off_up_to_the_cap():
    assert 0.125 <= poll_delay(0, 10) <= 0.25
    assert all(5 <= poll_delay(n, 10) <= 10 for n in range(6, 40))
