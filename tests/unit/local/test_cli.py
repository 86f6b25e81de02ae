"""`declick local run`'s progress: a bar on a terminal only, plain occasional lines elsewhere."""

from __future__ import annotations

import io

from declick.local.cli import WaitDisplay


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_with_the_details():
    stream = _Terminal()
    display = WaitDisplay(3, stream)
    display.update(1, 0.5, lambda: "2 task(s) in progress, 4 poll(s)")
    display.close()
    drawn = stream.getvalue()
    assert "\r" in drawn and "notified" in drawn and "1/3" in drawn and "4 poll(s)" in drawn


def test_a_log_gets_no_bar_and_a_plain_line_only_now_and_then():
    stream = io.StringIO()
    display = WaitDisplay(3, stream)
    for tick in range(1, 20):
        display.update(1, tick * 0.5, lambda: "1 task(s) in progress, 2 poll(s)")
    assert stream.getvalue() == ""  # a short run: nothing but the milestones, which run() prints
    display.update(2, WaitDisplay.LINE_EVERY_SECONDS + 1, lambda: "1 task(s) in progress, 5 poll(s)")
    display.close()
    assert stream.getvalue() == "waiting: 2/3 upload(s) notified, 1 task(s) in progress, 5 poll(s), 31 s\n"
