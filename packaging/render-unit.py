#!/usr/bin/env python3
"""Renders the systemd unit for the packages from the Ansible role's template.

ansible/roles/vcollect/templates/vcollect.service.j2 is the ONE source of the hardened unit:
the role renders it with its variables, the packages with the defaults below (the paths the
packages install). Usage: render-unit.py TEMPLATE OUTPUT
"""
import re
import sys

VALUES = {
    "ansible_managed": "Generated from ansible/roles/vcollect/templates/vcollect.service.j2",
    "vcollect_node_name": "%H",
    "vcollect_user": "vcollect",
    "vcollect_group": "vcollect",
    "vcollect_bin_path": "/usr/bin/vcollect",
    "vcollect_config_file": "/etc/vcollect/vcollect.toml",
    "vcollect_log_level": "info",
    "vcollect_stop_timeout_sec": "180",
    "vcollect_restart_sec": "5",
    "vcollect_limit_nofile": "65536",
    "vcollect_data_dir": "/var/lib/vcollect",
}


def main(src, dst):
    text = open(src).read()

    def sub(m):
        name = m.group(1)
        if name not in VALUES:
            sys.exit(f"render-unit: {src}: no package value for {{{{ {name} }}}}")
        return VALUES[name]

    out = re.sub(r"\{\{\s*([a-z_]+)\s*\}\}", sub, text)
    if "{{" in out or "{%" in out:
        sys.exit(f"render-unit: {src}: template syntax left after rendering")
    open(dst, "w").write(out)


if __name__ == "__main__":
    main(*sys.argv[1:])
