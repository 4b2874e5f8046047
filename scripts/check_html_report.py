#!/usr/bin/env python3
"""Open a trtperf HTML report in a real headless browser (Chromium): no console message, every
embedded plot decodes, and a screenshot of the page.

Two loads, each in a fresh profile:
1. the report as written, with Chromium's console log on stderr (``--enable-logging=stderr --v=0``
   prints every console message as ``...:CONSOLE(...)]``); any console message fails the check;
   ``--screenshot`` saves the page.
2. a copy with a small checker script added: after ``load`` it counts the ``<img>`` elements whose
   image decoded (``naturalWidth > 0``) and logs ``trtperf-check: images N/M``; the check needs that
   line (so a checker that did not run fails) with N == M. A ``console.error`` in a test page is
   caught by load 1's rule (tests/unit/test_check_html_report.py shows it).

Install Chromium with ``apt-get install -y chromium`` (Debian). Exit 0 when the report is clean.

Usage: python scripts/check_html_report.py REPORT.html [--screenshot PNG] [--width 1280] [--height 4000]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
         "--disable-component-update", "--disable-sync", "--enable-logging=stderr", "--v=0"]
CONSOLE = re.compile(r":CONSOLE(?:\(\d+\)|:\d+)\] (.*)")
CHECKER = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const ok = images.filter((img) => img.complete && img.naturalWidth > 0).length;
  console.log(`trtperf-check: images ${ok}/${images.length}`);
});
</script>"""
INSTALL_HINT = "chromium not found: apt-get update && apt-get install -y chromium"


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def console_messages(browser: str, page: Path, extra: list[str], timeout: float = 180) -> list[str]:
    """Load ``page`` once in a fresh profile; the console messages Chromium logged."""
    with tempfile.TemporaryDirectory(prefix="trtperf-chromium-") as profile:
        run = subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()],
                             capture_output=True, text=True, timeout=timeout)
    return [m.group(1) for m in CONSOLE.finditer(run.stderr + run.stdout)]


def check(report: Path, screenshot: Path | None, width: int = 1280, height: int = 4000) -> list[str]:
    """Problems found (empty: clean). Raises FileNotFoundError when Chromium is not installed."""
    browser = find_chromium()
    if browser is None:
        raise FileNotFoundError(INSTALL_HINT)
    problems = []
    extra = [f"--window-size={width},{height}"]
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        extra.append(f"--screenshot={screenshot.resolve()}")
    else:
        extra.append("--dump-dom")
    problems += [f"console: {m}" for m in console_messages(browser, report, extra)]
    if screenshot is not None and not (screenshot.exists() and screenshot.stat().st_size > 0):
        problems.append(f"no screenshot written to {screenshot}")
    with tempfile.TemporaryDirectory(prefix="trtperf-check-") as tmp:
        copy = Path(tmp) / report.name
        text = report.read_text(encoding="utf-8")
        copy.write_text(text.replace("</body>", CHECKER + "</body>", 1), encoding="utf-8")
        messages = console_messages(browser, copy, ["--dump-dom", "--virtual-time-budget=5000"])
    counts = [re.search(r"trtperf-check: images (\d+)/(\d+)", m) for m in messages]
    found = [c for c in counts if c]
    if not found:
        problems.append(f"the image checker did not report (console: {messages})")
    elif found[0].group(1) != found[0].group(2):
        problems.append(f"only {found[0].group(1)} of {found[0].group(2)} images decoded")
    problems += [f"console: {m}" for m in messages if "trtperf-check:" not in m]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", type=Path)
    parser.add_argument("--screenshot", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=4000)
    args = parser.parse_args(argv)
    try:
        problems = check(args.report, args.screenshot, args.width, args.height)
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 2
    for problem in problems:
        print(f"{args.report}: {problem}", file=sys.stderr)
    if not problems:
        print(f"{args.report}: no console messages, every image decoded"
              + (f"; screenshot {args.screenshot}" if args.screenshot else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
