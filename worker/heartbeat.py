"""How the worker CLI hears of a lost lease mid-trial: the lease's heartbeat thread
(``hpsearch.lease``) notices the 409, and this turns the notice into an interrupt of the
main thread, so a long step of the built-in trainer or an ``--objective`` stops at once.

The worker owns its main thread; the Python client never signals its user's thread (its
next ``report`` says stop instead).
"""

from __future__ import annotations

import signal
import threading

LEASE_LOST_SIGNAL = signal.SIGUSR1


class LeaseLost(BaseException):
    """The server gave this worker's trial to someone else (raised in the main thread)."""


def interrupt_main() -> None:
    """Deliver ``LEASE_LOST_SIGNAL`` to the main thread (from any thread)."""
    signal.pthread_kill(threading.main_thread().ident or 0, LEASE_LOST_SIGNAL)
