"""Filters for the vcollect role."""

from __future__ import annotations

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


class FilterModule:
    """vcollect filters."""

    def filters(self):
        return {"vcollect_leader_ids": vcollect_leader_ids}
