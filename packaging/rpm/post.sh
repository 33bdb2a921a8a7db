systemd-sysusers vcollect.conf || :
systemd-tmpfiles --create vcollect.conf || :
chgrp vcollect /etc/vcollect /etc/vcollect/vcollect.toml || :
systemctl daemon-reload >/dev/null 2>&1 || :
