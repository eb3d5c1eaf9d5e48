"""Print the image figures (sizes, ratio, start-up, SIGTERM) after the run, -s or not."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def pytest_terminal_summary(terminalreporter):
    import image_check

    if image_check.LAST_REPORT is not None:
        terminalreporter.section("image check (tests/image)")
        for line in image_check.LAST_REPORT.lines():
            terminalreporter.write_line(line)
