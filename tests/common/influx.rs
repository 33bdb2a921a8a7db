//! A real InfluxDB 1.x (Debian's `influxd`) on free loopback ports with its own directory.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// A running InfluxDB; killed on drop. Its data directory outlives `stop()` so it can be
/// started again with everything it held.
pub struct Influx {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub port: u16,
    rpc_port: u16,
    /// With `start_with_auth`: the admin user and password (`auth-enabled = true`).
    auth: Option<(String, String)>,
}

impl Influx {
    /// Starts InfluxDB and waits until it answers `/ping`.
    pub async fn start() -> Influx {
        let dir = tempfile::tempdir().expect("influx temp dir");
        let mut influx = Influx {
            child: None,
            dir,
            port: super::free_port(),
            rpc_port: super::free_port(),
            auth: None,
        };
        influx.start_again().await;
        influx
    }

    /// Starts InfluxDB with `auth-enabled = true` and an admin `user` with `password`;
    /// `query` and `create_db` then authenticate as that user.
    pub async fn start_with_auth(user: &str, password: &str) -> Influx {
        let dir = tempfile::tempdir().expect("influx temp dir");
        let mut influx = Influx {
            child: None,
            dir,
            port: super::free_port(),
            rpc_port: super::free_port(),
            auth: Some((user.to_string(), password.to_string())),
        };
        influx.start_again().await;
        influx
    }

    pub fn url(&self) -> String {
        format!("http://{}:{}", super::host(), self.port)
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("influxdb.conf")
    }

    /// (Re)starts the server on the same ports and data directory.
    pub async fn start_again(&mut self) {
        let d = self.dir.path().display();
        let conf = format!(
            r#"reporting-disabled = true
bind-address = "{host}:{rpc}"
[meta]
  dir = "{d}/meta"
[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
  query-log-enabled = false
[http]
  bind-address = "{host}:{http}"
  log-enabled = false
  auth-enabled = {auth}
[monitor]
  store-enabled = false
"#,
            host = super::host(),
            rpc = self.rpc_port,
            http = self.port,
            auth = self.auth.is_some()
        );
        std::fs::write(self.config_path(), conf).expect("writing influxdb.conf");
        let child = Command::new("influxd")
            .arg("-config")
            .arg(self.config_path())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.path().join("influxd.log")).expect("log"))
            .spawn()
            .expect("starting influxd (is Debian's influxdb installed? scripts/setup.sh)");
        self.child = Some(child);
        let url = format!("{}/ping", self.url());
        super::wait_until_it_answers("influxd to answer /ping", &url, Duration::from_secs(30))
            .await;
        if let Some((user, password)) = &self.auth {
            // The first admin user may be created without credentials (an error once it
            // exists, after a restart: ignored).
            let _ = reqwest::Client::new()
                .post(format!("{}/query", self.url()))
                .form(&[(
                    "q",
                    format!(
                        "CREATE USER \"{user}\" WITH PASSWORD '{password}' WITH ALL PRIVILEGES"
                    ),
                )])
                .send()
                .await
                .expect("creating the influx admin user");
        }
    }

    /// Stops the server (SIGKILL); the data directory stays.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub async fn create_db(&self, db: &str) {
        self.query("", &format!("CREATE DATABASE \"{db}\"")).await;
    }

    /// Runs an InfluxQL query and returns the JSON answer (epoch seconds).
    pub async fn query(&self, db: &str, q: &str) -> Value {
        let mut req = reqwest::Client::new().post(format!("{}/query", self.url()));
        if let Some((user, password)) = &self.auth {
            req = req.basic_auth(user, Some(password));
        }
        let resp = req
            .form(&[("db", db), ("q", q), ("epoch", "s")])
            .send()
            .await
            .expect("influx query");
        // (reqwest is built without its `json` feature)
        let body = resp.bytes().await.expect("influx query answer");
        serde_json::from_slice(&body).expect("influx query json")
    }

    /// The tag keys of `measurement` in database `vsphere`.
    pub async fn tag_keys(&self, measurement: &str) -> std::collections::BTreeSet<String> {
        self.rows("vsphere", &format!("SHOW TAG KEYS FROM \"{measurement}\""))
            .await
            .iter()
            .filter_map(|r| r.first().and_then(|v| v.as_str()).map(str::to_string))
            .collect()
    }

    /// The rows of the first series of a query, or nothing.
    pub async fn rows(&self, db: &str, q: &str) -> Vec<Vec<Value>> {
        let v = self.query(db, q).await;
        let mut out = Vec::new();
        if let Some(series) = v["results"][0]["series"].as_array() {
            for s in series {
                if let Some(values) = s["values"].as_array() {
                    for row in values {
                        out.push(row.as_array().cloned().unwrap_or_default());
                    }
                }
            }
        }
        out
    }

    /// Distinct timestamps (epoch seconds) of `measurement` for each value of `tag`.
    pub async fn timestamps_by_tag(
        &self,
        db: &str,
        measurement: &str,
        field: &str,
        tag: &str,
    ) -> std::collections::BTreeMap<String, std::collections::BTreeSet<i64>> {
        let v = self
            .query(
                db,
                &format!("SELECT \"{field}\" FROM \"{measurement}\" GROUP BY \"{tag}\""),
            )
            .await;
        let mut out = std::collections::BTreeMap::new();
        if let Some(series) = v["results"][0]["series"].as_array() {
            for s in series {
                let key = s["tags"][tag].as_str().unwrap_or_default().to_string();
                let set: &mut std::collections::BTreeSet<i64> = out.entry(key).or_default();
                for row in s["values"].as_array().into_iter().flatten() {
                    if let Some(t) = row[0].as_i64() {
                        set.insert(t);
                    }
                }
            }
        }
        out
    }
}

impl Drop for Influx {
    fn drop(&mut self) {
        self.stop();
    }
}
