//! What each output costs per sample, from the same batch of line protocol (what the
//! collector encodes and the spool keeps): `cargo bench --bench outputs`.
//!
//! - `influx_gzip`: the InfluxDB output's work, gzip level 1 of the batch;
//! - `remote_write`: the remote-write output's, the batch parsed back and turned into a
//!   snappy-compressed protobuf `WriteRequest` (src/sink/remote_write.rs);
//! - `otlp`: the OTLP output's, the batch turned into a protobuf
//!   `ExportMetricsServiceRequest` (src/sink/otlp.rs), and `otlp_gzip` with the gzip the
//!   OTLP output applies by default (`gzip = true`).
//!
//! - `line_protocol_parse_only`: a general parser's parse alone (influxdb-line-protocol), for
//!   scale: the conversions used it before they got their own reader (src/sink/line_read.rs).
//!
//! Throughput is samples (fields) per CPU-second of the benchmark thread.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

mod common;
use common::ThreadCpuTime;

/// 1,000 VMs' lines shaped like the collector's (8 tags, 6 fields), 3 samples each: the
/// same series recur, as in a real batch.
fn batch() -> (Vec<u8>, u64) {
    let mut lp = String::with_capacity(1 << 20);
    let mut samples = 0;
    for t in 0..3i64 {
        for vm in 0..1000 {
            lp.push_str(&format!(
                "vsphere_vm_cpu,clustername=Cluster\\ A,dcname=DC0,esxhostname=esx-{h:03}.example.com,\
                 instance=instance-total,moid=vm-{vm},source=web-{vm:04},vcenter=vc1,vmname=web-{vm:04} \
                 usage_average={u},demand_average=0.25,ready_summation={r}i,run_summation=19000i,\
                 wait_summation=18000i,costop_summation=0 {ts}\n",
                h = vm % 50,
                u = 12.34 + vm as f64 / 7.0,
                r = 1234 + vm,
                ts = 1_700_000_000 + t * 20,
            ));
            samples += 6;
        }
    }
    (lp.into_bytes(), samples)
}

fn bench(c: &mut Criterion<ThreadCpuTime>) {
    let (lp, samples) = batch();
    let mut g = c.benchmark_group("outputs");
    g.throughput(Throughput::Elements(samples));
    g.bench_function("influx_gzip", |b| {
        b.iter(|| vcollect::sink::influx::gzip(&lp))
    });
    let text = std::str::from_utf8(&lp).expect("utf-8");
    g.bench_function("line_protocol_parse_only", |b| {
        b.iter(|| {
            influxdb_line_protocol::parse_lines(text)
                .filter(|l| l.is_ok())
                .count()
        })
    });
    g.bench_function("remote_write", |b| {
        b.iter(|| vcollect::sink::remote_write::encode(&lp).expect("line protocol"))
    });
    g.bench_function("otlp", |b| {
        b.iter(|| vcollect::sink::otlp::encode(&lp, Some("node-a")).expect("line protocol"))
    });
    g.bench_function("otlp_gzip", |b| {
        b.iter(|| {
            let e = vcollect::sink::otlp::encode(&lp, Some("node-a")).expect("line protocol");
            vcollect::sink::influx::gzip(&e.body)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    // CPU time of the benchmark thread: the figures are per CPU-second (benches/common).
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = bench
}
criterion_main!(benches);
