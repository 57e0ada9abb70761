"""Decisions per second and latency of `POST /api/route` under concurrent keep-alive load, against the ceiling
of the emulator's own stack, in the same run.

    .venv/bin/python benchmarks/emulator_throughput.py [--connections 16] [--duration 10] [--rounds 3]
        [--generator auto] [--rss-requests 0]

Two servers, one after another, each in its own process: `hallsim serve` (real uvicorn, default behaviour
`allow`, journal on) and benchmarks/emulator_ceiling_app.py (a constant-answer raw ASGI app on the same
uvicorn + httptools + uvloop); rounds alternate between them so a shared machine's noise hits both alike. It
prints the ratio of their median rounds, and the ratio of their CPU time per request (read from
/proc/PID/stat), which other load on a shared machine disturbs far less than requests per second. The load
comes from another process: `wrk` (a C load generator; `apt-get install wrk`) with a Lua script that POSTs
the guide's request with the bearer token, or, when wrk is absent, a Python multi-process generator over raw
keep-alive sockets. The script says which it used. After the rounds it prints the emulator's resident memory
(RSS) and how many requests it had served; `--rss-requests N` first sends N more requests (1,000,000 takes a
couple of minutes) to show the journal keeps memory flat. Then each peer found (`--peers`,
benchmarks/peers.py: WireMock, mountebank) runs alone, after `--peer-warmup` seconds of the same load
(WireMock's JVM needs ~30 s to reach full speed), for as many rounds, and is stopped before the next starts;
the ratio of the emulator's median round to the peer's is printed. Targets: >= 0.7x the ceiling, p99 <= 3 ms
at 16 connections, RSS <= 40 MB after 1,000,000 requests with the journal on (2-core machine, load generator
beside the server). On a busy machine, judge a change by benchmarks/emulator_instructions.py (instructions
per request of both servers under valgrind, which no other load moves).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import peers  # noqa: E402  (benchmarks/peers.py)

from hallsim.emulator.contract import GUIDE_REQUEST  # noqa: E402

TOKEN = "bench"
BODY = json.dumps(GUIDE_REQUEST, separators=(",", ":"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_emulator(port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "hallsim", "serve", "--port", str(port), "--token", TOKEN]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            health(port)
            return process
        except OSError:
            time.sleep(0.02)
    process.kill()
    raise SystemExit("the emulator did not start")


def start_ceiling(port: int) -> subprocess.Popen[bytes]:
    app = Path(__file__).resolve().parent / "emulator_ceiling_app.py"
    process = subprocess.Popen([sys.executable, str(app), str(port)], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            time.sleep(0.02)
    process.kill()
    raise SystemExit("the ceiling app did not start")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(load, pid: int, port: int, connections: int, duration: float, width: int) -> dict:  # type: ignore[no-untyped-def]
    before = cpu_seconds(pid)
    result = load(port, connections, duration, width)
    result["cpu_us"] = (cpu_seconds(pid) - before) / max(result["requests"], 1) * 1e6
    return result


def health(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/__hall/health", timeout=2) as answer:
        return json.loads(answer.read())


def run_wrk(port: int, connections: int, duration: float, threads: int) -> dict:
    lua = f"""
wrk.method = "POST"
wrk.body = '{BODY}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {TOKEN}"
"""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    try:
        command = [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{int(duration)}s",
            "--latency",
            "-s",
            script.name,
            f"http://127.0.0.1:{port}/api/route",
        ]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(script.name)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    percentiles = {p: _ms(v) for p, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.MULTILINE)}
    return {
        "generator": f"wrk ({threads} thread{'s' if threads > 1 else ''})",
        "requests": total,
        "rate": rate,
        "p50_ms": percentiles["50"],
        "p99_ms": percentiles["99"],
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else "none",
    }


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


_REQUEST = (
    f"POST /api/route HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
    f"Content-Type: application/json\r\nContent-Length: {len(BODY)}\r\n\r\n{BODY}"
).encode()


def _python_worker(port: int, connections: int, duration: float, out: multiprocessing.Queue) -> None:
    """One load process: `connections` keep-alive sockets, each sending again as soon as its answer is in."""
    import selectors

    selector = selectors.DefaultSelector()
    latencies: list[float] = []
    bad = 0
    for _ in range(connections):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, {"buffer": b"", "sent": 0.0})
    end = time.perf_counter() + duration
    for key in list(selector.get_map().values()):
        key.data["sent"] = time.perf_counter()
        key.fileobj.send(_REQUEST)  # type: ignore[union-attr]
    while time.perf_counter() < end:
        for key, _ in selector.select(timeout=0.5):
            sock, state = key.fileobj, key.data
            chunk = sock.recv(65536)  # type: ignore[union-attr]
            if not chunk:
                raise SystemExit("the emulator closed a connection")
            state["buffer"] += chunk
            head, sep, rest = state["buffer"].partition(b"\r\n\r\n")
            if not sep:
                continue
            length = int(re.search(rb"content-length: (\d+)", head, re.IGNORECASE).group(1))  # type: ignore[union-attr]
            if len(rest) < length:
                continue
            state["buffer"] = rest[length:]
            latencies.append(time.perf_counter() - state["sent"])
            if not head.startswith(b"HTTP/1.1 200"):
                bad += 1
            state["sent"] = time.perf_counter()
            sock.send(_REQUEST)  # type: ignore[union-attr]
    out.put((latencies, bad))


def run_python(port: int, connections: int, duration: float, processes: int) -> dict:
    queue: multiprocessing.Queue = multiprocessing.Queue()
    shares = [connections // processes + (1 if i < connections % processes else 0) for i in range(processes)]
    workers = [
        multiprocessing.Process(target=_python_worker, args=(port, n, duration, queue)) for n in shares if n
    ]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=duration + 30) for _ in workers]
    for worker in workers:
        worker.join(10)
    latencies = sorted(x for lat, _ in results for x in lat)
    return {
        "generator": f"python ({len(workers)} processes, raw keep-alive sockets)",
        "requests": len(latencies),
        "rate": len(latencies) / duration,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "non_2xx": sum(bad for _, bad in results),
        "socket_errors": "none",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before measuring")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds (the machine may be shared)")
    parser.add_argument(
        "--rss-requests", type=int, default=0, help="requests to send before reading the emulator's memory"
    )
    parser.add_argument(
        "--peers",
        default="auto",
        help="other mock servers to measure in the same run: auto (those found), none, or a comma-separated "
        "list of wiremock, mountebank (benchmarks/peers.py says where they are looked for)",
    )
    parser.add_argument(
        "--peer-warmup",
        type=float,
        default=30.0,
        help="seconds of load on each peer before measuring (WireMock's JVM needs ~30 s to reach full speed)",
    )
    args = parser.parse_args()

    generator = args.generator
    if generator == "auto":
        generator = "wrk" if shutil.which("wrk") else "python"
    if generator == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk); use --generator python")

    load = run_wrk if generator == "wrk" else run_python
    # wrk: one thread (a C event loop drives far more than the emulator serves) so the generator takes one
    # core and the server the other; the Python generator needs two processes to keep up
    width = 1 if generator == "wrk" else 2
    port, ceiling_port = free_port(), free_port()
    emulator = start_emulator(port)
    ceiling = start_ceiling(ceiling_port)
    wanted, skipped = _peers_wanted(args.peers)
    running: list[peers.Peer] = []
    rounds: list[dict] = []
    ceilings: list[dict] = []
    peer_rounds: dict[str, list[dict]] = {}
    peer_memory: dict[str, float] = {}
    try:
        answer = allow_answer(port)
        if args.warmup > 0:
            load(port, args.connections, args.warmup, width)
            load(ceiling_port, args.connections, args.warmup, width)
        for _ in range(args.rounds):
            ceilings.append(measured(load, ceiling.pid, ceiling_port, args.connections, args.duration, width))
            before = health(port)["next_seq"]
            result = measured(load, emulator.pid, port, args.connections, args.duration, width)
            result["journalled"] = health(port)["next_seq"] - before
            rounds.append(result)
        if args.rss_requests:
            sent = 0
            while sent < args.rss_requests:
                sent += load(port, args.connections, 10, width)["requests"]
        served = health(port)["next_seq"] - 1
        memory = rss_mb(emulator.pid)
        ceiling_memory = rss_mb(ceiling.pid)
        # each peer alone, after the emulator's rounds: a JVM that has just been loaded keeps collecting and
        # compiling on both cores for a while, which would slow down whatever is measured next to it
        for name in wanted:
            peer = peers.STARTERS[name](answer)
            running.append(peer)
            if args.peer_warmup > 0:
                load(peer.port, args.connections, args.peer_warmup, width)
            peer_rounds[name] = [
                measured(load, peer.pid, peer.port, args.connections, args.duration, width)
                for _ in range(args.rounds)
            ]
            peer_memory[name] = rss_mb(peer.pid)
            peer.stop()
            running.remove(peer)
    finally:
        for peer in running:
            peer.stop()
        emulator.send_signal(signal.SIGINT)
        ceiling.send_signal(signal.SIGINT)
        emulator.wait(15)
        ceiling.wait(15)

    first = rounds[0]
    print(f"load generator : {first['generator']}, separate process from the servers")
    print(f"emulator       : hallsim serve (uvicorn, {_loop_name()}), default allow, journal on")
    print("ceiling        : benchmarks/emulator_ceiling_app.py, constant answer, same uvicorn stack")
    print(
        f"connections    : {args.connections} keep-alive, {args.rounds} rounds of {args.duration:g} s each "
        f"(after {args.warmup:g} s warm-up), alternating, {os.cpu_count()} cores"
    )
    for i, (r, c) in enumerate(zip(rounds, ceilings, strict=True), 1):
        print(
            f"round {i}        : hallsim {r['rate']:>7,.0f}/s p50 {r['p50_ms']:5.2f} ms "
            f"p99 {r['p99_ms']:5.2f} ms "
            f"{r['cpu_us']:4.0f} us CPU/req   ceiling {c['rate']:>7,.0f}/s p99 {c['p99_ms']:5.2f} ms "
            f"{c['cpu_us']:4.0f} us CPU/req"
            f"   ({r['requests']} requests, {r['journalled']} journalled, non-200 {r['non_2xx']}, "
            f"socket errors {r['socket_errors']})"
        )
    middle = sorted(rounds, key=lambda r: r["rate"])[len(rounds) // 2]
    top = sorted(ceilings, key=lambda r: r["rate"])[len(ceilings) // 2]
    print(f"decisions/s    : {middle['rate']:,.0f} (median round)   ceiling {top['rate']:,.0f}/s")
    print(f"ratio          : {middle['rate'] / top['rate']:.2f}x the raw ASGI ceiling (target >= 0.7x)")
    cpu = statistics.median(r["cpu_us"] for r in rounds)
    cpu_ceiling = statistics.median(c["cpu_us"] for c in ceilings)
    print(
        f"CPU per request: {cpu:.0f} us (ceiling {cpu_ceiling:.0f} us): {cpu_ceiling / cpu:.2f}x the "
        "ceiling's rate on the same CPU (medians of rounds)"
    )
    print(f"latency p50    : {statistics.median(r['p50_ms'] for r in rounds):.2f} ms (median of rounds)")
    print(
        f"latency p99    : {statistics.median(r['p99_ms'] for r in rounds):.2f} ms "
        "(median of rounds; target <= 3 ms)"
    )
    print(
        f"memory (RSS)   : {memory:.1f} MB after {served:,} requests with the journal on "
        f"(ceiling app {ceiling_memory:.1f} MB; target <= 40 MB after 1,000,000)"
    )
    for name, why in skipped.items():
        print(f"{name:<15}: not measured: {why}")
    for name, results in peer_rounds.items():
        peer_middle = sorted(results, key=lambda r: r["rate"])[len(results) // 2]
        peer_cpu = statistics.median(r["cpu_us"] for r in results)
        print(
            f"{name:<15}: {peer_middle['rate']:,.0f}/s (median round, after {args.peer_warmup:g} s warm-up, "
            f"journal on), p99 {statistics.median(r['p99_ms'] for r in results):.2f} ms, {peer_cpu:.0f} us "
            f"CPU/req, RSS {peer_memory[name]:.0f} MB; hallsim = {middle['rate'] / peer_middle['rate']:.2f}x "
            f"its rate, {peer_cpu / cpu:.2f}x its CPU efficiency (target >= 1x WireMock)"
        )


def allow_answer(port: int) -> bytes:
    """The bytes the emulator answers the guide's request with: what the peers are set to answer."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/route",
        data=BODY.encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as reply:
        return bytes(reply.read())


def _peers_wanted(spec: str) -> tuple[list[str], dict[str, str]]:
    """(peers to run, {peer: why not} for those asked for or looked for that cannot run)."""
    if spec == "none":
        return [], {}
    why = peers.available()
    names = list(peers.STARTERS) if spec == "auto" else [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in peers.STARTERS]
    if unknown:
        raise SystemExit(
            f"--peers: unknown {', '.join(unknown)}; expected wiremock, mountebank, auto or none"
        )
    return [n for n in names if not why[n]], {n: why[n] for n in names if why[n]}


def _loop_name() -> str:
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    try:
        import httptools  # noqa: F401

        return f"{loop} + httptools"
    except ImportError:
        return f"{loop} + h11"


if __name__ == "__main__":
    main()
