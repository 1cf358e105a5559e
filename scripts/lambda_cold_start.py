#!/usr/bin/env python3
"""Cold-init time of a Lambda `bootstrap` binary: process start to first event handled.

Serves the Lambda Runtime API (the parts a runtime client uses) on loopback,
hands the binary one event, and times spawn -> the response POST. Repeats
with a fresh process each time and prints min / median / max.

usage: lambda_cold_start.py BOOTSTRAP EVENT.json [RUNS]
The binary inherits this process's environment (AWS_ENDPOINT_URL, credentials,
CODA_AWS_PREFIX, ...).
"""
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def one_run(binary, event_body):
    done = threading.Event()
    result = {}

    class Api(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path.endswith("/runtime/invocation/next"):
                if result.get("served"):
                    # Later polls wait, as the real API does between invocations.
                    done.wait(10)
                    self.send_response(503)
                    self.end_headers()
                    return
                result["served"] = True
                body = event_body.encode()
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", "cold-start-1")
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:coda")
                self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n).decode(errors="replace")
            result["t_end"] = time.perf_counter()
            result["kind"] = "response" if self.path.endswith("/response") else "error"
            result["body"] = body
            self.send_response(202)
            self.end_headers()
            done.set()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_port}",
               AWS_LAMBDA_FUNCTION_NAME="coda", AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256",
               AWS_LAMBDA_FUNCTION_VERSION="$LATEST", AWS_LAMBDA_LOG_FORMAT="JSON")
    t0 = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ok = done.wait(30)
    proc.kill()
    _, err = proc.communicate()
    server.shutdown()
    if not ok:
        raise SystemExit(f"{binary}: no response within 30 s; stderr:\n{err.decode(errors='replace')}")
    return (result["t_end"] - t0) * 1000, result["kind"], result["body"]


def main():
    binary, event_file = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    event_body = open(event_file).read()
    times = []
    for _ in range(runs):
        ms, kind, body = one_run(binary, event_body)
        times.append(ms)
    print(json.dumps({"binary": binary, "event": os.path.basename(event_file), "outcome": kind,
                      "response": body[:200], "runs": runs, "min_ms": round(min(times), 1),
                      "median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}))


if __name__ == "__main__":
    main()
