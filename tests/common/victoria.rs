//! A real VictoriaMetrics (Debian's `victoria-metrics`, single node) on a free loopback port
//! with its own storage directory; killed on drop. Its Prometheus remote-write endpoint is
//! `/api/v1/write`; raw samples are read back through `/api/v1/export`.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Victoria {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl Victoria {
    /// Starts VictoriaMetrics and waits until `/health` answers.
    pub async fn start() -> Victoria {
        let dir = tempfile::tempdir().expect("victoria-metrics temp dir");
        let port = super::free_port();
        let child = Command::new("victoria-metrics")
            .arg(format!("-storageDataPath={}", dir.path().join("data").display()))
            .arg(format!("-httpListenAddr={}:{port}", super::host()))
            .arg("-search.disableCache")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("vm.log")).expect("log"))
            .spawn()
            .expect("starting victoria-metrics (is Debian's victoria-metrics installed? scripts/setup.sh)");
        let v = Victoria {
            child: Some(child),
            dir,
            port,
        };
        let url = format!("{}/health", v.url());
        super::wait_until_it_answers(
            "victoria-metrics to answer /health",
            &url,
            Duration::from_secs(30),
        )
        .await;
        v
    }

    pub fn url(&self) -> String {
        format!("http://{}:{}", super::host(), self.port)
    }

    /// The Prometheus remote-write URL.
    pub fn write_url(&self) -> String {
        format!("{}/api/v1/write", self.url())
    }

    /// Timestamps (seconds) of every raw sample of `metric`, per value of `label`. Raw
    /// samples (export), not a query: no lookback or staleness rule hides one.
    pub async fn timestamps_by_label(
        &self,
        metric: &str,
        label: &str,
    ) -> BTreeMap<String, BTreeSet<i64>> {
        let body = reqwest::Client::new()
            .post(format!("{}/api/v1/export", self.url()))
            .form(&[("match[]", metric)])
            .send()
            .await
            .expect("victoria-metrics export")
            .text()
            .await
            .expect("victoria-metrics export body");
        let mut out: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
        for line in body.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line).expect("export line json");
            let key = v["metric"][label].as_str().unwrap_or_default().to_string();
            let set = out.entry(key).or_default();
            for t in v["timestamps"].as_array().into_iter().flatten() {
                if let Some(ms) = t.as_i64() {
                    set.insert(ms / 1000);
                }
            }
        }
        out
    }
}

impl Drop for Victoria {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = &self.dir;
    }
}
