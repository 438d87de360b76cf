#!/usr/bin/python3
"""Build the three one-device rings of a private test Swift (scripts/s3-server).

usage: mkrings.py SWIFT_DIR OBJECT_PORT CONTAINER_PORT ACCOUNT_PORT

One interpreter for all three rings: swift-ring-builder would need nine runs
(create, add, rebalance per ring), about 4.5 s instead of 0.5 s.
"""
import os
import sys

try:
    from swift.common.ring import RingBuilder
except ImportError as e:
    sys.exit("mkrings.py: %s: run scripts/install-deps (python3-swift)" % e)


def main(argv):
    if len(argv) == 2 and argv[1] in ("-h", "--help"):
        sys.stdout.write(__doc__)
        return 0
    if len(argv) != 5:
        sys.stderr.write(__doc__)
        return 2
    swift_dir = argv[1]
    for name, port in zip(("object", "container", "account"), argv[2:]):
        # 2^6 partitions, one replica, min_part_hours 1: a single device
        # on 127.0.0.1 holds everything.
        builder = RingBuilder(6, 1, 1)
        builder.add_dev({"region": 1, "zone": 1, "ip": "127.0.0.1",
                         "port": int(port), "device": "d1", "weight": 100})
        builder.rebalance()
        builder.get_ring().save(os.path.join(swift_dir, name + ".ring.gz"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
