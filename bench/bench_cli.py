"""Start-up and send time of the ``dingwire`` command line, side by side with the seed.

What it measures, in one run, against one local endpoint:

- ``seed``: the seed's script as a whole process: ``python`` + ``import requests`` + the
  signature + ``requests.post`` (see /work/shared/seed/README.md);
- ``dingwire send``: ``dingwire send text hello --webhook URL --secret S``, the whole process;
- ``dingwire --help``;
- ``python -c pass``, the floor under all of them.

The endpoint is a small HTTP server in its own process that answers
``{"errcode":0,"errmsg":"ok"}`` to every POST and counts them, so neither side pays for
the other's server. The rate-limit store is emptied before every run (outside the timing):
otherwise the 21st send of a minute would wait for dingwire's own 20-a-minute budget.

Python's bytecode cache is on for every command (in a private ``PYTHONPYCACHEPREFIX``, so
nothing is written into the tree), as it is for any installed package; the warm-up runs
fill it. ``--no-bytecode`` measures instead with ``PYTHONDONTWRITEBYTECODE=1`` and no cache
for the project's own modules, which is how a checkout runs when that variable is set.

Run it on purpose (it is not a test): ``.venv/bin/python bench/bench_cli.py [--runs N]``.
With hyperfine installed it drives hyperfine; otherwise it times the processes itself,
interleaved. It prints a table in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

SECRET = "SECb90923e19e58b466481e9e7b7a5b4f108a4531abde590ad3967fb29f0eae5c68"
TOKEN = "b3a5c0ffee0123456789abcdef0123456789abcdef0123456789abcdef012345"

SERVER = textwrap.dedent(
    """
    import sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        count = 0

        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            body = b'{"errcode":0,"errmsg":"ok"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            Handler.count += 1

        def do_GET(self):  # /count: how many POSTs arrived
            body = str(Handler.count).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()
    """
)

# The seed's script, as published (cleaned up in the seed's README), pointed at the endpoint.
SEED = textwrap.dedent(
    """
    import requests
    import time
    import hmac
    import hashlib
    import base64
    import urllib.parse

    webhook = {webhook!r}
    secret = {secret!r}
    timestamp = str(round(time.time() * 1000))
    secret_enc = secret.encode("utf-8")
    string_to_sign = "{{}}\\n{{}}".format(timestamp, secret).encode("utf-8")
    hmac_code = hmac.new(secret_enc, string_to_sign, digestmod=hashlib.sha256).digest()
    sign = urllib.parse.quote_plus(base64.b64encode(hmac_code))
    url = webhook + "&timestamp={{}}&sign={{}}".format(timestamp, sign)
    resp = requests.post(url, headers={{"Content-Type": "application/json"}},
                         json={{"msgtype": "text", "text": {{"content": "hello"}}}})
    print(resp.text)
    """
)


def start_server() -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    port = int(process.stdout.readline())
    return process, port


def posts_received(port: int) -> int:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/count", timeout=5) as reply:
        return int(reply.read())


def hyperfine(
    commands: dict[str, str], runs: int, prepare: str, out: Path
) -> dict[str, dict[str, float]]:
    argv = ["hyperfine", "-N", "--warmup", "3", "--runs", str(runs), "--prepare", prepare]
    argv += ["--export-json", str(out), "--style", "none"]
    for name, command in commands.items():
        argv += ["--command-name", name, command]
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    results = json.loads(out.read_text())["results"]
    return {
        r["command"]: {
            "mean": r["mean"] * 1000,
            "stddev": (r["stddev"] or 0.0) * 1000,
            "median": r["median"] * 1000,
            "min": r["min"] * 1000,
        }
        for r in results
    }


def by_hand(commands: dict[str, str], runs: int, prepare: str) -> dict[str, dict[str, float]]:
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(runs + 3):  # interleaved, so drift hits every command alike
        for name, command in commands.items():
            subprocess.run(prepare, shell=True, check=True)
            started = time.perf_counter()
            subprocess.run(shlex.split(command), check=True, stdout=subprocess.DEVNULL)
            if round_ >= 3:  # the first rounds warm the caches
                times[name].append((time.perf_counter() - started) * 1000)
    return {
        name: {
            "mean": statistics.mean(t),
            "stddev": statistics.stdev(t),
            "median": statistics.median(t),
            "min": min(t),
        }
        for name, t in times.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--no-hyperfine", action="store_true", help="time the processes here")
    parser.add_argument("--no-bytecode", action="store_true", help="no .pyc cache for dingwire")
    args = parser.parse_args()

    bindir = Path(sys.executable).parent
    dingwire = bindir / "dingwire"
    server, port = start_server()
    try:
        with tempfile.TemporaryDirectory(prefix="dingwire-bench-") as tmp:
            cache = Path(tmp) / "cache"
            os.environ["DINGWIRE_CACHE_DIR"] = str(cache)
            for var in ("DINGWIRE_CONFIG", "DINGWIRE_WEBHOOK", "DINGWIRE_SECRET"):
                os.environ.pop(var, None)
            if args.no_bytecode:
                os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
                os.environ.pop("PYTHONPYCACHEPREFIX", None)
            else:
                os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
                os.environ["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
            webhook = f"http://127.0.0.1:{port}/robot/send?access_token={TOKEN}"
            seed = Path(tmp) / "seed.py"
            seed.write_text(SEED.format(webhook=webhook, secret=SECRET))
            python = shlex.quote(sys.executable)
            commands = {
                "python -c pass": f"{python} -c pass",
                "seed (python + requests)": f"{python} {shlex.quote(str(seed))}",
                "dingwire send text": (
                    f"{shlex.quote(str(dingwire))} send text hello "
                    f"--webhook {shlex.quote(webhook)} --secret {SECRET} --quiet"
                ),
                "dingwire --help": f"{shlex.quote(str(dingwire))} --help",
            }
            prepare = f"rm -rf {shlex.quote(str(cache / 'ratelimit'))}"
            before = posts_received(port)
            if shutil.which("hyperfine") and not args.no_hyperfine:
                tool = "hyperfine"
                stats = hyperfine(commands, args.runs, prepare, Path(tmp) / "hyperfine.json")
            else:
                tool = "subprocess timing"
                stats = by_hand(commands, args.runs, prepare)
            sent = posts_received(port) - before
    finally:
        server.terminate()
        server.wait()

    seed_mean = stats["seed (python + requests)"]["mean"]
    cache = "no bytecode cache" if args.no_bytecode else "bytecode cached"
    print(f"dingwire command line vs the seed; {args.runs} runs each, {tool}, {cache}, in ms")
    print(f"{'command':<28}{'mean':>8}{'± sd':>8}{'median':>8}{'min':>8}{'vs seed':>9}")
    for name, s in stats.items():
        ratio = s["mean"] / seed_mean
        print(
            f"{name:<28}{s['mean']:>8.1f}{s['stddev']:>8.1f}{s['median']:>8.1f}"
            f"{s['min']:>8.1f}{ratio:>8.2f}x"
        )
    print(f"(the endpoint received {sent} POSTs)")


if __name__ == "__main__":
    main()
