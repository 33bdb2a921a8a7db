"""Filters for the vcollect role."""

from __future__ import annotations

import json

DOCUMENTATION = ""


def _ids(entry):
    """Identifiers (name, address, id) of one member entry or a leader value."""
    if entry is None:
        return []
    if isinstance(entry, (str, int)):
        return [str(entry)]
    out = []
    for key in ("name", "address", "addr", "advertise", "id"):
        value = entry.get(key)
        if value not in (None, ""):
            out.append(str(value))
    return out


def vcollect_leader_ids(status):
    """Names, addresses and ids of the leader in `vcollect status --json` output.

    Accepts `{"leader": NAME | {name, address, id}}` and/or a member list under
    `members` or `nodes` whose leader has `role == "leader"` (or `is_leader: true`).
    Returns [] when no leader is known.
    """
    if not isinstance(status, dict):
        return []
    ids = _ids(status.get("leader"))
    members = status.get("members") or status.get("nodes") or []
    leader_id = status.get("leader_id")
    for member in members:
        if not isinstance(member, dict):
            continue
        if (
            member.get("role") == "leader"
            or member.get("is_leader") is True
            or (leader_id is not None and member.get("id") == leader_id)
        ):
            ids.extend(_ids(member))
    if leader_id is not None:
        ids.append(str(leader_id))
    return list(dict.fromkeys(ids))


def vcollect_status_healthy(status, ids=()):
    """Whether `vcollect status --json`, asked on a node, shows that node healthy.

    The health check for binaries without `vcollect health` (vcollect_health_check:
    status): a leader is known, the membership is not half changed (`joint`), the answering
    node collects (`collecting`, when reported) and its member entry (the one with id
    `node_id`, else the one matching a name or address in `ids`) is `active`. `status` may
    be the command's stdout (a JSON string) or the parsed object.
    """
    if isinstance(status, str):
        try:
            status = json.loads(status)
        except ValueError:
            return False
    if not isinstance(status, dict) or not vcollect_leader_ids(status):
        return False
    if status.get("joint") is True or status.get("collecting") is False:
        return False
    wanted = {str(i) for i in ids if i not in (None, "")}
    node_id = status.get("node_id")
    members = status.get("members") or status.get("nodes") or []
    me = [
        m
        for m in members
        if isinstance(m, dict)
        and ((node_id is not None and m.get("id") == node_id) or wanted & set(_ids(m)))
    ]
    return bool(me) and all(m.get("state", "active") == "active" for m in me)


class FilterModule:
    """vcollect filters."""

    def filters(self):
        return {
            "vcollect_leader_ids": vcollect_leader_ids,
            "vcollect_status_healthy": vcollect_status_healthy,
        }
