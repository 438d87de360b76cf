#!/usr/bin/python3
"""Chaos workload for fault_chaos.sh: two mounts and a CLI client change the
database at random while the proxy in front of the store flips between
online and offline every 100 ms.  Records what each writer was told had
succeeded, then (after the caller has synced and mounted a fresh third
view) checks the result.

usage: chaos.py run  A B PROXY_CTL SECONDS STATE_FILE -- MPS3_CMD...
       chaos.py check C STATE_FILE LOG_JSONL
"""
import hashlib
import json
import os
import random
import subprocess
import sys
import threading
import time

SHARED = ["shared/k%d" % i for i in range(5)]


class Writer:
    """Random operations in a directory of its own, plus writes to the shared keys."""

    def __init__(self, name, root, seed):
        self.name, self.root = name, root
        self.rng = random.Random(seed)
        self.files = {}          # relative path -> content (the model of own-NAME/)
        self.dirs = {""}         # relative dirs under own-NAME/
        self.shared = []         # (path, seq, token) acknowledged, in order
        self.seq = 0
        self.errors = []

    def own(self, rel):
        return os.path.join(self.root, "own-" + self.name, rel)

    def token(self):
        self.seq += 1
        return "%s:%d:%s\n" % (self.name, self.seq, self.rng.getrandbits(64))

    def step(self):
        r = self.rng.random()
        try:
            if r < 0.2:
                path, tok = self.rng.choice(SHARED), self.token()
                with open(os.path.join(self.root, path), "w") as f:
                    f.write(tok)
                self.shared.append((path, self.seq, tok))
            elif r < 0.45 or not self.files:
                d = self.rng.choice(sorted(self.dirs))
                rel = os.path.join(d, "f%d" % self.rng.randrange(40)) if d else "f%d" % self.rng.randrange(40)
                tok = self.token()
                with open(self.own(rel), "w") as f:
                    f.write(tok)
                self.files[rel] = tok
            elif r < 0.6:
                rel, tok = self.rng.choice(sorted(self.files)), self.token()
                with open(self.own(rel), "a") as f:
                    f.write(tok)
                self.files[rel] += tok
            elif r < 0.72:
                rel = self.rng.choice(sorted(self.files))
                d = self.rng.choice(sorted(self.dirs))
                new = os.path.join(d, "r%d" % self.rng.randrange(40)) if d else "r%d" % self.rng.randrange(40)
                if new not in self.files and new != rel:
                    os.rename(self.own(rel), self.own(new))
                    self.files[new] = self.files.pop(rel)
            elif r < 0.82:
                rel = self.rng.choice(sorted(self.files))
                os.unlink(self.own(rel))
                del self.files[rel]
            elif r < 0.92:
                d = "d%d" % self.rng.randrange(6)
                if d not in self.dirs:
                    os.mkdir(self.own(d))
                    self.dirs.add(d)
            else:
                empty = [d for d in self.dirs if d and not any(p.startswith(d + "/") for p in self.files)]
                if empty:
                    d = self.rng.choice(sorted(empty))
                    os.rmdir(self.own(d))
                    self.dirs.discard(d)
        except OSError as e:
            self.errors.append("%s: %s" % (self.name, e))


class CliWriter:
    """The CLI: puts and removals that succeed or fail as the store allows."""

    def __init__(self, cmd, seed):
        self.cmd, self.rng = cmd, random.Random(seed)
        self.files = {}
        self.shared = []
        self.seq = 0
        self.name = "C"
        self.errors = []
        self.unsure = {}         # path -> values it may hold after a failed (maybe landed) call

    def run(self, args, data=None):
        p = subprocess.run(self.cmd + args, input=data, capture_output=True, timeout=120)
        return p.returncode == 0

    def step(self):
        r = self.rng.random()
        self.seq += 1
        tok = "C:%d:%s\n" % (self.seq, self.rng.getrandbits(64))
        if r < 0.4:
            path = self.rng.choice(SHARED)
            if self.run(["put", path, "-"], tok.encode()):
                self.shared.append((path, self.seq, tok))
        elif r < 0.85 or not self.files:
            rel = "own-C/f%d" % self.rng.randrange(20)
            k = rel[len("own-C/"):]
            if self.run(["put", rel, "-"], tok.encode()):
                self.files[k] = tok
                self.unsure.pop(k, None)
            else:
                # Failed: it may or may not have landed; either is allowed.
                self.unsure.setdefault(k, []).append(tok)
        else:
            rel = self.rng.choice(sorted(self.files))
            if self.run(["rm", "own-C/" + rel]):
                del self.files[rel]
                self.unsure.pop(rel, None)
            else:
                self.unsure.setdefault(rel, []).append(None)


def run(argv):
    a, b, ctl, seconds, state = argv[0], argv[1], argv[2], float(argv[3]), argv[4]
    cmd = argv[argv.index("--") + 1:]
    for root, name in ((a, "A"), (b, "B")):
        os.makedirs(os.path.join(root, "own-" + name), exist_ok=True)
    os.makedirs(os.path.join(a, "shared"), exist_ok=True)
    deadline = time.time() + 30
    while not os.path.isdir(os.path.join(b, "shared")) and time.time() < deadline:
        time.sleep(0.1)
    writers = [Writer("A", a, 1), Writer("B", b, 2), CliWriter(cmd, 3)]
    stop = threading.Event()

    def toggle():
        online = True
        while not stop.is_set():
            online = not online
            with open(ctl + ".tmp", "w") as f:
                f.write("online\n" if online else "offline\n")
            os.rename(ctl + ".tmp", ctl)
            time.sleep(0.1)

    def work(w):
        while not stop.is_set():
            w.step()
            time.sleep(w.rng.random() * 0.05)

    threads = [threading.Thread(target=toggle)] + [threading.Thread(target=work, args=(w,)) for w in writers]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    with open(ctl + ".tmp", "w") as f:
        f.write("online\n")
    os.rename(ctl + ".tmp", ctl)
    out = {w.name: {"files": w.files, "dirs": sorted(getattr(w, "dirs", [])), "shared": w.shared,
                    "errors": w.errors, "unsure": getattr(w, "unsure", {})} for w in writers}
    with open(state, "w") as f:
        json.dump(out, f)
    print("# ops: " + ", ".join("%s %d" % (w.name, w.seq) for w in writers))
    print("# shared writes acknowledged: " + ", ".join("%s %d" % (w.name, len(w.shared)) for w in writers))
    return 0


def check(argv):
    c, state, logfile = argv[0], argv[1], argv[2]
    st = json.load(open(state))
    failures = []
    n = [0]

    def ok(cond, what):
        n[0] += 1
        print("%s %d - %s" % ("ok" if cond else "not ok", n[0], what))
        if not cond:
            failures.append(what)

    for name in ("A", "B"):
        ok(not st[name]["errors"], "writer %s: no operation failed on the mount (%s)" % (name, "; ".join(st[name]["errors"][:3])))
    # Own directories: the final tree is exactly the writer's model.
    for name in ("A", "B", "C"):
        root = os.path.join(c, "own-" + name)
        seen = {}
        for d, _, files in os.walk(root):
            for fn in files:
                p = os.path.join(d, fn)
                seen[os.path.relpath(p, root)] = open(p).read()
        want = st[name]["files"]
        unsure = st[name]["unsure"]
        bad = sorted(k for k in set(seen) | set(want) | set(unsure)
                     if seen.get(k) != want.get(k) and seen.get(k) not in unsure.get(k, []))
        ok(not bad, "own-%s: the final tree equals the writer's acknowledged operations (%d files%s)"
           % (name, len(want), "; differ: " + ", ".join(bad[:5]) if bad else ""))
    # Shared keys: the log orders every writer's own writes as it made them,
    # keeps the last acknowledged write of each, and resolves to what C shows.
    by_blob = {}
    for name in ("A", "B", "C"):
        for path, seq, tok in st[name]["shared"]:
            by_blob[(path, hashlib.sha256(tok.encode()).hexdigest())] = (name, seq, tok)
    entries = [json.loads(l) for l in open(logfile)]
    entries.reverse()  # oldest first
    last_seq, final = {}, {}
    regress = []
    present = set()
    for e in entries:
        if e["status"] != "ok":
            continue
        for path, v in (e.get("files") or {}).items():
            if path not in SHARED:
                continue
            if v is None:
                final[path] = None
                continue
            if "blob" not in v:
                continue
            who = by_blob.get((path, v["blob"]))
            final[path] = who[2] if who else "?"
            if not who:
                continue
            present.add((path, who[0], who[1]))
            key = (path, who[0])
            if key in last_seq and who[1] < last_seq[key]:
                regress.append("%s: %s wrote #%d after #%d" % (path, who[0], who[1], last_seq[key]))
            last_seq[key] = max(last_seq.get(key, 0), who[1])
    ok(not regress, "no writer's later write is replaced by its own earlier one (%s)" % "; ".join(regress[:3]))
    lost = []
    for name in ("A", "B", "C"):
        lastw = {}
        for path, seq, tok in st[name]["shared"]:
            lastw[path] = seq
        for path, seq in lastw.items():
            if (path, name, seq) not in present:
                lost.append("%s %s #%d" % (name, path, seq))
    ok(not lost, "the last acknowledged write of every writer to every shared key is in the log (%s)" % ", ".join(lost[:5]))
    mism = []
    for path in SHARED:
        p = os.path.join(c, path)
        got = open(p).read() if os.path.exists(p) else None
        if path in final and final[path] != "?" and got != final[path]:
            mism.append(path)
    ok(not mism, "every shared key shows the last write in log order (%s)" % ", ".join(mism))
    print("1..%d" % n[0])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[2:]) if sys.argv[1] == "run" else check(sys.argv[2:]))
