#!/usr/bin/python3
"""gen-history.py - write a database with a long history straight into a
file:// bucket, the way clients following docs/PROTOCOL.md would have left
it (for scripts/bench-history): blobs, log entries dated in the past (each
object's mtime set to its name's time, so that R2 accepts it), checkpoints
where the automatic rule puts them, and head.

usage: gen-history.py DIR PATHS ENTRIES SPAN_HOURS
  DIR         the bucket directory (file://DIR), created
  PATHS       files in the tree before the history starts
  ENTRIES     log entries after that, evenly spread over SPAN_HOURS up to
              now, each changing one file (content, or a new file, or a
              removal)
Prints the time of the first and last history entry (ms) on stdout.
"""
import hashlib
import json
import os
import random
import sys
import time

LAG = 10000  # ms: the lag a client replays before a checkpoint (mps3 default)
SAFE = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.")


def esc(name):
    """The file store's escaping of one name (store_file.c)."""
    if name == "":
        return "@"
    out = []
    for i, c in enumerate(name.encode()):
        if c in SAFE and not (c == ord(".") and i == 0):
            out.append(chr(c))
        else:
            out.append("%%%02X" % c)
    return "".join(out)


class Bucket:
    def __init__(self, root):
        self.root = root
        os.makedirs(os.path.join(root, ".tmp"), exist_ok=True)

    def put(self, key, data, t_ms=None):
        d, _, n = key.rpartition("/")
        d = esc(d + "/") if d else "@"
        path = os.path.join(self.root, d, esc(n))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        if t_ms is not None:
            os.utime(path, (t_ms / 1000.0, t_ms / 1000.0))


def main():
    root, npaths, nentries, hours = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    b = Bucket(root)
    rnd = random.Random(1)
    session = "%016x" % rnd.getrandbits(64)
    now = int(time.time() * 1000)
    start = now - int(hours * 3600 * 1000)
    seq = 0
    blobs = set()
    state = {}
    names = []

    def blob(content):
        sha = hashlib.sha256(content).hexdigest()
        if sha not in blobs:
            b.put("blobs/" + sha, content)
            blobs.add(sha)
        return sha

    def entry(t, files):
        nonlocal seq
        seq += 1
        name = "%016d_%s_%d" % (9999999999999999 - t, session, seq)
        names.append((t, session, seq, name))
        doc = {"v": 1, "t": t, "session": session, "seq": seq, "files": files}
        b.put("log/" + name, json.dumps(doc, separators=(",", ":"), sort_keys=True).encode(), t)
        for k, v in files.items():
            if v is None:
                state.pop(k, None)
            else:
                state[k] = v
        return name

    def checkpoint(t):
        name = "%016d_%s" % (9999999999999999 - t, session)
        doc = {"v": 1, "t": t, "session": session, "files": state}
        # Its window, as a client writes it: the entries of the last lag (10 s) it holds.
        win = sorted(e for e in names if t - LAG <= e[0] < t)
        doc["window"] = {"from": t - LAG, "n": len(win),
                         "sha256": hashlib.sha256("".join(e[3] + "\n" for e in win).encode()).hexdigest()}
        b.put("checkpoint/" + name, json.dumps(doc, separators=(",", ":"), sort_keys=True).encode(), t)

    def value(path, n, t):
        content = ("%s version %d\n" % (path, n)).encode()
        return {"type": "f", "blob": blob(content), "size": len(content), "mtime": t * 1000000}

    # The tree, in entries of 4,000 paths, a minute before the history.
    t = start - 60000
    batch = {}
    for i in range(npaths):
        p = "d%03d/f%06d" % (i % 500, i)
        batch[p] = value(p, 0, t)
        if len(batch) == 4000:
            last = entry(t, batch)
            batch = {}
            t += 5
    if batch:
        last = entry(t, batch)
    checkpoint(t + 1)  # the tree settled: the first checkpoint
    since_cp = 0
    every = max(256, len(state) // 16)  # the automatic checkpoint rule
    step = (now - 20000 - start) / max(1, nentries)
    versions = {}
    first_t = None
    for i in range(nentries):
        t = int(start + i * step)
        first_t = first_t or t
        r = rnd.random()
        paths = list(state.keys()) if r < 0.05 else None
        if r < 0.05 and paths:
            p = rnd.choice(paths)
            last = entry(t, {p: None})
        elif r < 0.15:
            p = "new/n%06d" % i
            last = entry(t, {p: value(p, 0, t)})
        else:
            p = "d%03d/f%06d" % (rnd.randrange(500), rnd.randrange(npaths))
            versions[p] = versions.get(p, 0) + 1
            last = entry(t, {p: value(p, versions[p], t)})
        since_cp += 1
        every = max(256, len(state) // 16)  # as clients recompute it
        if since_cp >= every:
            checkpoint(t + 1)  # everything up to this entry, and nothing after
            since_cp = 0
    b.put("head", last.encode())
    print(first_t, t)


if __name__ == "__main__":
    main()
