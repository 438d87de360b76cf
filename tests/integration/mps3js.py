#!/usr/bin/env python3
"""The MPS3 JavaScript client's side of a bucket, for format=mps3 tests.

Written here from docs/MPS3-JS-FORMAT.md (what endpointservices/mps3 at
0c52070 does), independently of the C code it checks:

  mps3js.py URL entry M MS|now SESSION COUNTER BODY_FILE [LASTMOD_MS]
      write entry M@T_S_C of time MS byte for byte (LASTMOD_MS: the object's
      mtime, file:// only); "now": named on the clock at the PUT, again until
      the readers take it, and its name printed
  mps3js.py URL write M SESSION COUNTER PATH VALUE_FILE BUCKET PREFIX
      write as the client does: the value at PATH@UUID, an entry of the
      state just read with the update, then "" to M
  mps3js.py URL raw KEY FILE        write an object as it is
  mps3js.py URL name M MS SESSION COUNTER
      print the entry name the client makes
  mps3js.py URL state M BUCKET PREFIX
      resolve as the client's reader does (first LIST page, the 5 s window,
      RFC 7386 merges) and print, per path of this bucket and prefix, sorted,
      "PATH<TAB>SHA256" of the content the value stands for (objects, arrays
      and other non-strings: the stored bytes; strings: their UTF-8;
      {"$binary": B64}: its bytes)
  mps3js.py URL check M SESSION_LEN
      every entry whose session has SESSION_LEN characters must be one the
      client's readers take (name regex, the 5 s freshness, the body's shape,
      values that exist and parse), and M must hold exactly the 2 bytes ""

URL is file:///DIR (the file store's layout) or s3://BUCKET[/PREFIX] on
$MPS3_TEST_S3_ENDPOINT (curl signs the requests).
"""
import base64
import calendar
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import xml.etree.ElementTree as ET

LAG = 5000
LOOKAHEAD = 10000
TMAX = (1 << 42) - 1
VALID = re.compile(r"@([0-9a-z]+)_[0-9a-z]+_[0-9a-z]{2}$")
DIGITS = "0123456789abcdefghijklmnopqrstuv"
SAFE = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.")


def b32(n, width):
    s = ""
    while n:
        s = DIGITS[n % 32] + s
        n //= 32
    return s.rjust(width, "0")


def time_code(ms):
    return b32(TMAX - ms, 9)


def parse_int32(s):
    """JavaScript's parseInt(s, 32): the leading base-32 digits."""
    v, seen = 0, False
    for ch in s:
        d = DIGITS.find(ch)
        if d < 0:
            break
        v, seen = v * 32 + d, True
    return v if seen else None


def name_time(name):
    m = VALID.search(name)
    if not m:
        return None
    v = parse_int32(m.group(1))
    return None if v is None else TMAX - v


class Store:
    def __init__(self, url):
        if url.startswith("file://"):
            self.root, self.s3 = url[7:], False
        elif url.startswith("s3://"):
            rest = url[5:]
            self.bucket, _, self.prefix = rest.partition("/")
            self.prefix = self.prefix.strip("/")
            self.ep = os.environ["MPS3_TEST_S3_ENDPOINT"]
            self.s3 = True
        else:
            raise SystemExit("mps3js: unknown URL " + url)

    # file store layout: key D/N in ROOT/<esc("D/")>/<esc(N)>, N alone in ROOT/@/<esc(N)>
    @staticmethod
    def esc(s):
        if s == "":
            return "@"
        out = []
        for i, c in enumerate(s.encode()):
            out.append(chr(c) if c in SAFE and not (i == 0 and c == ord(".")) else "%%%02X" % c)
        return "".join(out)

    @staticmethod
    def unesc(s):
        return "" if s == "@" else urllib.parse.unquote(s)

    def fpath(self, key):
        d, slash, n = key.rpartition("/")
        return os.path.join(self.root, self.esc(d + slash) if slash else "@", self.esc(n))

    def url_of(self, key, query=""):
        """The object's URL, with the test server's credentials in it (as lib.sh's raw_put)."""
        k = (self.prefix + "/" if self.prefix else "") + key
        host = self.ep.replace("http://", "")
        path = "/%s/%s" % (self.bucket, urllib.parse.quote(k, safe="/-_.~")) if k else "/" + self.bucket
        return "http://test%%3Atester:testing@%s%s%s" % (host, path, query)

    @staticmethod
    def curl(*args):
        cmd = ["curl", "-sf", "--aws-sigv4", "aws:amz:us-east-1:s3",
               "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"] + list(args)
        return subprocess.run(cmd, check=True, stdout=subprocess.PIPE).stdout

    def put(self, key, data, mtime_ms=None):
        if self.s3:
            tmp = "/tmp/mps3js.%d" % os.getpid()
            with open(tmp, "wb") as f:
                f.write(data)
            try:
                self.curl("-o", "/dev/null", "-X", "PUT", "--data-binary", "@" + tmp, self.url_of(key))
            finally:
                os.unlink(tmp)
            return
        p = self.fpath(key)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p + ".tmp", "wb") as f:
            f.write(data)
        os.rename(p + ".tmp", p)
        if mtime_ms is not None:
            os.utime(p, ns=(mtime_ms * 1000000, mtime_ms * 1000000))

    def get(self, key):
        if self.s3:
            try:
                return self.curl(self.url_of(key))
            except subprocess.CalledProcessError:
                return None
        try:
            with open(self.fpath(key), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def list_page(self, prefix, start_after):
        """One page of (key, lastmod_ms), at most 1000, in byte order: as the client lists."""
        if self.s3:
            full = (self.prefix + "/" if self.prefix else "")
            q = "?list-type=2&prefix=%s&start-after=%s" % (urllib.parse.quote(full + prefix, safe=""),
                                                            urllib.parse.quote(full + start_after, safe=""))
            saved, self.prefix = self.prefix, ""
            try:
                root = ET.fromstring(self.curl(self.url_of("", q)))
            finally:
                self.prefix = saved
            ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
            out = []
            for c in root.iter(ns + "Contents"):
                k = c.find(ns + "Key").text[len(full):]
                lm = c.find(ns + "LastModified").text
                secs = calendar.timegm(time.strptime(lm[:19], "%Y-%m-%dT%H:%M:%S"))
                frac = lm[19:].lstrip(".").rstrip("Z")
                out.append((k, secs * 1000 + (int((frac + "000")[:3]) if frac else 0)))
            return out
        d, slash, n = prefix.rpartition("/")
        dpath = os.path.join(self.root, self.esc(d + slash) if slash else "@")
        keys = []
        if os.path.isdir(dpath):
            for f in os.listdir(dpath):
                k = (d + slash) + self.unesc(f)
                if k.startswith(prefix) and k.encode() > start_after.encode() and not f.endswith(".tmp"):
                    keys.append((k, int(os.stat(os.path.join(dpath, f)).st_mtime_ns // 1000000)))
        keys.sort(key=lambda x: x[0].encode())
        return keys[:1000]


def merge(target, patch):
    """RFC 7386, as the client's merge does (arrays are plain values)."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge(out.get(k), v)
    return out


def resolve(st, m):
    now = int(time.time() * 1000)
    page = st.list_page(m + "@", m + "@" + time_code(now + LOOKAHEAD))
    valid = []
    for k, lm in page:
        t = name_time(k)
        if t is not None and abs(t - lm) < LAG:
            valid.append((k, t))
    if not valid:
        return {}
    newest, newest_t = valid[0]
    state = json.loads(st.get(newest))
    gc_point = m + "@" + time_code(max(newest_t - LAG, 0))
    for k, _ in reversed(valid):
        if k.encode() > newest.encode() and k.encode() > gc_point.encode():
            continue
        body = st.get(k)
        if body is None:
            continue
        state = merge(state, json.loads(body).get("update"))
    return state.get("files", {})


def fresh(st, name):
    """Whether the readers take entry name as it was stored."""
    m = name.rsplit("@", 1)[0]
    for k, lm in st.list_page(m + "@", m + "@" + time_code(int(time.time() * 1000) + LOOKAHEAD)):
        if k == name:
            t = name_time(k)
            return t is not None and abs(t - lm) < LAG
    return False


def mps3_path(p):
    """Whether p is a path an mps3 mount can show (mps3_path_check)."""
    parts = p.split("/")
    return (0 < len(p.encode()) <= 4096 and parts[0] != ".mps3"
            and all(c not in ("", ".", "..") and len(c.encode()) <= 255 for c in parts))


def content_of(body):
    v = json.loads(body)
    if isinstance(v, str):
        return v.encode()
    if isinstance(v, dict) and list(v.keys()) == ["$binary"] and isinstance(v["$binary"], str):
        return base64.b64decode(v["$binary"])
    return body


def main():
    url, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    st = Store(url)
    if cmd == "name":
        m, ms, s, c = args[0], int(args[1]), args[2], int(args[3])
        print("%s@%s_%s_%s" % (m, time_code(ms), s, b32(1023 - c, 2)))
    elif cmd == "entry":
        m, when, s, c, body = args[0], args[1], args[2], args[3], args[4]
        lm = int(args[5]) if len(args) > 5 else None
        # C may be given raw (e.g. "-1", a wrapped counter) or as a number.
        code = b32(1023 - int(c), 2) if c.isdigit() else c
        with open(body, "rb") as f:
            data = f.read()
        if when == "now":
            # Named on the store's time as the client names it; named again if the PUT was slow.
            for _ in range(10):
                name = "%s@%s_%s_%s" % (m, time_code(int(time.time() * 1000)), s, code)
                st.put(name, data, lm)
                if fresh(st, name):
                    break
            print(name)
        else:
            ms = int(when)
            st.put("%s@%s_%s_%s" % (m, time_code(ms), s, code), data, lm)
    elif cmd == "write":
        # As the client's putAll: the value, then an entry of the state read just before, then M.
        m, s, c, path, value, bucket, prefix = args[:7]
        key = bucket + "/" + (prefix + "/" if prefix else "") + path
        version = "%08x-0000-4000-8000-%012x" % (int(time.time()) & 0xffffffff, int.from_bytes(os.urandom(6), "big"))
        with open(value, "rb") as f:
            st.put(path + "@" + version, f.read())
        for tries in range(10):
            state = resolve(st, m)
            doc = {"files": state, "update": {"files": {key: {"version": version, "replication": ""}}}}
            name = "%s@%s_%s_%s" % (m, time_code(int(time.time() * 1000)), s, b32(1023 - int(c) - tries, 2))
            st.put(name, json.dumps(doc, indent=2).encode())
            if fresh(st, name):
                break
        st.put(m, b'""')
    elif cmd == "raw":
        with open(args[1], "rb") as f:
            st.put(args[0], f.read())
    elif cmd == "state":
        m, bucket, prefix = args[0], args[1], args[2]
        lead = bucket + "/" + (prefix + "/" if prefix else "")
        for key, v in sorted(resolve(st, m).items()):
            if not key.startswith(lead) or not isinstance(v, dict) or "version" not in v:
                continue
            path = key[len(lead):]
            if not mps3_path(path):
                continue  # the client shows it; an mps3 mount cannot
            body = st.get(path + "@" + v["version"])
            digest = hashlib.sha256(content_of(body)).hexdigest() if body is not None else "missing"
            print("%s\t%s" % (path, digest))
    elif cmd == "check":
        m, slen = args[0], int(args[1])
        bad = 0
        now = int(time.time() * 1000)
        page = st.list_page(m + "@", m + "@" + time_code(now + LOOKAHEAD))
        ours = 0
        for k, lm in page:
            sess = k.rsplit("@", 1)[1].split("_")
            if len(sess) != 3 or len(sess[1]) != slen:
                continue
            ours += 1
            t = name_time(k)
            if t is None or abs(t - lm) >= LAG:
                print("not taken by the client's readers: %s (LastModified %d)" % (k, lm))
                bad += 1
                continue
            doc = json.loads(st.get(k))
            upd = doc.get("update", {}).get("files") if isinstance(doc.get("update"), dict) else None
            if set(doc) != {"files", "update"} or not isinstance(doc["files"], dict) or not isinstance(upd, dict):
                print("not an entry of the client's shape: %s" % k)
                bad += 1
                continue
            for key, v in upd.items():
                if v is None:
                    continue
                # An mps3 mount keeps modes and times beside them, in "mps3" (the client ignores it).
                if not {"version", "replication"} <= set(v) or set(v) - {"version", "replication", "mps3"}:
                    print("%s: %s is not {version, replication[, mps3]}" % (k, key))
                    bad += 1
                    continue
                path = key.split("/", 1)[1]
                prefix = st.prefix + "/" if st.s3 and st.prefix else ""
                body = st.get(path[len(prefix):] + "@" + v["version"])
                try:
                    json.loads(body)
                except (TypeError, ValueError):
                    print("%s: the value of %s does not parse as JSON" % (k, key))
                    bad += 1
        if st.get(m) != b'""':
            print("%s does not hold the 2 bytes \"\": %r" % (m, st.get(m)))
            bad += 1
        print("%d entries of ours checked" % ours)
        sys.exit(1 if bad or not ours else 0)
    else:
        raise SystemExit("mps3js: unknown command " + cmd)


if __name__ == "__main__":
    main()
