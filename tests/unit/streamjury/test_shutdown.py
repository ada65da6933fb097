"""Specification of GracefulShutdown: stop signals become a flag, and old handlers come back."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from streamjury.shutdown import GracefulShutdown

SIGNAL_WAIT_S = 2.0


def signal_self(signum: signal.Signals) -> None:
    """Send ``signum`` to this process and give its handler the chance to run."""
    os.kill(os.getpid(), signum)
    threading.Event().wait(SIGNAL_WAIT_S / 10)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_sets_the_flag_instead_of_ending_the_process(
    signum: signal.Signals,
) -> None:
    with GracefulShutdown() as shutdown:
        os.kill(os.getpid(), signum)

        assert shutdown.wait(SIGNAL_WAIT_S)
        assert shutdown.stop_requested
        assert shutdown()
        assert shutdown.signal_name == signum.name


def test_the_previous_handlers_are_restored_on_exit() -> None:
    before = signal.getsignal(signal.SIGTERM)

    with GracefulShutdown():
        assert signal.getsignal(signal.SIGTERM) != before

    assert signal.getsignal(signal.SIGTERM) == before


def test_a_second_signal_interrupts_a_stuck_service() -> None:
    with GracefulShutdown() as shutdown:
        os.kill(os.getpid(), signal.SIGTERM)
        shutdown.wait(SIGNAL_WAIT_S)

        with pytest.raises(KeyboardInterrupt):
            signal_self(signal.SIGTERM)


def test_a_stop_can_be_requested_without_a_signal() -> None:
    with GracefulShutdown() as shutdown:
        assert not shutdown.stop_requested

        shutdown.request_stop()

        assert shutdown.stop_requested
        assert shutdown.signal_name is None


def test_outside_the_main_thread_no_handler_is_installed() -> None:
    before = signal.getsignal(signal.SIGTERM)
    seen: list[object] = []

    def enter() -> None:
        with GracefulShutdown():
            seen.append(signal.getsignal(signal.SIGTERM))

    worker = threading.Thread(target=enter)
    worker.start()
    worker.join()

    assert seen == [before]
