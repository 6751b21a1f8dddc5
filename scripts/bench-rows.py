"""The client rows of scripts/bench-swarm and scripts/bench-wan, printed as
TOML for the shared harness's --clients-file: the shared file's rows (less its
own seedring row), seedring's on io_uring and on epoll, and the steps every row
gets alike before it is measured.

    bench-rows.py swarm|wan SHARED_CLIENTS_TOML SEEDRING_BIN
"""

import json
import sys
import tomllib

kind, shared, b = sys.argv[1:4]
clients = tomllib.load(open(shared, "rb"))
clients.pop("seedring", None)
# The swarm harness gives each leecher a port; the WAN one has it pick its own.
port = "{port}" if kind == "swarm" else "0"
for io in ("uring", "epoll"):
    row = {
        "version": f"{b} --version",
        "leech": f"{b} download {{torrent}} -o {{outdir}} --listen-port {port} --io {io}",
        "seed": f"{b} download {{torrent}} -o {{datadir}} --seed --listen-port {{port}} --io {io}",
    }
    if kind == "swarm":
        row["recheck"] = f"{b} verify {{torrent}} {{datadir}}"
    clients[f"seedring-{io}"] = row
# On this kind of VM the guest hands memory that stays free back to the host,
# and whoever touches it next pays for it again (`dd` of 1 GiB into the page
# cache: 2.2 s of system time the first time, 0.19 s right after), which
# charged up to 1 s more CPU per GiB to whichever leech came after a long
# pause or a large free. So every leech starts right after the same write of
# the data's size into the page cache, deleted at once (not measured): its own
# writes find memory already in the guest.
touch = ("dd if=/dev/zero of={workdir}/.touch bs=1M count=$(( {size} / 1048576 )) status=none; "
         "rm -f {workdir}/.touch")
# Every row's recheck starts from data in the page cache: aria2's recheck drops
# the file's pages as it goes, which left whichever client ran next to read
# from the disk.
warm = "find {datadir} -type f -print0 | xargs -0r cat > /dev/null"
for c in clients.values():
    if "leech" in c:
        c["pre"] = [touch] + c.get("pre", [])
    if "recheck" in c:
        c["recheck_pre"] = [warm] + c.get("recheck_pre", [])


def value(v):
    # JSON strings, lists and objects are TOML basic strings, arrays and
    # (once keys are bare) inline tables.
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
    return json.dumps(v)


for name, c in clients.items():
    print(f"\n[{name}]")
    for k, v in c.items():
        print(f"{k} = {value(v)}")
