"""The soak's figures: what must be 0, what may grow how much, and the printed report."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from soak_lib import CANCEL_GRACE, Audit, HistoryState, ProcStats, Restart, Stopped
from soak_visitors import Click, message_kind

STOP_TIMEOUT = 15.0  # SIGTERM -> SIGKILL: `docker stop` gives 10 s, systemd 90 s
# Growth allowed between two quiet moments of one app process. Files: the log, SQLite's three and
# /dev/null are all there is; one leaked per image would add hundreds. Other fds (pipes, eventfd,
# epoll) come with threads and loops: as files. Sockets: idle keep-alive connections (the visitors'
# and the API client's pools) vary with the last burst, up to a few per visitor. RSS: Gradio keeps
# every page session's state (up to 10,000 sessions, for an hour after the tab closes) and allocator
# arenas do not shrink: the 3-minute soak measured +4 to +8 MB over a 90 s life of ~500 clicks. Four
# times that; a leak of image bytes (0.3-2 MB an image) exceeds it within a few dozen images.
FILE_SLACK = 2
SOCKETS_PER_VISITOR = 4
RSS_SLACK_MB = 32.0
_RETRY = re.compile(r"(\w+) request got HTTP (\d{3}); retry")
_GAVE_UP = re.compile(r"could not cancel prediction \w+: .*\(HTTP (\d{3})\)")
_TRACEBACK_END = re.compile(r"^Traceback \(most recent call last\):\n(?:[ \t].*\n)*(\S.*)$", re.M)


@dataclass
class Life:
    """One app process, read at two quiet moments."""

    name: str
    before: ProcStats
    after: ProcStats | None = None

    def limits(self, visitors: int) -> list[tuple[str, float, float, float]]:
        """(figure, before, after, allowed after)."""
        if self.after is None:
            return []
        b, a = self.before, self.after
        return [(f"{self.name} file fds", b.files, a.files, b.files + FILE_SLACK),
                (f"{self.name} other fds", b.other, a.other, b.other + FILE_SLACK),
                (f"{self.name} socket fds", b.sockets, a.sockets, b.sockets + SOCKETS_PER_VISITOR * visitors),
                (f"{self.name} RSS MB", b.rss_mb, a.rss_mb, b.rss_mb + RSS_SLACK_MB)]


@dataclass
class Report:
    config: object  # soak.Config
    seconds: float
    clicks: list[Click]
    audit: Audit
    history: HistoryState
    restart: Restart | None
    lives: list[Life]
    stops: list[Stopped]  # the app's, at the restart and at the end
    faults_met: Counter  # "create 429 retried" -> count, from the app's log
    log_errors: list[str]  # the app's ERROR lines and tracebacks other than gr.Error's
    workdir: Path

    @property
    def images_made(self) -> int:
        return sum(len(c.shown) for c in self.clicks)

    def in_restart(self, click: Click) -> bool:
        """The click met the restart: it ran while the app was going down or not yet back."""
        r = self.restart
        return r is not None and click.started <= r.ready_at + 2.0 and (click.ended or 0) >= r.term_at

    @property
    def errors(self) -> Counter:
        """What visitors were told, by kind: per image, or per click when no image line said it."""
        kinds: Counter[str] = Counter()
        for click in self.clicks:
            failures = click.failures
            kinds.update(message_kind(text) for text in failures)
            if click.outcome == "error" and not failures:
                kinds[message_kind(click.error or "")] += 1
            elif click.outcome in ("transport", "timeout", "empty"):
                where = "during restart" if self.in_restart(click) else "OUTSIDE restart"
                kinds[f"app: {re.sub(r'[0-9]{4,}', 'N', click.error or click.outcome)} ({where})"] += 1
        return kinds

    @property
    def must_be_zero(self) -> dict[str, int]:
        a, h, errors = self.audit, self.history, self.errors
        return {
            "predictions still running after the settle time": len(a.running),
            "succeeded images missing from the history": len(a.lost),
            "succeeded images lost across the restart": len(a.lost_at_restart),
            f"images that succeeded > {CANCEL_GRACE:g} s after the visitor left": len(a.ran_on_after_cancel),
            "predictions no click of this run asked for": len(a.unknown_prompt),
            "clicks that made more predictions than images": len(a.over_created),
            "history rows without a file": len(h.rows_without_file),
            "image files without a history row": len(h.files_without_row),
            "leftover temp files": len(h.temp_files),
            "files moved to orphans/": h.orphans,
            "history rows of no succeeded prediction": len(a.phantom_rows),
            "images shown but not in the history": len(a.shown_not_stored),
            "broken promises seen by visitors": sum(len(c.problems) for c in self.clicks if not self.in_restart(c)),
            "unexpected errors (app bugs)": errors["unexpected (app bug)"],
            "app failures outside the restart": sum(n for k, n in errors.items() if "OUTSIDE" in k),
            "errors and tracebacks in the app's log (besides gr.Error)": len(self.log_errors),
            f"app stops that needed SIGKILL ({STOP_TIMEOUT:g} s after SIGTERM)": sum(s.killed for s in self.stops),
        }

    @property
    def limits(self) -> list[tuple[str, float, float, float]]:
        return [limit for life in self.lives for limit in life.limits(self.config.visitors)]

    @property
    def passed(self) -> bool:
        return not any(self.must_be_zero.values()) and all(a <= ok for _, _, a, ok in self.limits)

    def text(self) -> str:
        c, a = self.config, self.audit
        lines = [f"soak: {c.visitors} visitors, {c.minutes:g} min, latency {c.latency:g} s, fail-rate "
                 f"{c.fail_rate:g}, seed {c.seed}: {self.seconds:.0f} s in all (logs: {self.workdir})",
                 f"requests (clicks): {len(self.clicks)}, by plan {dict(Counter(k.plan for k in self.clicks))}",
                 f"  by outcome {dict(Counter(k.outcome for k in self.clicks))}",
                 f"images: asked {sum(k.images for k in self.clicks)}, shown {self.images_made}, "
                 f"in the history {len(self.history.rows)}",
                 f"emulator: {a.created} predictions, {a.succeeded} succeeded, {a.stored} of them stored, "
                 f"{a.excused} finished as their visitor left (within {CANCEL_GRACE:g} s)"]
        if self.restart:
            r = self.restart
            lines.append(f"restart: exited {r.stopped.seconds:.2f} s after SIGTERM (code "
                         f"{r.stopped.returncode}{', needed SIGKILL' if r.stopped.killed else ''}); "
                         f"serving again {r.ready_at - r.term_at:.1f} s after SIGTERM")
        if a.lost_at_restart:
            lines.append(f"  lost across it: {a.lost_before_term} had succeeded before SIGTERM (not yet "
                         f"stored), {len(a.lost_at_restart) - a.lost_before_term} succeeded after it")
        for plan, reach in sorted(a.cancel_reach.items()):
            reach = sorted(reach)
            lines.append(f"cancel probe, {plan}: {len(reach)} predictions canceled, median "
                         f"{reach[len(reach) // 2]:.2f} s, max {reach[-1]:.2f} s after the visitor left")
        lines.append("faults the app met (from its log): "
                     + ", ".join(f"{what} x{n}" for what, n in sorted(self.faults_met.items())))
        lines.append("errors the visitors were told, by kind:")
        lines += [f"  {n:6d}  {kind}" for kind, n in self.errors.most_common()]
        lines.append("app process (quiet moments):   before     after   allowed")
        lines += [f"  {name:26s} {b:8.1f}  {aft:8.1f}  {ok:8.1f}{'' if aft <= ok else '   <-- GREW'}"
                  for name, b, aft, ok in self.limits]
        lines += [f"  {life.name} threads {life.before.threads} -> {life.after.threads}"
                  for life in self.lives if life.after]
        lines.append("must be 0:")
        lines += [f"  {n:6d}  {name}{'' if n == 0 else '   <-- FAIL'}" for name, n in self.must_be_zero.items()]
        lines += self._examples()
        lines.append("PASS" if self.passed else "FAIL")
        return "\n".join(lines)

    def _examples(self) -> list[str]:
        a, h = self.audit, self.history
        found = [("running", a.running), ("lost", a.lost), ("lost at restart", a.lost_at_restart),
                 ("ran on", a.ran_on_after_cancel), ("rows without file", h.rows_without_file),
                 ("files without row", h.files_without_row), ("shown not stored", a.shown_not_stored),
                 ("visitor saw", [p for k in self.clicks for p in k.problems]), ("app log", self.log_errors)]
        return [f"  e.g. {name}: {', '.join(map(str, items[:3]))}" for name, items in found if items]


def read_app_logs(logs: list[Path]) -> tuple[Counter, list[str]]:
    """From the app's logs: the faults its client met and retried or gave up on (replicate_client's
    INFO/WARNING lines), and its error records: ERROR lines and tracebacks other than gr.Error's
    (Gradio prints one for every gr.Error raised)."""
    faults: Counter = Counter()
    errors: list[str] = []
    for log in logs:
        text = log.read_text(errors="replace")
        faults.update(f"{call} {status} retried" for call, status in _RETRY.findall(text))
        faults.update(f"cancel {status} given up" for status in _GAVE_UP.findall(text))
        errors += [line for line in text.splitlines() if line.startswith(("ERROR", "CRITICAL"))]
        errors += [end for end in _TRACEBACK_END.findall(text) if not end.startswith("gradio.exceptions.Error")]
    return faults, errors
