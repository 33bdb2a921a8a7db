//! The sink against a real InfluxDB 1.x (Debian's influxd): values and timestamps, clear
//! errors for a missing database and a wrong password, the spool during an outage, its
//! bound, and its replay after a restart.

mod common;

use std::path::Path;
use std::time::Duration;

use common::influx::Influx;
use serde_json::json;
use vcollect::secret::Secret;
use vcollect::sink::line::LineBuilder;
use vcollect::sink::{Api, Batch, HttpOptions, Outcome, Sink};

fn v1(url: &str, db: &str) -> HttpOptions {
    HttpOptions {
        url: url.to_string(),
        api: Api::V1 {
            database: db.to_string(),
            retention_policy: None,
            username: None,
            password: None,
        },
        timeout: Duration::from_secs(5),
        gzip: true,
        max_retries: 1,
        retry_backoff: Duration::from_millis(50),
    }
}

/// A batch of `n` lines of measurement `m`: host=h<i>, value=i (float), n=i (int), ts = t0+i.
fn batch(m: &str, t0: i64, n: usize, value_offset: f64) -> Batch {
    let mut body = Vec::new();
    for i in 0..n {
        assert!(LineBuilder::new(&mut body, m)
            .tag("host", &format!("h{i}"))
            .field_f64("value", i as f64 + value_offset)
            .field_i64("n", i as i64)
            .finish(t0 + i as i64));
    }
    Batch { body, lines: n }
}

async fn count(influx: &Influx, db: &str, m: &str) -> i64 {
    influx
        .rows(db, &format!("SELECT count(\"n\") FROM \"{m}\""))
        .await
        .first()
        .and_then(|r| r[1].as_i64())
        .unwrap_or(0)
}

fn spool_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".lp.gz")
            })
            .count()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn writes_exact_values_and_timestamps_gzip() {
    let influx = Influx::start().await;
    influx.create_db("vsphere").await;
    let spool = tempfile::tempdir().unwrap();
    let sink = Sink::http(
        v1(&influx.url(), "vsphere"),
        spool.path().join("s"),
        1 << 20,
    )
    .unwrap();
    sink.check().await.expect("check passes: database exists");

    let mut body = Vec::new();
    assert!(LineBuilder::new(&mut body, "vsphere_vm_cpu")
        .tag("moid", "vm-1")
        .tag("vmname", "web 01")
        .field_f64("usage_average", 12.34)
        .field_i64("run_summation", 19_999)
        .finish(1_700_000_000));
    assert!(LineBuilder::new(&mut body, "vsphere_vm_cpu")
        .tag("moid", "vm-1")
        .tag("vmname", "web 01")
        .field_f64("usage_average", 0.000123)
        .field_i64("run_summation", -5)
        .finish(1_700_000_020));
    let outcome = sink.write(Batch { body, lines: 2 }).await;
    assert_eq!(outcome, Outcome::Written);

    let rows = influx
        .rows(
            "vsphere",
            "SELECT usage_average, run_summation, vmname FROM vsphere_vm_cpu WHERE moid = 'vm-1'",
        )
        .await;
    assert_eq!(
        rows,
        vec![
            vec![
                json!(1_700_000_000),
                json!(12.34),
                json!(19_999),
                json!("web 01")
            ],
            vec![
                json!(1_700_000_020),
                json!(0.000123),
                json!(-5),
                json!("web 01")
            ],
        ]
    );
    let st = sink.stats();
    assert_eq!(
        (st.written_batches, st.written_lines, st.spooled_batches),
        (1, 2, 0)
    );
    sink.shutdown().await;
}

#[tokio::test]
async fn missing_database_is_a_clear_permanent_error() {
    let influx = Influx::start().await;
    let spool = tempfile::tempdir().unwrap();
    let sink = Sink::http(v1(&influx.url(), "nodb"), spool.path().join("s"), 1 << 20).unwrap();
    let err = sink.check().await.unwrap_err();
    let msg = err.to_string();
    assert!(err.is_permanent());
    assert_eq!(
        msg,
        format!(
            "InfluxDB at {} refused the write (404): database not found: \"nodb\"",
            influx.url()
        )
    );
    // A write is dropped (not spooled: it would fail forever) and counted.
    assert_eq!(sink.write(batch("m", 1, 3, 0.0)).await, Outcome::Dropped);
    let st = sink.stats();
    assert_eq!(
        (
            st.dropped_batches,
            st.dropped_lines,
            st.rejected_batches,
            st.spool_depth_batches
        ),
        (1, 3, 1, 0)
    );
    assert_eq!(spool_files(&spool.path().join("s")), 0);
}

#[tokio::test]
async fn wrong_password_is_a_clear_401() {
    let influx = Influx::start_with_auth("admin", "right-password").await;
    influx.create_db("vsphere").await;
    let spool = tempfile::tempdir().unwrap();
    let with = |password: &str| {
        let mut o = v1(&influx.url(), "vsphere");
        o.api = Api::V1 {
            database: "vsphere".into(),
            retention_policy: None,
            username: Some("admin".into()),
            password: Some(Secret::new(password)),
        };
        o
    };
    let bad = Sink::http(with("wrong"), spool.path().join("a"), 1 << 20).unwrap();
    let err = bad.check().await.unwrap_err();
    let msg = err.to_string();
    assert!(err.is_permanent());
    assert_eq!(err.status(), Some(401));
    assert!(
        msg.starts_with(&format!(
            "InfluxDB at {} refused the write (401): authentication failed: check token_file / \
             username+password_file",
            influx.url()
        )),
        "{msg}"
    );
    assert!(!msg.contains("wrong"), "the password is never shown: {msg}");
    assert_eq!(bad.write(batch("m", 1, 1, 0.0)).await, Outcome::Dropped);

    let good = Sink::http(with("right-password"), spool.path().join("b"), 1 << 20).unwrap();
    good.check().await.expect("the right password works");
    assert_eq!(good.write(batch("m", 1, 4, 0.0)).await, Outcome::Written);
    assert_eq!(count(&influx, "vsphere", "m").await, 4);
}

#[tokio::test]
async fn outage_spools_then_drains_in_order() {
    let mut influx = Influx::start().await;
    influx.create_db("vsphere").await;
    let spool = tempfile::tempdir().unwrap();
    let dir = spool.path().join("s");
    let sink = Sink::http(v1(&influx.url(), "vsphere"), dir.clone(), 1 << 20).unwrap();
    assert_eq!(
        sink.write(batch("m", 1000, 10, 0.0)).await,
        Outcome::Written
    );

    influx.stop();
    // Every batch writes the same points (ts 2000.., host h0..h9) with a value that grows
    // with the batch number, plus a point of its own: after the replay, the newest value
    // wins only if the batches arrived in order, and every batch's own point is there.
    for k in 0..8 {
        let mut b = batch("ordered", 2000, 10, k as f64 * 100.0);
        assert!(LineBuilder::new(&mut b.body, "each")
            .tag("batch", &k.to_string())
            .field_i64("n", k)
            .finish(3000 + k));
        b.lines += 1;
        assert_eq!(sink.write(b).await, Outcome::Spooled, "batch {k}");
        let st = sink.stats();
        assert_eq!(st.spool_depth_batches, k as u64 + 1);
        assert!(st.spool_depth_bytes > 0);
    }
    assert_eq!(spool_files(&dir), 8);

    influx.start_again().await;
    // A batch written while the spool drains queues behind the older ones.
    let late = sink.write(batch("late", 4000, 5, 0.0)).await;
    assert!(matches!(late, Outcome::Spooled | Outcome::Written));
    common::poll("the spool to drain", Duration::from_secs(60), || async {
        (sink.stats().spool_depth_batches == 0).then_some(())
    })
    .await;

    assert_eq!(count(&influx, "vsphere", "each").await, 8);
    assert_eq!(count(&influx, "vsphere", "late").await, 5);
    let rows = influx
        .rows("vsphere", "SELECT value FROM ordered GROUP BY host")
        .await;
    assert_eq!(rows.len(), 10);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[0], 2000 + i as i64, "{rows:?}");
        assert_eq!(r[1].as_f64(), Some(700.0 + i as f64), "{rows:?}");
    }
    let st = sink.stats();
    assert_eq!(st.dropped_batches, 0);
    assert_eq!(st.written_batches, 1 + 8 + 1);
    assert_eq!(spool_files(&dir), 0);
    sink.shutdown().await;
}

#[tokio::test]
async fn a_full_spool_drops_and_counts() {
    // Nothing listens on this port: every write fails and goes to the spool.
    let url = format!("http://{}", common::free_addr());
    let mut opts = v1(&url, "vsphere");
    opts.max_retries = 0;
    let spool = tempfile::tempdir().unwrap();
    let one = vcollect::sink::influx::gzip(&batch("m", 1, 20, 0.0).body).len() as u64;
    let sink = Sink::http(opts, spool.path().join("s"), one + one / 2).unwrap();
    let mut outcomes = Vec::new();
    for _ in 0..4 {
        outcomes.push(sink.write(batch("m", 1, 20, 0.0)).await);
    }
    assert_eq!(
        outcomes,
        [
            Outcome::Spooled,
            Outcome::Dropped,
            Outcome::Dropped,
            Outcome::Dropped
        ]
    );
    let st = sink.stats();
    assert_eq!(
        (
            st.spooled_batches,
            st.dropped_batches,
            st.dropped_lines,
            st.rejected_batches
        ),
        (1, 3, 60, 0)
    );
    assert_eq!((st.spool_depth_batches, st.spool_depth_bytes), (1, one));
    let err = sink.check().await.unwrap_err();
    assert!(!err.is_permanent());
    assert!(
        err.to_string()
            .starts_with(&format!("cannot reach InfluxDB at {url}: ")),
        "{err}"
    );
    sink.shutdown().await;
}

#[tokio::test]
async fn a_restarted_sink_replays_what_was_left() {
    let mut influx = Influx::start().await;
    influx.create_db("vsphere").await;
    influx.stop();
    let spool = tempfile::tempdir().unwrap();
    let dir = spool.path().join("s");
    {
        let mut opts = v1(&influx.url(), "vsphere");
        opts.max_retries = 0;
        let sink = Sink::http(opts, dir.clone(), 1 << 20).unwrap();
        for k in 0..3 {
            assert_eq!(
                sink.write(batch("left", 100 * k, 7, 0.0)).await,
                Outcome::Spooled
            );
        }
        sink.shutdown().await;
    }
    assert_eq!(spool_files(&dir), 3);

    influx.start_again().await;
    let sink = Sink::http(v1(&influx.url(), "vsphere"), dir.clone(), 1 << 20).unwrap();
    common::poll(
        "the old spool to be replayed",
        Duration::from_secs(30),
        || async { (sink.stats().spool_depth_batches == 0).then_some(()) },
    )
    .await;
    assert_eq!(count(&influx, "vsphere", "left").await, 21);
    assert_eq!(sink.stats().written_lines, 21);
    assert_eq!(spool_files(&dir), 0);
    sink.shutdown().await;
}
