"""The loop's signal plumbing in-process: a lost lease interrupts the work at once, the
first stop signal asks to stop, the second interrupts."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from types import FrameType

import pytest

from tests.worker_helpers import make_task, wait_for
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
    with pytest.raises(LeaseLost):
        threading.Event().wait(60)  # a long blocking step of the user's code
        pytest.fail("the step ran to its end: the lost lease did not interrupt it")


def test_a_late_lease_notice_is_ignored_outside_the_work(worker: Worker):
    delivered: list[int] = []

    def counting(signum: int, frame: FrameType | None) -> None:
        delivered.append(signum)
        worker._on_lease_lost(signum, frame)  # raises LeaseLost if it does not ignore it

    signal.signal(LEASE_LOST_SIGNAL, counting)
    worker.task, worker.in_work = make_task(), False
    worker._lease_lost(worker.task.id)  # the trial's own notice, after its work ended
    wait_for(lambda: len(delivered) == 1, 10, "the first notice")
    worker.in_work = True
    worker._lease_lost(worker.task.id + 1)  # another trial's notice, during the work
    wait_for(lambda: len(delivered) == 2, 10, "the second notice")
    assert worker.lost == worker.task.id + 1  # both were seen and neither interrupted


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
