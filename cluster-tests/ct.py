#!/usr/bin/env python3
"""Checks for cluster-tests/run.sh: samples in InfluxDB, and the cluster as `vcollect status`
shows it. Standard library only.

  ct.py samples --url URL --from T0 --to T1 --vms N --hosts M [--timeout S]
      Every one of N VMs and M hosts has every 20-second sample in [T0, T1] (unix seconds,
      rounded inwards to 20 s) in vsphere_vm_cpu, vsphere_vm_mem (tag vmname) and
      vsphere_host_cpu (tag esxhostname), field usage_average; no other entity has any.
      Polls until that holds or S seconds passed (data of the last cycle may still be on its
      way); on failure prints what is missing.

  ct.py wait NODE CONDITION [ARG] [--timeout S]
      Polls `docker exec NODE vcollect status --json --addr 127.0.0.1:7400` (the node's own
      view; loopback so that it answers even when the node is cut off from the network) until
      CONDITION holds; prints the last status on failure. Conditions:
        settled N       a leader, N members, all active voters-or-learners with buckets, the
                        buckets of every vCenter all assigned, no joint membership
        even            settled, and bucket counts differ by at most 1
        leader-not NAME a leader other than NAME
        down NAME       NAME marked down with no buckets, every bucket assigned
        active NAME     NAME active with buckets > 0 and the cluster settled
        not-collecting  the asked node reports collecting = false
  ct.py leader NODE   prints the leader's name as NODE sees it
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request

STEP = 20
SERIES = [
    ("vsphere_vm_cpu", "vmname", "vms"),
    ("vsphere_vm_mem", "vmname", "vms"),
    ("vsphere_host_cpu", "esxhostname", "hosts"),
]


def influx_query(url: str, q: str) -> dict:
    qs = urllib.parse.urlencode({"db": "vsphere", "epoch": "s", "q": q})
    with urllib.request.urlopen(f"{url}/query?{qs}", timeout=30) as r:
        return json.load(r)


def timestamps(url: str, measurement: str, tag: str, t0: int, t1: int) -> dict[str, set[int]]:
    q = (
        f'SELECT "usage_average" FROM "{measurement}" '
        f"WHERE time >= {t0}s AND time <= {t1}s GROUP BY \"{tag}\""
    )
    out: dict[str, set[int]] = {}
    for res in influx_query(url, q).get("results", []):
        if "error" in res:
            raise RuntimeError(res["error"])
        for s in res.get("series", []) or []:
            name = (s.get("tags") or {}).get(tag, "")
            out.setdefault(name, set()).update(int(v[0]) for v in s["values"])
    return out


def sample_problems(args) -> list[str]:
    t0 = -(-args.frm // STEP) * STEP
    t1 = args.to - args.to % STEP
    want = set(range(t0, t1 + 1, STEP))
    expected = {"vms": args.vms, "hosts": args.hosts}
    problems = []
    for measurement, tag, kind in SERIES:
        got = timestamps(args.url, measurement, tag, t0, t1)
        if len(got) != expected[kind]:
            problems.append(f"{measurement}: {len(got)} {kind} with samples, expected {expected[kind]}")
        for name, ts in sorted(got.items()):
            missing = sorted(want - ts)
            if missing:
                problems.append(
                    f"{measurement} {tag}={name}: {len(missing)} of {len(want)} samples missing,"
                    f" first {missing[:5]}"
                )
    return problems


def cmd_samples(args) -> int:
    t0 = -(-args.frm // STEP) * STEP
    t1 = args.to - args.to % STEP
    deadline = time.time() + args.timeout
    while True:
        try:
            problems = sample_problems(args)
        except Exception as e:  # InfluxDB unreachable for a moment: retry
            problems = [f"query failed: {e}"]
        if not problems:
            n = (t1 - t0) // STEP + 1
            print(
                f"samples: {args.vms} VMs and {args.hosts} hosts have all {n} samples"
                f" from {t0} to {t1} ({time.strftime('%T', time.gmtime(t0))}-"
                f"{time.strftime('%T', time.gmtime(t1))} UTC)"
            )
            return 0
        if time.time() >= deadline:
            print(f"samples: window {t0}..{t1}: {len(problems)} problems", file=sys.stderr)
            for p in problems[:40]:
                print("  " + p, file=sys.stderr)
            return 1
        time.sleep(2)


def status(node: str, stale: bool = False) -> dict | None:
    """The node's `status --json`; with `stale`, its own view even when it knows no leader
    (a cut-off node), which plain `status` refuses."""
    try:
        out = subprocess.run(
            ["docker", "exec", node, "vcollect", "status", "--json", "--addr", "127.0.0.1:7400",
             "--timeout", "2s"] + (["--stale"] if stale else []),
            capture_output=True, text=True, timeout=15,
        )
    except subprocess.TimeoutExpired:
        return None
    if out.returncode != 0:
        return None
    try:
        return json.loads(out.stdout)
    except ValueError:
        return None


def leader_name(st: dict | None) -> str | None:
    if not st or st.get("leader_id") is None:
        return None
    for m in st.get("members", []):
        if m.get("id") == st["leader_id"]:
            return m.get("name")
    return None


def settled(st: dict, n: int | None = None) -> bool:
    members = st.get("members", [])
    return (
        leader_name(st) is not None
        and not st.get("joint")
        and all(u[1] == 0 for u in st.get("unassigned", []))
        and (n is None or len(members) == n)
        and all(m.get("state") == "active" and m.get("buckets", 0) > 0 for m in members)
    )


def holds(st: dict | None, cond: str, arg: str | None) -> bool:
    if st is None:
        return False
    members = {m.get("name"): m for m in st.get("members", [])}
    if cond == "settled":
        return settled(st, int(arg))
    if cond == "even":
        b = [m.get("buckets", 0) for m in members.values()]
        return settled(st, int(arg)) and max(b) - min(b) <= 1
    if cond == "leader-not":
        return leader_name(st) not in (None, arg)
    if cond == "down":
        m = members.get(arg)
        return (
            m is not None
            and m.get("state") == "down"
            and m.get("buckets", 1) == 0
            and leader_name(st) is not None
            and all(u[1] == 0 for u in st.get("unassigned", []))
        )
    if cond == "active":
        m = members.get(arg)
        others = [x for x in members.values() if x.get("name") != arg]
        return (
            m is not None
            and m.get("state") == "active"
            and m.get("buckets", 0) > 0
            and settled(st, len(others) + 1)
        )
    if cond == "not-collecting":
        return st.get("collecting") is False
    raise SystemExit(f"ct.py: unknown condition {cond}")


def brief(st: dict | None) -> str:
    if st is None:
        return "no answer"
    ms = ", ".join(
        f"{m.get('name')}={m.get('role')}/{m.get('state')}/{m.get('buckets')}"
        + ("*" if m.get("leader") else "")
        for m in st.get("members", [])
    )
    return (
        f"term {st.get('term')} leader {leader_name(st)} collecting {st.get('collecting')}"
        f" unassigned {st.get('unassigned')} members [{ms}]"
    )


def cmd_wait(args) -> int:
    start = time.time()
    deadline = start + args.timeout
    st = None
    while True:
        st = status(args.node, stale=args.condition == "not-collecting")
        if holds(st, args.condition, args.arg):
            print(f"{args.node}: {args.condition} {args.arg or ''} after {time.time() - start:.1f} s: {brief(st)}")
            return 0
        if time.time() >= deadline:
            print(f"{args.node}: {args.condition} {args.arg or ''} not reached in {args.timeout} s;"
                  f" last: {brief(st)}", file=sys.stderr)
            if st is not None:
                print(json.dumps(st, indent=1), file=sys.stderr)
            return 1
        time.sleep(0.5)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("samples")
    s.add_argument("--url", required=True)
    s.add_argument("--from", dest="frm", type=int, required=True)
    s.add_argument("--to", type=int, required=True)
    s.add_argument("--vms", type=int, required=True)
    s.add_argument("--hosts", type=int, required=True)
    s.add_argument("--timeout", type=float, default=90)
    w = sub.add_parser("wait")
    w.add_argument("node")
    w.add_argument("condition")
    w.add_argument("arg", nargs="?")
    w.add_argument("--timeout", type=float, default=60)
    lp = sub.add_parser("leader")
    lp.add_argument("node")
    args = p.parse_args()
    if args.cmd == "samples":
        return cmd_samples(args)
    if args.cmd == "wait":
        return cmd_wait(args)
    name = leader_name(status(args.node))
    if not name:
        print(f"{args.node}: no leader known", file=sys.stderr)
        return 1
    print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
