//! Why a Telegraf key is not carried over: one line per key the importer knows, so the
//! comment tells the admin what vcollect does instead.

/// Keys every Telegraf plugin has.
const PLUGIN: &[(&str, &str)] = &[
    ("alias", "a label in Telegraf's logs"),
    (
        "name_override",
        "vcollect writes Telegraf's measurement names (vsphere_<kind>_<group>)",
    ),
    (
        "name_prefix",
        "vcollect writes Telegraf's measurement names (vsphere_<kind>_<group>)",
    ),
    (
        "name_suffix",
        "vcollect writes Telegraf's measurement names (vsphere_<kind>_<group>)",
    ),
    ("tags", "vcollect adds no static tags"),
    (
        "namepass",
        "a Telegraf metric filter: use <kind>_metric_include/_exclude",
    ),
    (
        "namedrop",
        "a Telegraf metric filter: use <kind>_metric_include/_exclude",
    ),
    (
        "fieldpass",
        "a Telegraf metric filter: use <kind>_metric_include/_exclude",
    ),
    (
        "fielddrop",
        "a Telegraf metric filter: use <kind>_metric_include/_exclude",
    ),
    (
        "fieldinclude",
        "a Telegraf metric filter: use <kind>_metric_include/_exclude",
    ),
    (
        "fieldexclude",
        "a Telegraf metric filter: use <kind>_metric_include/_exclude",
    ),
    (
        "tagpass",
        "a Telegraf metric filter: use <kind>_include/_exclude",
    ),
    (
        "tagdrop",
        "a Telegraf metric filter: use <kind>_include/_exclude",
    ),
    (
        "taginclude",
        "a Telegraf tag filter: vcollect writes Telegraf's tags",
    ),
    (
        "tagexclude",
        "a Telegraf tag filter: vcollect writes Telegraf's tags",
    ),
    (
        "metricpass",
        "a Telegraf metric filter: use <kind>_metric_include/_exclude",
    ),
    ("precision", "vcollect writes the samples' own timestamps"),
    (
        "collection_jitter",
        "vcollect starts cycles on multiples of the interval",
    ),
    (
        "collection_offset",
        "vcollect starts cycles on multiples of the interval",
    ),
    ("log_level", "use RUST_LOG (e.g. RUST_LOG=debug)"),
    (
        "startup_error_behavior",
        "vcollect retries a vCenter or output it cannot reach every cycle",
    ),
];

/// `[[inputs.vsphere]]` keys vcollect has no equivalent for.
const VSPHERE: &[(&str, &str)] = &[
    (
        "separator",
        "vcollect always writes `_` (vsphere_vm_cpu, usage_average)",
    ),
    (
        "use_int_samples",
        "vcollect writes integers (with `i`), as Telegraf's default true; floats are not offered",
    ),
    (
        "metric_lookback",
        "vcollect reads each entity's samples from its watermark, which never passes a sample \
         vCenter may still post late (docs/architecture.md, Late samples), instead of looking \
         back a fixed number of periods",
    ),
    (
        "discover_concurrency",
        "vcollect has no separate discovery concurrency",
    ),
    (
        "disconnected_servers_behavior",
        "vcollect collects each vCenter on its own loop: one it cannot reach is retried every \
         cycle and never stops the others (Telegraf's \"ignore\")",
    ),
    (
        "force_discover_on_init",
        "removed from Telegraf (1.35); vcollect has no equivalent",
    ),
    (
        "use_system_proxy",
        "vcollect uses HTTPS_PROXY / NO_PROXY from its environment",
    ),
    (
        "http_proxy_url",
        "set HTTPS_PROXY in vcollect's environment (its service unit) instead",
    ),
    (
        "tls_cert",
        "client certificates: vcollect logs in with a user name and password",
    ),
    (
        "tls_key",
        "client certificates: vcollect logs in with a user name and password",
    ),
    (
        "tls_key_pwd",
        "client certificates: vcollect logs in with a user name and password",
    ),
    (
        "ssl_cert",
        "client certificates: vcollect logs in with a user name and password",
    ),
    (
        "ssl_key",
        "client certificates: vcollect logs in with a user name and password",
    ),
    (
        "tls_server_name",
        "vcollect checks the URL's host name (or pin the certificate with tls_thumbprint)",
    ),
    ("tls_min_version", "vcollect uses TLS 1.2 or 1.3"),
    ("tls_max_version", "vcollect uses TLS 1.2 or 1.3"),
    (
        "tls_cipher_suites",
        "vcollect uses rustls' default cipher suites",
    ),
    (
        "tls_renegotiation_method",
        "TLS renegotiation is not offered",
    ),
    ("tls_enable", "the URL's scheme decides"),
    (
        "vsan_propertie_include",
        "vcollect writes no properties on vSAN points (Telegraf's vsan.go reads none)",
    ),
    (
        "vsan_property_include",
        "vcollect writes no properties on vSAN points (Telegraf's vsan.go reads none)",
    ),
];

/// `[[outputs.influxdb]]` / `[[outputs.influxdb_v2]]` keys.
const OUTPUT: &[(&str, &str)] = &[
    ("database_tag", "vcollect writes every point to `database`"),
    (
        "exclude_database_tag",
        "vcollect writes every point to `database`",
    ),
    (
        "retention_policy_tag",
        "vcollect writes every point with `retention_policy`",
    ),
    (
        "exclude_retention_policy_tag",
        "vcollect writes every point with `retention_policy`",
    ),
    ("bucket_tag", "vcollect writes every point to `bucket`"),
    (
        "exclude_bucket_tag",
        "vcollect writes every point to `bucket`",
    ),
    (
        "skip_database_creation",
        "vcollect never creates the database: it must exist",
    ),
    (
        "write_consistency",
        "not offered (InfluxDB Enterprise clusters)",
    ),
    ("user_agent", "vcollect sends its own (vcollect/<version>)"),
    ("udp_payload", "vcollect writes over HTTP only"),
    (
        "tls_ca",
        "vcollect trusts the system's CA roots for the output",
    ),
    (
        "tls_cert",
        "client certificates are not offered for the output",
    ),
    (
        "tls_key",
        "client certificates are not offered for the output",
    ),
    (
        "tls_key_pwd",
        "client certificates are not offered for the output",
    ),
    ("tls_server_name", "not offered for the output"),
    ("tls_min_version", "vcollect uses TLS 1.2 or 1.3"),
    (
        "insecure_skip_verify",
        "not offered for the output: its certificate is always verified",
    ),
    (
        "http_proxy",
        "set HTTP_PROXY / HTTPS_PROXY in vcollect's environment instead",
    ),
    ("http_headers", "extra HTTP headers are not offered"),
    (
        "influx_uint_support",
        "vcollect writes no unsigned integers",
    ),
    (
        "influx_omit_timestamp",
        "vcollect always writes the samples' own timestamps",
    ),
    ("local_address", "not offered"),
    ("ping_timeout", "HTTP/2 settings are not offered"),
    ("read_idle_timeout", "HTTP/2 settings are not offered"),
    ("rate_limit", "not offered"),
    ("rate_limit_period", "not offered"),
    ("concurrent_writes", "not offered"),
    (
        "metric_batch_size",
        "vcollect batches by batch_lines / batch_bytes",
    ),
    (
        "metric_buffer_limit",
        "vcollect keeps unsent batches in its on-disk spool (spool_max_bytes)",
    ),
    ("flush_interval", "vcollect writes as each cycle collects"),
    ("flush_jitter", "vcollect writes as each cycle collects"),
];

/// `[agent]` keys.
const AGENT: &[(&str, &str)] = &[
    (
        "round_interval",
        "vcollect starts cycles on multiples of the interval",
    ),
    (
        "metric_batch_size",
        "vcollect batches by [output] batch_lines / batch_bytes",
    ),
    (
        "metric_buffer_limit",
        "vcollect keeps unsent batches in its on-disk spool ([output] spool_max_bytes)",
    ),
    (
        "collection_jitter",
        "vcollect starts cycles on multiples of the interval",
    ),
    (
        "collection_offset",
        "vcollect starts cycles on multiples of the interval",
    ),
    ("flush_interval", "vcollect writes as each cycle collects"),
    ("flush_jitter", "vcollect writes as each cycle collects"),
    ("precision", "vcollect writes the samples' own timestamps"),
    ("hostname", "vcollect writes no `host` tag"),
    ("omit_hostname", "vcollect writes no `host` tag"),
    ("debug", "use RUST_LOG (e.g. RUST_LOG=debug)"),
    ("quiet", "use RUST_LOG (e.g. RUST_LOG=warn)"),
    (
        "logfile",
        "vcollect logs to stderr (journald under systemd)",
    ),
    (
        "logtarget",
        "vcollect logs to stderr (journald under systemd)",
    ),
    ("logformat", "use --log-format text|json"),
];

fn find(table: &[(&str, &'static str)], key: &str) -> Option<&'static str> {
    table.iter().find(|(k, _)| *k == key).map(|(_, why)| *why)
}

/// Why a leftover key of a vsphere block is not carried over.
pub(super) fn vsphere(key: &str) -> &'static str {
    find(VSPHERE, key)
        .or_else(|| find(PLUGIN, key))
        .or_else(|| {
            key.starts_with("vsan_")
                .then_some("not a vSAN key vcollect knows (a typo, or a newer Telegraf's)")
        })
        .unwrap_or("not a key vcollect's importer knows (a typo, or a newer Telegraf's)")
}

/// Why a leftover key of the InfluxDB output is not carried over.
pub(super) fn output(key: &str) -> &'static str {
    find(OUTPUT, key)
        .or_else(|| find(PLUGIN, key))
        .unwrap_or("not a key vcollect's importer knows")
}

/// Why an `[agent]` key is not carried over.
pub(super) fn agent(key: &str) -> &'static str {
    find(AGENT, key).unwrap_or("a Telegraf agent setting vcollect has no equivalent for")
}
