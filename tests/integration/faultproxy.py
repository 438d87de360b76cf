#!/usr/bin/python3
"""A fault-injecting TCP proxy for the integration tests, in front of the
test S3 server: it forwards connections, and on command drops, delays and
resets them, answers 500/503 itself, cuts response bodies short, or goes
fully offline.

usage: faultproxy.py UPSTREAM_HOST:PORT PORT_FILE CONTROL_FILE

Once a mode is in force (new connections meet it, the open ones were
cut), its words are written to CONTROL_FILE.applied.  In faults mode each
request that met a fault is appended to CONTROL_FILE.requests as
"FAULT METHOD PATH" (for lose, "lose METHOD PATH STATUS" once the server
has begun its reply: the line proves the request was done, and the status
says whether the server took it), for tests that wait for a fault to hit a
particular request.

It listens on 127.0.0.1 on a free port and writes the port number to
PORT_FILE.  CONTROL_FILE holds the mode, re-read whenever it changes:

    online                  forward everything
    offline                 refuse every connection and cut the open ones
    hang                    accept connections and read requests, never answer
    faults K=P ...          forward, but each new connection meets a fault:
                            drop=P    read the request, close without answer
                            reset=P   reset the connection (TCP RST)
                            error=P   answer 503 SlowDown (or 500) itself
                            cut=P     forward, then cut the response halfway
                            lose=P    forward, then drop the whole response
                                      (done, but the client cannot know)
                            delay=MS  wait before forwarding (every connection)
                            region=R  answer a request signed for another
                                      region as S3 does: 400
                                      AuthorizationHeaderMalformed with
                                      x-amz-bucket-region: R (noted as "moved")
                            log=1     note each request's storage-class,
                                      encryption and payer headers in
                                      CONTROL_FILE.headers, as
                                      "METHOD PATH name=value ..."

Probabilities are in [0, 1].  In faults mode every request is forwarded
with "Connection: close", so each request is a new connection and meets a
new roll of the dice; any change of mode cuts the connections open at that
moment.  Stops on SIGTERM.
"""
import os
import random
import signal
import socket
import struct
import sys
import threading
import time

UPSTREAM = None
CONTROL = None
STATE = {"mtime": None, "mode": "online", "faults": {}}
LOCK = threading.Lock()
CONNS = set()


def read_control():
    try:
        st = os.stat(CONTROL)
    except OSError:
        return
    with LOCK:
        if STATE["mtime"] == st.st_mtime_ns:
            return
        STATE["mtime"] = st.st_mtime_ns
    try:
        words = open(CONTROL).read().split()
    except OSError:
        return
    mode, faults = "online", {}
    if words and words[0] in ("online", "offline", "faults", "hang"):
        mode = words[0]
        for w in words[1:]:
            if "=" in w:
                k, v = w.split("=", 1)
                try:
                    faults[k] = float(v)
                except ValueError:
                    faults[k] = v
    with LOCK:
        STATE["mode"], STATE["faults"] = mode, faults
        conns = list(CONNS)
    for c in conns:
        rst(c)
    # Say what is in force now, for callers that wait for it (lib.sh's proxy).
    with open(CONTROL + ".applied.tmp", "w") as f:
        f.write(" ".join(words) + "\n")
    os.rename(CONTROL + ".applied.tmp", CONTROL + ".applied")


def rst(sock):
    # shutdown() first: it wakes a thread blocked in recv() on the socket,
    # which close() alone would not, and the peer sees the connection end.
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def control_loop():
    while True:
        read_control()
        time.sleep(0.02)


def read_request_head(sock):
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def pump(src, dst, cut_after=None, first=None):
    """Copy src to dst until EOF; with cut_after, stop after that many bytes.
    With first (a list), the first bytes read are appended to it."""
    sent = 0
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if first is not None and not first:
                first.append(data)
            if cut_after is not None and sent + len(data) > cut_after:
                dst.sendall(data[: max(0, cut_after - sent)])
                return "cut"
            dst.sendall(data)
            sent += len(data)
    except OSError:
        pass
    return "eof"


def note_request(kind, head, reply=None):
    line = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
    status = ""
    if reply is not None:
        # The server's status code, e.g. " 200", so that a caller can tell a
        # request that was done from one the server refused.
        words = reply.split(b"\r\n", 1)[0].split(b" ")
        status = " " + (words[1].decode("latin-1") if len(words) > 1 else "?")
    with LOCK:
        with open(CONTROL + ".requests", "a") as f:
            f.write("%s %s %s%s\n" % (kind, line[0], line[1] if len(line) > 1 else "?", status))


NOTED = ("x-amz-storage-class", "x-amz-server-side-encryption", "x-amz-request-payer")


def note_headers(head):
    lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    req = lines[0].split(" ")
    found = []
    for l in lines[1:]:
        name, _, value = l.partition(":")
        if name.strip().lower().startswith(NOTED):
            found.append("%s=%s" % (name.strip().lower(), value.strip()))
    with LOCK:
        with open(CONTROL + ".headers", "a") as f:
            f.write("%s %s %s\n" % (req[0], req[1] if len(req) > 1 else "?", " ".join(sorted(found))))


def handle(client):
    with LOCK:
        mode, faults = STATE["mode"], dict(STATE["faults"])
        CONNS.add(client)
    upstream = None
    try:
        if mode == "offline":
            rst(client)
            return
        if mode == "hang":
            # A peer that accepts and then says nothing, until the mode changes.
            client.settimeout(0.2)
            while True:
                with LOCK:
                    if STATE["mode"] != "hang":
                        break
                try:
                    if client.recv(65536) == b"":
                        break
                except socket.timeout:
                    pass
            return
        if faults.get("delay"):
            time.sleep(faults["delay"] / 1000.0)
        roll = random.random()
        edge = 0.0
        for kind in ("drop", "reset", "error", "cut", "lose"):
            edge += faults.get(kind, 0.0)
            if roll < edge:
                break
        else:
            kind = None
        if kind == "reset":
            rst(client)
            return
        if kind in ("drop", "error"):
            head = read_request_head(client)
            if kind == "error" and head:
                code, text = random.choice([(503, "SlowDown"), (500, "InternalError")])
                body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>%s</Code>"
                        "<Message>injected by faultproxy</Message></Error>" % text).encode()
                client.sendall(b"HTTP/1.1 %d %s\r\nContent-Type: application/xml\r\n"
                               b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                               % (code, text.encode(), len(body), body))
            if head:
                note_request(kind, head)
            client.close()
            return
        upstream = socket.create_connection(UPSTREAM, timeout=30)
        upstream.settimeout(None)
        with LOCK:
            CONNS.add(upstream)
        if mode == "faults":
            # One request per connection: the next one meets the dice again.
            head = read_request_head(client)
            if not head:
                return
            if faults.get("log"):
                note_headers(head)
            want = faults.get("region")
            if want and ("/%s/s3/aws4_request" % want).encode() not in head:
                body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AuthorizationHeaderMalformed"
                        "</Code><Message>the region is wrong; expecting '%s'</Message><Region>%s</Region>"
                        "</Error>" % (want, want)).encode()
                client.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/xml\r\n"
                               b"x-amz-bucket-region: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                               % (want.encode(), len(body), body))
                note_request("moved", head)
                return
            end = head.index(b"\r\n\r\n") if b"\r\n\r\n" in head else len(head)
            lines = [l for l in head[:end].split(b"\r\n") if not l.lower().startswith(b"connection:")]
            upstream.sendall(b"\r\n".join(lines) + b"\r\nConnection: close" + head[end:])
        t = threading.Thread(target=pump, args=(client, upstream), daemon=True)
        t.start()
        # lose: the reply's first bytes prove the request was done; none reach the client.
        cut = random.randint(40, 4000) if kind == "cut" else 0 if kind == "lose" else None
        first = []
        how = pump(upstream, client, cut, first)
        if how == "cut":
            if kind is not None:
                note_request(kind, head, first[0] if kind == "lose" and first else None)
            rst(client)
        else:
            # shutdown, not just close: the other pump thread may be in
            # recv() on this socket, and a close would then send nothing.
            try:
                client.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            client.close()
    except OSError:
        pass
    finally:
        with LOCK:
            CONNS.discard(client)
            if upstream is not None:
                CONNS.discard(upstream)
        for s in (client, upstream):
            if s is not None:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                try:
                    s.close()
                except OSError:
                    pass


def main():
    global UPSTREAM, CONTROL
    host, port = sys.argv[1].rsplit(":", 1)
    UPSTREAM = (host, int(port))
    CONTROL = sys.argv[3]
    if not os.path.exists(CONTROL):
        with open(CONTROL, "w") as f:
            f.write("online\n")
    read_control()
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(128)
    with open(sys.argv[2] + ".tmp", "w") as f:
        f.write("%d\n" % lsock.getsockname()[1])
    os.rename(sys.argv[2] + ".tmp", sys.argv[2])
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    threading.Thread(target=control_loop, daemon=True).start()
    while True:
        client, _ = lsock.accept()
        threading.Thread(target=handle, args=(client,), daemon=True).start()


if __name__ == "__main__":
    main()
