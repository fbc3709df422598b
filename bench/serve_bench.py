"""The HTTP service under load on 127.0.0.1: throughput and latency at N concurrent clients, then a server killed
(SIGKILL) mid-run and restarted on the same SQLite file, checking that every finished result is still readable and
that no row is half written.

The server is `vliqa serve` in a fresh process (the shipped default model, no VLM); each client sends one 512² DICOM
slice of the bundled abdomen series to POST /v1/assess and waits for its result, again and again, for a bounded time.

Run: `.venv/bin/python bench/serve_bench.py [--clients 20] [--seconds 30] [--workers 2] [--measures]
[--markdown FILE]`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import REPO, Report  # noqa: E402

SAMPLE = REPO / "src" / "vliqa" / "samples" / "abdomen_ct_dicom"
TOKEN = "bench-token-" + "0" * 20
console = Console(width=140)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`vliqa serve` in a child process."""

    def __init__(self, db: Path, port: int, workers: int, queue: int, measures: bool, log: Path):
        self.url = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "vliqa.cli.main", "serve", "--port", str(port), "--db", f"sqlite:///{db}",
               "--workers", str(workers), "--queue", str(queue), "--no-vlm",
               "--measures" if measures else "--no-measures"]
        env = {**os.environ, "VLIQA_API_TOKEN": TOKEN, "OMP_NUM_THREADS": "1"}
        self.log = open(log, "ab")  # noqa: SIM115 - open for the child's lifetime
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO)
        started = time.perf_counter()
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited ({self.proc.returncode}); see {log}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.perf_counter() - started > 180:
                raise SystemExit(f"the server did not become ready in 180 s; see {log}")
            time.sleep(0.2)
        self.start_s = time.perf_counter() - started

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
        self.log.close()


def client_loop(url: str, slices: list[bytes], stop: threading.Event, out: list[dict], seed: int) -> None:
    """Sends slices to POST /v1/assess until `stop`; records each request's latency, status and result id."""
    rng = np.random.default_rng(seed)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=300) as client:
        while not stop.is_set():
            i = int(rng.integers(len(slices)))
            t0 = time.perf_counter()
            try:
                r = client.post("/v1/assess", files={"file": (f"slice{i}.dcm", slices[i])})
                status, body = r.status_code, (r.json() if r.headers.get("content-type", "").startswith(
                    "application/json") else {})
            except httpx.ConnectError:  # the server is down: try again shortly, as a client would
                status, body = -1, {}
                time.sleep(0.5)
            except httpx.TransportError:  # cut off mid-request
                status, body = 0, {}
            out.append({"t": time.perf_counter(), "latency_s": time.perf_counter() - t0, "status": status,
                        "id": body.get("id") if status == 200 else None})


def run_load(url: str, slices: list[bytes], clients: int, seconds: float,
             kill_after_s: float | None = None, server: Server | None = None) -> tuple[list[dict], float]:
    stop, records = threading.Event(), []
    threads = [threading.Thread(target=client_loop, args=(url, slices, stop, records, k)) for k in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    if kill_after_s is not None and server is not None:
        time.sleep(kill_after_s)
        server.kill()
    time.sleep(max(0.0, seconds - (time.perf_counter() - started)))
    stop.set()
    for t in threads:
        t.join()
    return records, time.perf_counter() - started


def summary_row(name: str, records: list[dict], elapsed: float) -> list[str]:
    ok = [r for r in records if r["status"] == 200]
    lat = np.array([r["latency_s"] for r in ok]) if ok else np.array([np.nan])
    busy = sum(r["status"] == 429 for r in records)
    cut = sum(r["status"] == 0 for r in records)
    down = sum(r["status"] == -1 for r in records)
    failed = sum(r["status"] not in (200, 429, 0, -1) for r in records)
    return [name, str(len(records)), f"{len(ok) / elapsed:.2f}", f"{np.percentile(lat, 50) * 1000:.0f}",
            f"{np.percentile(lat, 95) * 1000:.0f}", str(busy), str(cut), str(down), str(failed)]


def direct_baseline(slices: list[Path], threads: int, seconds: float, measures: bool) -> tuple[list[dict], float]:
    """The same work without HTTP: one Assessor in this process, `threads` threads assessing slice files."""
    from vliqa.assessment import Assessor

    assessor = Assessor("default", measures=measures, describer=None)
    stop, records = threading.Event(), []

    def loop(seed: int) -> None:
        rng = np.random.default_rng(seed)
        while not stop.is_set():
            t0 = time.perf_counter()
            assessor.assess(slices[int(rng.integers(len(slices)))])
            records.append({"latency_s": time.perf_counter() - t0, "status": 200, "id": None})

    workers = [threading.Thread(target=loop, args=(k,)) for k in range(threads)]
    started = time.perf_counter()
    for t in workers:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in workers:
        t.join()
    return records, time.perf_counter() - started


def check_db(db: Path) -> dict[str, int]:
    """Counts the rows a reader would find broken: done without a result, failed without an error, unknown states."""
    with sqlite3.connect(db) as con:
        q = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
        bad_json = 0
        for (text,) in con.execute("SELECT result_json FROM results WHERE status = 'done'"):
            try:
                json.loads(text)
            except (TypeError, ValueError):
                bad_json += 1
        return {"rows": q("SELECT count(*) FROM results"),
                "queued or running": q("SELECT count(*) FROM results WHERE status IN ('queued', 'running')"),
                "done": q("SELECT count(*) FROM results WHERE status = 'done'"),
                "done without result": q("SELECT count(*) FROM results WHERE status='done' AND result_json IS NULL"),
                "done with unreadable JSON": bad_json,
                "failed without error": q("SELECT count(*) FROM results WHERE status='failed' AND error_json IS NULL"),
                "unknown status": q("SELECT count(*) FROM results WHERE status NOT IN "
                                    "('queued','running','done','failed')"),
                "uploads without result": q("SELECT count(*) FROM uploads WHERE result_id NOT IN "
                                            "(SELECT id FROM results)")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each load phase")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--queue", type=int, default=64)
    parser.add_argument("--measures", action="store_true", help="add the physics measures (about 0.25 s a slice)")
    parser.add_argument("--markdown", type=Path, help="write the tables here as GitHub markdown")
    args = parser.parse_args(argv)
    report = Report("HTTP service")
    slices = [p.read_bytes() for p in sorted(SAMPLE.glob("CT*"))]
    tmp = Path(tempfile.mkdtemp(prefix="vliqa-serve-bench-"))
    db, log, port = tmp / "bench.db", tmp / "server.log", free_port()
    console.print(f"server log: {log}")

    direct, direct_elapsed = direct_baseline(sorted(SAMPLE.glob("CT*")), args.workers, min(args.seconds, 15.0),
                                             args.measures)
    server = Server(db, port, args.workers, args.queue, args.measures, log)
    load, elapsed = run_load(server.url, slices, args.clients, args.seconds)
    # a series job in the background, so the kill below also cuts off a job mid-way
    series_zip = tmp / "series.zip"
    with zipfile.ZipFile(series_zip, "w") as zf:
        for p in sorted(SAMPLE.glob("CT*")):
            zf.write(p, p.name)
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as c:
        jobs = [c.post("/v1/assess", files={"file": ("series.zip", series_zip.read_bytes())}).json()["id"]]
    killed, killed_elapsed = run_load(server.url, slices, args.clients, args.seconds,
                                      kill_after_s=args.seconds / 2, server=server)
    broken_after_kill = check_db(db)

    again = Server(db, port, args.workers, args.queue, args.measures, log)
    finished = [r["id"] for r in load + killed if r["id"]]
    unreadable = 0
    with httpx.Client(base_url=again.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as c:
        for result_id in finished:
            r = c.get(f"/v1/results/{result_id}")
            if r.status_code != 200 or r.json()["status"] != "done" or not r.json()["result"]:
                unreadable += 1
        deadline, states = time.perf_counter() + 300, []
        while time.perf_counter() < deadline:
            states = [c.get(f"/v1/jobs/{j}").json()["status"] for j in jobs]
            if all(s in ("done", "failed") for s in states) and check_db(db)["queued or running"] == 0:
                break
            time.sleep(0.5)
    again.stop()
    broken_after_restart = check_db(db)

    columns = ["phase", "requests", "results/s", "p50 ms", "p95 ms", "429", "cut off", "server down", "failed"]
    table = Table(title=f"{args.clients} concurrent clients, one 512² DICOM slice each request, {args.workers} "
                        f"workers, measures {'on' if args.measures else 'off'}, template descriptions (--no-vlm)",
                  caption="cut off: requests in flight when the server was killed; server down: connections refused "
                          "until the end of the phase (each client retries every 0.5 s); failed: any other answer "
                          "than 200 or 429")
    for c in columns:
        table.add_column(c, justify="left" if c == "phase" else "right")
    table.add_row(*summary_row(f"no HTTP: Assessor in {args.workers} threads ({direct_elapsed:.0f} s)", direct,
                               direct_elapsed))
    table.add_row(*summary_row(f"steady ({elapsed:.0f} s)", load, elapsed))
    table.add_row(*summary_row(f"killed mid-run at {args.seconds / 2:.0f} s", killed, killed_elapsed))
    console.print(table)
    report.add(table)

    checks = Table(title="After SIGKILL and a restart on the same SQLite file")
    checks.add_column("check")
    checks.add_column("after the kill", justify="right")
    checks.add_column("after the restart", justify="right")
    for key in broken_after_kill:
        checks.add_row(key, str(broken_after_kill[key]), str(broken_after_restart[key]))
    checks.add_row("finished results (200) not readable after restart", "", f"{unreadable} of {len(finished)}")
    checks.add_row("series job (20 slices) sent before the kill, done after the restart", "",
                   f"{states.count('done')} of {len(jobs)}")
    console.print(checks)
    report.add(checks)
    report.note("Rows left queued or running by the kill are run again at the restart (their uploads are kept on "
                "disk); the restarted server is stopped once none is left.")
    report.note(f"Server start (models loaded, /readyz 200): {server.start_s:.1f} s, restart {again.start_s:.1f} s.")
    report.write(args.markdown)
    ok = unreadable == 0 and states.count("done") == len(jobs) and all(
        v == 0 for k, v in broken_after_restart.items() if k not in ("rows", "done"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
