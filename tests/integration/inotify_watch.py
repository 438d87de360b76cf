#!/usr/bin/python3
"""Print inotify events under a directory, one line each: MASK NAMES, path,
cookie, as the kernel reports them (inotifywait cannot print cookies).

usage: inotify_watch.py [-r] [-t] DIR   (stops on SIGTERM; lines are flushed)
With -r, every directory below DIR is watched too, including new ones.
With -t, each line ends with the time it was read (ns since the epoch).
"""
import ctypes
import os
import struct
import sys
import time

libc = ctypes.CDLL("libc.so.6", use_errno=True)
NAMES = [
    (0x1, "ACCESS"), (0x2, "MODIFY"), (0x4, "ATTRIB"), (0x8, "CLOSE_WRITE"),
    (0x10, "CLOSE_NOWRITE"), (0x20, "OPEN"), (0x40, "MOVED_FROM"), (0x80, "MOVED_TO"),
    (0x100, "CREATE"), (0x200, "DELETE"), (0x400, "DELETE_SELF"), (0x800, "MOVE_SELF"),
    (0x2000, "UNMOUNT"), (0x4000, "Q_OVERFLOW"), (0x8000, "IGNORED"), (0x40000000, "ISDIR"),
]
MASK = 0xFFF  # all events
IN_ISDIR, IN_CREATE, IN_MOVED_TO = 0x40000000, 0x100, 0x80


def main():
    args = sys.argv[1:]
    recursive = stamp = False
    while args and args[0] in ("-r", "-t"):
        recursive = recursive or args[0] == "-r"
        stamp = stamp or args[0] == "-t"
        args = args[1:]
    root = os.path.abspath(args[0])
    fd = libc.inotify_init()
    if fd < 0:
        sys.exit("inotify_init: %s" % os.strerror(ctypes.get_errno()))
    wds = {}

    def watch(path):
        wd = libc.inotify_add_watch(fd, path.encode(), MASK)
        if wd >= 0:
            wds[wd] = path
        if recursive:
            try:
                for e in os.scandir(path):
                    if e.is_dir(follow_symlinks=False):
                        watch(e.path)
            except OSError:
                pass

    watch(root)
    print("READY", flush=True)
    buf = b""
    while True:
        data = os.read(fd, 65536)
        now = time.time_ns()
        buf += data
        while len(buf) >= 16:
            wd, mask, cookie, length = struct.unpack("iIII", buf[:16])
            if len(buf) < 16 + length:
                break
            name = buf[16:16 + length].rstrip(b"\0").decode(errors="replace")
            buf = buf[16 + length:]
            base = wds.get(wd, "?")
            path = os.path.join(base, name) if name else base
            rel = os.path.relpath(path, root)
            names = ",".join(n for bit, n in NAMES if mask & bit)
            if stamp:
                print("%s %s %d %d" % (names, rel, cookie, now), flush=True)
            else:
                print("%s %s %d" % (names, rel, cookie), flush=True)
            if recursive and mask & IN_ISDIR and mask & (IN_CREATE | IN_MOVED_TO):
                watch(path)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
