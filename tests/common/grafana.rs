//! Grafana dashboards (InfluxQL) as the dashboard tests run them against a real InfluxDB.

/// Every InfluxQL query in a Grafana dashboard: panel targets, annotations, variables (a
/// `query` string with a space in it; a bare variable name is not a query).
pub fn queries(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v.as_str()) {
                    ("query", Some(q)) if q.contains(' ') => out.push(q.to_string()),
                    _ => queries(v, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| queries(v, out)),
        _ => {}
    }
}

/// A query as Grafana sends it for the last hour, "All" (`.*`) in each of `variables`.
pub fn filled(q: &str, variables: &[&str]) -> String {
    let mut q = q
        .replace("$timeFilter", "time > now() - 1h")
        .replace("$__interval", "1m");
    for v in variables {
        q = q.replace(&format!("${v}"), ".*");
    }
    q
}
