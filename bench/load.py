"""Bounded load on the web app's ``/ask`` API, over loopback only; stops by itself.

    python bench/load.py --index DIR [--clients 20] [--duration 60]     # starts `python app.py` on a free port
                                                                        # (with the caller's ASSISTANT_* settings)
    python bench/load.py --url http://127.0.0.1:7860/ [--pid PID]       # an app that is already running

N client threads ask questions back to back for D seconds (each request through Gradio's REST API: POST
``/gradio_api/call/ask``, then read the result stream), then the in-flight requests finish (60 s timeout each).
Prints the error count, p50 / p95 latency, requests per second, and the server's RSS (``VmRSS`` of
``/proc/<pid>/status``) before and after — for a server this script started, or the one given with ``--pid``.
``--json`` prints the same figures as one JSON object. Exit status 1 when any request failed.

The start-up helpers (:func:`launch`, :func:`call`, :func:`wait_ready`) are shared with tests/test_robustness_app.py.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.evaluate import percentile  # noqa: E402

#: Questions the clients cycle through: the page's examples (all user groups) and one the documents do not answer.
QUESTIONS = [
    "2022年审查了多少份重大行政决策？",
    "学校对学生欺凌应该怎么处理？",
    "《中华人民共和国未成年人保护法》第三十九条",
    "学生在学校受到人身损害，学校承担什么责任？",
    "禁毒法第九十九条",
    "教育局2022年在未成年人保护方面做了哪些工作？",
    "学校可以体罚学生吗？",
    "今天柳州天气怎么样",
]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(index_dir: Path, log_path: Path, env_extra: dict[str, str] | None = None,
           docs_dirs: list[Path] | None = None, clean: bool = True) -> tuple[subprocess.Popen, str]:
    """``python app.py`` on a free loopback port with ``index_dir``; returns (process, url) at once.

    ``clean``: drop the inherited ASSISTANT_* / GRADIO_* variables, so the app runs on its defaults (host
    127.0.0.1) plus ``env_extra``; else only the index, port and host are overridden. Output goes to ``log_path``.
    """
    port = free_port()
    drop = ("ASSISTANT_", "GRADIO_") if clean else ("ASSISTANT_INDEX_DIR", "ASSISTANT_PORT", "ASSISTANT_HOST",
                                                     "GRADIO_SERVER_PORT")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(ASSISTANT_INDEX_DIR=str(index_dir), ASSISTANT_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False",
               PYTHONUNBUFFERED="1", NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    if docs_dirs:  # else the app's default folders, used only if the index is empty
        env["ASSISTANT_DOCS_DIRS"] = ",".join(str(d) for d in docs_dirs)
    env.update(env_extra or {})
    with open(log_path, "wb") as out:
        proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=log_path.parent, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}/"


def call(http: httpx.Client, url: str, api: str, *args, timeout: float = 120.0) -> tuple[str, object]:
    """One call of a named endpoint through Gradio's REST API: ("complete", its result) or ("error", the message)."""
    r = http.post(f"{url}gradio_api/call/{api}", json={"data": list(args)}, timeout=timeout)
    r.raise_for_status()
    event_id = r.json()["event_id"]
    event = None
    with http.stream("GET", f"{url}gradio_api/call/{api}/{event_id}", timeout=timeout) as s:
        for line in s.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                data = json.loads(line[5:]) if line[5:].strip() not in ("", "null") else None
                if event == "complete":
                    return event, data[0] if data else None
                return event, data.get("error") if isinstance(data, dict) else data  # the message shown
    raise RuntimeError(f"no result for {api} (last event {event})")


def wait_ready(url: str, proc: subprocess.Popen | None = None, timeout: float = 600.0) -> dict:
    """Poll the page, then ``/status``, until the index is ready; the last status. Bounded by ``timeout``."""
    deadline = time.monotonic() + timeout
    with httpx.Client() as http:
        while True:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"app exited with {proc.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} not ready after {timeout:.0f} s")
            try:
                kind, status = call(http, url, "status", timeout=10)
                if kind == "complete" and isinstance(status, dict):
                    if status.get("error"):
                        raise RuntimeError(f"app failed to load: {status}")
                    if status.get("ready"):
                        return status
            except httpx.HTTPError:
                pass
            time.sleep(0.3)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def rss_mb(pid: int | None) -> float | None:
    """Resident memory of process ``pid`` in MB (Linux /proc), or None."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, TypeError):
        pass
    return None


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    errors: Counter = field(default_factory=Counter)  # reason → count
    lock: threading.Lock = field(default_factory=threading.Lock)


def client_loop(url: str, n: int, stop_at: float, results: Results) -> None:
    """One API client: questions back to back until ``stop_at``; a reply without ``found`` counts as an error."""
    with httpx.Client() as http:
        i = n
        while time.monotonic() < stop_at:
            q = QUESTIONS[i % len(QUESTIONS)]
            i += 1
            t0 = time.perf_counter()
            try:
                kind, data = call(http, url, "ask", q, "全部", "全部", timeout=60)
                ok = kind == "complete" and isinstance(data, dict) and isinstance(data.get("found"), bool)
                reason = None if ok else f"{kind}: {str(data)[:80]}"
            except Exception as e:  # noqa: BLE001 — every failure is counted, none stops the run
                reason = f"{type(e).__name__}: {str(e)[:80]}"
            dt = time.perf_counter() - t0
            with results.lock:
                if reason is None:
                    results.latencies.append(dt)
                else:
                    results.errors[reason] += 1


def run_load(url: str, clients: int, duration: float) -> tuple[Results, float]:
    """``clients`` threads for ``duration`` seconds; (results, wall time until the last request finished)."""
    results = Results()
    t0 = time.monotonic()
    threads = [threading.Thread(target=client_loop, args=(url, n, t0 + duration, results), daemon=True)
               for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=duration + 90)
    return results, time.monotonic() - t0


def report(results: Results, wall: float, clients: int, duration: float, rss: tuple) -> dict:
    lat = results.latencies
    errors = sum(results.errors.values())
    return {
        "clients": clients, "duration_s": duration, "requests": len(lat) + errors, "errors": errors,
        "error_kinds": dict(results.errors.most_common(5)),
        "p50_ms": round(percentile(lat, 0.5) * 1000, 1), "p95_ms": round(percentile(lat, 0.95) * 1000, 1),
        "max_ms": round(max(lat, default=0.0) * 1000, 1), "rps": round(len(lat) / wall, 2) if wall else 0.0,
        "rss_before_mb": None if rss[0] is None else round(rss[0], 1),
        "rss_after_mb": None if rss[1] is None else round(rss[1], 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--index", type=Path, help="index folder: start `python app.py` on it (a free port)")
    where.add_argument("--url", help="a running app on this machine, e.g. http://127.0.0.1:7860/")
    ap.add_argument("--pid", type=int, help="with --url: the server's process id, for its RSS")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.clients < 1 or not 0 < args.duration <= 3600:
        ap.error("--clients ≥ 1 and 0 < --duration ≤ 3600")

    proc = None
    if args.url:
        url = args.url if args.url.endswith("/") else args.url + "/"
        if urlparse(url).hostname not in LOOPBACK:
            ap.error("--url must be a loopback address (127.0.0.1 / localhost): this script only loads this machine")
        pid = args.pid
    else:
        log = Path(os.environ.get("TMPDIR", "/tmp")) / f"load-app-{os.getpid()}.log"
        proc, url = launch(args.index.resolve(), log, clean=False)  # the caller's ASSISTANT_* settings apply
        pid = proc.pid
        print(f"started python app.py (pid {pid}) on {url}, log {log}", file=sys.stderr)
    try:
        wait_ready(url, proc)
        before = rss_mb(pid)
        results, wall = run_load(url, args.clients, args.duration)
        after = rss_mb(pid)
    finally:
        if proc is not None:
            stop(proc)
    out = report(results, wall, args.clients, args.duration, (before, after))
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        fmt = lambda v: "n/a" if v is None else f"{v:.0f} MB"  # noqa: E731
        print(f"{out['clients']} clients × {out['duration_s']:g} s: {out['requests']} requests, "
              f"{out['errors']} errors{'' if not out['errors'] else ' ' + str(out['error_kinds'])}")
        print(f"latency p50 {out['p50_ms']:.0f} ms, p95 {out['p95_ms']:.0f} ms, max {out['max_ms']:.0f} ms; "
              f"{out['rps']:.1f} requests/s")
        print(f"server RSS before {fmt(out['rss_before_mb'])}, after {fmt(out['rss_after_mb'])}")
    return 1 if out["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
