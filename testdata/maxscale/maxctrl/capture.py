#!/usr/bin/env python3
"""Capture a maxctrl session against a fresh single-node cairn agent.

    capture.py CAIRN_BINARY MAXCTRL_JS STEPS_FILE OUT_JSON

Starts `CAIRN_BINARY agent` on free 127.0.0.1 ports in a temporary data
dir, puts a logging proxy in front of its MaxScale listener, runs
`node MAXCTRL_JS -u admin -p mariadb -h 127.0.0.1:<proxy> ARGS` for each
line of STEPS_FILE ("name<TAB>shell-quoted maxctrl arguments"; arguments
that give -u or -p replace the defaults), and writes the session: each
step's command, the requests maxctrl sent with Cairn's answers, and what
maxctrl printed and exited with. Requests reach the agent with Host: localhost:8989.
The agent it started is killed by its pid at the end.
"""
import http.client
import http.server
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HOST = "localhost:8989"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


current = []  # the requests of the step being run
upstream = None  # "127.0.0.1:port" of the agent's MaxScale listener


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        c = http.client.HTTPConnection(upstream, timeout=60)
        # As Host the address the fixture names, so links (and admin_host,
        # admin_port) come back as localhost:8989.
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "host")}
        headers["Host"] = HOST
        c.request(self.command, self.path, body=body if n else None, headers=headers)
        r = c.getresponse()
        data = r.read()
        entry = {"method": self.command, "path": self.path}
        ct = self.headers.get("Content-Type")
        if body:
            entry["content_type"] = ct
            try:
                entry["body"] = json.loads(body)
            except ValueError:
                entry["body_text"] = body.decode("utf-8", "replace")
        entry["status"] = r.status
        if data.strip():
            try:
                entry["response"] = json.loads(data)
            except ValueError:
                entry["response_text"] = data.decode("utf-8", "replace")
        current.append(entry)
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() in ("transfer-encoding", "connection", "content-length"):
                continue
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any


def main():
    global upstream, current
    cairn, maxctrl, steps_file, out = sys.argv[1:5]
    d = tempfile.mkdtemp(prefix="cairn-capture-")
    ports = [free_port() for _ in range(4)]
    upstream = "127.0.0.1:%d" % ports[3]
    agent = subprocess.Popen([cairn, "agent", "-node-id", "mx1", "-data-dir", d,
                              "-http-addr", "127.0.0.1:%d" % ports[0], "-raft-addr", "127.0.0.1:%d" % ports[1],
                              "-gossip-addr", "127.0.0.1:%d" % ports[2], "-maxscale-addr", upstream],
                             stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "agent.log"), "w"))
    try:
        deadline = time.time() + 60
        while True:
            try:
                c = http.client.HTTPConnection(upstream, timeout=2)
                c.request("GET", "/v1/maxscale", headers={"Authorization": "Basic YWRtaW46bWFyaWFkYg=="})
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                raise SystemExit("the agent did not answer; see " + d)
            time.sleep(0.2)
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        proxy = "127.0.0.1:%d" % srv.server_address[1]
        steps = []
        for line in open(steps_file):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            name, _, rest = line.partition("\t")
            args = shlex.split(rest)
            cmd = ["node", maxctrl, "-h", proxy]
            if "-u" not in args:
                cmd += ["-u", "admin"]
            if "-p" not in args:
                cmd += ["-p", "mariadb"]
            current = []
            p = subprocess.run(cmd + args, capture_output=True, text=True, timeout=120)
            text = (p.stdout + p.stderr).replace("http://" + proxy, "http://" + HOST)
            lines = text.rstrip("\n").split("\n")
            steps.append({"name": name, "maxctrl": args, "requests": current, "exit": p.returncode, "output": lines})
            print("%-40s exit %d, %d requests" % (name, p.returncode, len(current)), file=sys.stderr)
        srv.shutdown()
        doc = {"about": "maxctrl 6.4.15 (MaxScale's tag maxscale-6.4.15, run with Node) against a fresh single-node "
                        "Cairn through a logging proxy (capture.py): each step is one maxctrl command, the HTTP "
                        "requests it sent in order with Cairn's answers, and what maxctrl printed and exited with. "
                        "Requests reached Cairn with Host: localhost:8989, and maxctrl's address in its output is rewritten to it.",
               "steps": steps}
        with open(out, "w") as f:
            json.dump(doc, f, indent=1, ensure_ascii=False)
            f.write("\n")
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(20)
        except subprocess.TimeoutExpired:
            agent.kill()


if __name__ == "__main__":
    main()
