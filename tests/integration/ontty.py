#!/usr/bin/env python3
"""tests/integration/ontty.py - run a command with its standard error on a
pseudo-terminal (as an interactive user's would be), standard output to a
file; print what the terminal received on our standard output, and exit
with the command's status.

usage: ontty.py STDOUT_FILE COMMAND [ARGS...]
"""
import os
import pty
import subprocess
import sys

out = open(sys.argv[1], "wb")
master, slave = pty.openpty()
p = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=out, stderr=slave)
os.close(slave)
seen = b""
while True:
    try:
        chunk = os.read(master, 65536)
    except OSError:  # EIO: every writer closed the terminal
        break
    if not chunk:
        break
    seen += chunk
rc = p.wait()
sys.stdout.buffer.write(seen)
sys.exit(rc)
