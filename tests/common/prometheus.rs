//! A real Prometheus (Debian's `prometheus`) with its remote-write receiver on, on a free
//! loopback port with its own TSDB directory; killed on drop.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

pub struct Prometheus {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl Prometheus {
    /// Starts Prometheus (remote-write receiver enabled, late samples accepted for an hour
    /// as docs/configuration.md advises) and waits until it is ready.
    pub async fn start() -> Prometheus {
        Prometheus::with_config(
            "global:\n  scrape_interval: 1h\nstorage:\n  tsdb:\n    out_of_order_time_window: 1h\n",
        )
        .await
    }

    /// Prometheus' default: a sample older than its series' newest is refused.
    pub async fn start_without_late_samples() -> Prometheus {
        Prometheus::with_config("global:\n  scrape_interval: 1h\n").await
    }

    async fn with_config(yml: &str) -> Prometheus {
        let dir = tempfile::tempdir().expect("prometheus temp dir");
        let conf = dir.path().join("prometheus.yml");
        std::fs::write(&conf, yml).expect("writing prometheus.yml");
        let mut p = Prometheus {
            child: None,
            dir,
            port: super::free_port(),
        };
        p.start_again().await;
        p
    }

    /// (Re)starts the server on the same port and TSDB directory.
    pub async fn start_again(&mut self) {
        let d = self.dir.path();
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                d.join("prometheus.yml").display()
            ))
            .arg(format!("--storage.tsdb.path={}", d.join("data").display()))
            .arg(format!(
                "--web.listen-address={}:{}",
                super::host(),
                self.port
            ))
            .arg("--web.enable-remote-write-receiver")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("prometheus.log")).expect("log"))
            .spawn()
            .expect("starting prometheus (is Debian's prometheus installed? scripts/setup.sh)");
        self.child = Some(child);
        let url = format!("{}/-/ready", self.url());
        super::wait_until_it_answers("prometheus to be ready", &url, Duration::from_secs(60)).await;
    }

    /// Stops the server (SIGKILL); the TSDB directory stays.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}:{}", super::host(), self.port)
    }

    /// The receiver's write URL.
    pub fn write_url(&self) -> String {
        format!("{}/api/v1/write", self.url())
    }

    /// An instant query's result (`data.result`).
    pub async fn query(&self, q: &str) -> Vec<Value> {
        let resp = reqwest::Client::new()
            .post(format!("{}/api/v1/query", self.url()))
            .form(&[("query", q)])
            .send()
            .await
            .expect("prometheus query");
        let body = resp.bytes().await.expect("prometheus answer");
        let v: Value = serde_json::from_slice(&body).expect("prometheus json");
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// Timestamps (seconds) of every sample of `metric` within the last `range` (e.g. "2h"),
    /// per value of `label`.
    pub async fn timestamps_by_label(
        &self,
        metric: &str,
        label: &str,
        range: &str,
    ) -> BTreeMap<String, BTreeSet<i64>> {
        let mut out: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
        for s in self.query(&format!("{metric}[{range}]")).await {
            let key = s["metric"][label].as_str().unwrap_or_default().to_string();
            let set = out.entry(key).or_default();
            for v in s["values"].as_array().into_iter().flatten() {
                if let Some(t) = v[0].as_f64() {
                    set.insert(t as i64);
                }
            }
        }
        out
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.stop();
    }
}
