#!/usr/bin/env python3
"""Ratio tables for seedring rows against the best other client, from the JSON
lines that ../shared/bench/swarm.py and ../shared/bench/wan/wan.py append.

Usage: bench-ratios.py RESULTS.jsonl [--since ISO-TIME]

For each measured case (phase, dataset, piece size, link setup) it prints every
client's medians and, for each seedring row, the ratio to the best non-seedring
client on each measure (MiB/s: higher is better, > 1 means ahead; CPU, RSS and
extra bytes: lower is better, < 1 means ahead), and to libtorrent alone (the
targets' reference). Only runs that passed count.
"""
import json
import statistics
import sys

GIB = 1 << 30


def measures(phase):
    """(name, function of a run, higher_is_better) for a phase."""
    per_gib = lambda k: (lambda r: r[k] / (r["bytes"] / GIB))
    if phase == "wan-leech":
        return [("MiB/s", lambda r: r["mib_s"], True),
                ("x bound", lambda r: r["frac_bound"], True),
                ("CPU s/GiB", per_gib("cpu_s"), False),
                ("peak RSS MiB", lambda r: r["maxrss_kib"] / 1024, False),
                ("extra down %", lambda r: r.get("extra_down_pct") or 0.0, False)]
    if phase == "wan-reverse":
        return [("MiB/s", lambda r: r["mib_s"], True),
                ("x bound", lambda r: r["frac_bound"], True),
                ("CPU s/GiB", per_gib("seeder_cpu_s"), False),
                ("peak RSS MiB", lambda r: r["maxrss_kib"] / 1024, False)]
    # swarm.py phases: leech, seed, recheck. A seeder's CPU is what it spent
    # while the leecher ran (its start-up check, which libtorrent's row does
    # in full and ours from records, left out).
    cpu = per_gib("seeder_cpu_s") if phase == "seed" else per_gib("cpu_s")
    return [("MiB/s", lambda r: r["bytes"] / (1 << 20) / r["wall_s"], True),
            ("CPU s/GiB served" if phase == "seed" else "CPU s/GiB", cpu, False),
            ("peak RSS MiB", lambda r: r["maxrss_kib"] / 1024, False)]


def case_of(r):
    keys = ["phase", "dataset", "piece_kib", "n_seeders", "rate_mib_s", "delay_ms", "loss_pct"]
    return tuple(r.get(k) for k in keys)


def main():
    args = sys.argv[1:]
    since = None
    if "--since" in args:
        i = args.index("--since")
        since = args[i + 1]
        del args[i:i + 2]
    if len(args) != 1:
        sys.exit(__doc__)
    recs = [json.loads(ln) for ln in open(args[0]) if ln.strip()]
    recs = [r for r in recs if r.get("phase") and r.get("client")
            and (since is None or r.get("time", "") >= since)]
    cases = {}
    for r in recs:
        cases.setdefault(case_of(r), {}).setdefault(r["client"], []).append(r)
    for case, clients in cases.items():
        phase, dataset, piece, n, rate, delay, loss = case
        head = f"{phase}: {dataset}, {piece} KiB pieces"
        if n:
            head += f", {n} peers x {rate:g} MiB/s, +{2 * delay:g} ms RTT, {loss:g}% loss"
        print(f"\n### {head}\n")
        ms = measures(phase)
        med = {}
        for c, rs in clients.items():
            ok = [r for r in rs if r.get("ok")]
            med[c] = {name: (statistics.median(f(r) for r in ok) if ok else None)
                      for name, f, _ in ms}
            med[c]["ok"] = f"{len(ok)}/{len(rs)}"
        print("| client | ok | " + " | ".join(n for n, _, _ in ms) + " |")
        print("|---" * (len(ms) + 2) + "|")
        for c in clients:
            cells = [("-" if med[c][n] is None else f"{med[c][n]:.2f}") for n, _, _ in ms]
            print(f"| {c} | {med[c]['ok']} | " + " | ".join(cells) + " |")
        others = [c for c in clients if not c.startswith("seedring")]
        for c in clients:
            if not c.startswith("seedring") or not others:
                continue
            cells = []
            for name, _, higher in ms:
                vals = [(med[o][name], o) for o in others if med[o][name] is not None]
                mine = med[c][name]
                if not vals or mine is None:
                    cells.append("-")
                    continue
                best, who = max(vals) if higher else min(vals)
                cells.append(f"{mine / best:.2f} vs {who}" if best else "-")
            print(f"| **{c} ÷ best** | | " + " | ".join(cells) + " |")
            # The targets are stated against libtorrent.
            if "libtorrent" in others:
                lt = med["libtorrent"]
                cells = [(f"{med[c][n] / lt[n]:.2f}" if med[c][n] is not None and lt[n] else "-")
                         for n, _, _ in ms]
                print(f"| **{c} ÷ libtorrent** | | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
