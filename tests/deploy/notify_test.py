#!/usr/bin/env python3
"""sd_notify as systemd sees it: the test binds the unix datagram socket systemd would
(NOTIFY_SOCKET), starts the built binary with it, and reads what arrives.

  notify_test.py <aragora> serve    READY=1 (with /readyz 200 at that moment), WATCHDOG=1
                                    repeatedly under WATCHDOG_USEC, STOPPING=1 on SIGTERM,
                                    exit 0; READY strictly before STOPPING
  notify_test.py <aragora> worker   the same for `aragora worker` (SQLite data dir)
"""
import os
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from aragora_proc import Aragora, base_env  # noqa: E402


class NotifySocket:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.path = path
        self.messages = []

    def receive(self, deadline, what):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {what} in time; got {self.messages}")
        self.sock.settimeout(left)
        try:
            self.messages.append(self.sock.recv(4096).decode())
        except socket.timeout:
            pass

    def count(self, key):
        return sum(key in m.split("\n") for m in self.messages)

    def wait_for(self, key, timeout):
        """Receives until a message holds the line `key`; returns the first such message."""
        deadline = time.monotonic() + timeout
        while not self.count(key):
            self.receive(deadline, key)
        return self.messages[self.index_of(key)]

    def index_of(self, key):
        return next(i for i, m in enumerate(self.messages) if key in m.split("\n"))


def run(binary, mode):
    with tempfile.TemporaryDirectory() as tmp:
        notify = NotifySocket(os.path.join(tmp, "notify.sock"))
        # 400 ms: WATCHDOG=1 every 200 ms, several within the test.
        env = base_env(os.path.join(tmp, "data"),
                       {"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"})
        if mode == "serve":
            proc = Aragora.serve(binary, env)
        else:
            proc = Aragora([binary, "worker"], env)
        try:
            ready = notify.wait_for("READY=1", 60)
            assert any(line.startswith("STATUS=") for line in ready.split("\n")), ready
            if mode == "serve":
                status, body = proc.http("GET", "/readyz")
                assert status == 200, f"READY=1 sent but /readyz answers {status} {body}"
            # WATCHDOG=1 keeps coming while the loop runs: three in a row.
            deadline = time.monotonic() + 15
            while notify.count("WATCHDOG=1") < 3:
                notify.receive(deadline, "three WATCHDOG=1")
            proc.proc.send_signal(15)
            stopping = notify.wait_for("STOPPING=1", 30)
            assert any(line.startswith("STATUS=") for line in stopping.split("\n")), stopping
            code = proc.stop(60, signal_sent=True)
            assert code == 0, f"exit {code} after SIGTERM"
            assert notify.index_of("READY=1") < notify.index_of("STOPPING=1"), notify.messages
            print(f"{mode}: READY=1, WATCHDOG=1 x3, STOPPING=1 on SIGTERM, exit 0")
        finally:
            proc.kill()


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2])
