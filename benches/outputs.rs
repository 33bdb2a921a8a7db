//! What each output costs per sample, from the same batch of line protocol (what the
//! collector encodes and the spool keeps): `cargo bench --bench outputs`.
//!
//! - `influx_gzip`: the InfluxDB output's work, gzip level 1 of the batch;
//! - `remote_write`: the remote-write output's, the batch parsed back and turned into a
//!   snappy-compressed protobuf `WriteRequest` (src/sink/remote_write.rs) by the encoder the
//!   output keeps between batches (its series cached, as in the agent's steady state);
//! - `otlp`: the OTLP output's, the batch turned into a protobuf
//!   `ExportMetricsServiceRequest` (src/sink/otlp.rs) likewise, and `otlp_gzip` with the
//!   gzip the OTLP output applies by default (`gzip = true`), after the request is written.
//!
//! - `line_protocol_parse_only`: a general parser's parse alone (influxdb-line-protocol), for
//!   scale: the conversions used it before they got their own reader (src/sink/line_read.rs).
//!
//! Throughput is samples (fields) per CPU-second of the benchmark thread.
//!
//! `outputs_from_samples/*`: each output's whole work per sample from the collector's
//! samples (the recorded QueryPerf answers of benches/collector), as the agent does it: the
//! collector's encoder writes the line protocol every output gets (src/collect/encode.rs),
//! then each output does its own part. `influx` is encode + gzip, the denominator of the
//! issue's bound (1.5×). Two shapes: `window` is the fixture as recorded (50 VMs, 15 samples
//! per series: a first run's or a handover's window), `cycle` the agent's steady state (1,000
//! VMs, the newest sample of each series: one 20-s cycle). `*_first_batch` converts with a
//! fresh encoder every time: the first batch of a series after a start. `otlp_gzip` is the
//! OTLP output over HTTP (gzip while the request is written, level 1 as the InfluxDB
//! output's), `otlp_then_gzip` the same request written whole and then gzipped,
//! `otlp_grpc_gzip6` the gRPC protocol's work (tonic gzips at level 6). Each shape prints
//! its batch's body sizes (bytes on the wire per output) to stderr first.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

mod collector;
mod common;
use common::ThreadCpuTime;
use vcollect::collect::encode::{Encoder, EntityLine};
use vcollect::sink::otlp::{Encoder as OtlpEncoder, Names};
use vcollect::sink::remote_write::Encoder as RwEncoder;
use vcollect::sink::Precision;
use vcollect::vsphere::{parse_perf_slice, EntityKind, EntityMetrics};

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
    // The encoders the outputs keep between batches (the same series every batch).
    let mut rw = RwEncoder::default();
    g.bench_function("remote_write", |b| {
        b.iter(|| rw.encode(&lp, Precision::Seconds).expect("line protocol"))
    });
    let mut otlp = OtlpEncoder::new(Names::Telegraf);
    g.bench_function("otlp", |b| {
        b.iter(|| {
            otlp.encode(&lp, Some("node-a"), Precision::Seconds)
                .expect("line protocol")
        })
    });
    g.bench_function("otlp_gzip", |b| {
        b.iter(|| {
            let e = otlp
                .encode(&lp, Some("node-a"), Precision::Seconds)
                .expect("line protocol");
            vcollect::sink::influx::gzip(&e.body)
        })
    });
    g.finish();
    from_samples(c);
}

/// The fixture's VMs as parsed, with their tags: as recorded (`copies` 1, every sample) or
/// the newest sample of each series only, the VMs repeated `copies` times under new moids.
fn collected(copies: usize, newest_only: bool) -> Vec<(EntityMetrics, EntityLine)> {
    let doc = collector::fixture("queryperf_normal.xml.gz");
    let mut parsed = Vec::new();
    parse_perf_slice(&doc, |m| parsed.push(m)).expect("fixture parses");
    let mut out = Vec::new();
    for copy in 0..copies {
        for m in &parsed {
            let mut m = m.clone();
            if newest_only {
                let newest = (0..m.timestamps.len())
                    .max_by_key(|&i| m.timestamps[i])
                    .expect("samples");
                m.retain_samples(&[newest]);
            }
            if copies > 1 {
                m.moid = format!("{}-{copy}", m.moid);
            }
            let line = EntityLine::new("vcsim", &collector::entity(&m.moid));
            out.push((m, line));
        }
    }
    out
}

/// Each output's work per sample from the collector's samples (see the module's docs).
fn from_samples(c: &mut Criterion<ThreadCpuTime>) {
    let cat = collector::catalog();
    for (shape, copies, newest_only) in [("window", 1, false), ("cycle", 20, true)] {
        let vms = collected(copies, newest_only);
        let mut enc = Encoder::new(&cat, 0..1000);
        let mut lp = Vec::with_capacity(1 << 20);
        let encode = |enc: &mut Encoder, lp: &mut Vec<u8>| {
            lp.clear();
            vms.iter()
                .map(|(m, line)| enc.encode(EntityKind::Vm, line, m, 0, lp).samples)
                .sum::<u64>()
        };
        let samples = encode(&mut enc, &mut lp);
        let mut g = c.benchmark_group(format!("outputs_from_samples_{shape}"));
        g.throughput(Throughput::Elements(samples));
        g.bench_function("encode_only", |b| b.iter(|| encode(&mut enc, &mut lp)));
        g.bench_function("influx", |b| {
            b.iter(|| {
                encode(&mut enc, &mut lp);
                vcollect::sink::influx::gzip(&lp)
            })
        });
        let mut rw = RwEncoder::default();
        g.bench_function("remote_write", |b| {
            b.iter(|| {
                encode(&mut enc, &mut lp);
                rw.encode(&lp, Precision::Seconds).expect("line protocol")
            })
        });
        let mut otlp = OtlpEncoder::new(Names::Telegraf);
        // Each output's body for this batch, in bytes (wire bytes, for docs/benchmarks.md).
        {
            let lp_len = lp.len();
            let influx = vcollect::sink::influx::gzip(&lp).len();
            let rw_body = rw.encode(&lp, Precision::Seconds).expect("line protocol");
            let raw = otlp
                .encode(&lp, Some("node-a"), Precision::Seconds)
                .expect("line protocol");
            let gz = otlp
                .encode_gzip(&lp, Some("node-a"), Precision::Seconds)
                .expect("line protocol");
            eprintln!(
                "{shape}: {samples} samples; bytes: line protocol {lp_len}, its gzip {influx}, \
                 remote-write {}, OTLP {}, its gzip {}, at level 6 {}",
                rw_body.body.len(),
                raw.body.len(),
                gz.body.len(),
                gzip_at(&raw.body, 6).len()
            );
        }
        g.bench_function("otlp", |b| {
            b.iter(|| {
                encode(&mut enc, &mut lp);
                otlp.encode(&lp, Some("node-a"), Precision::Seconds)
                    .expect("line protocol")
            })
        });
        // What the output does over HTTP: gzip while the request is written.
        g.bench_function("otlp_gzip", |b| {
            b.iter(|| {
                encode(&mut enc, &mut lp);
                otlp.encode_gzip(&lp, Some("node-a"), Precision::Seconds)
                    .expect("line protocol")
            })
        });
        // The request written whole, then gzipped (how `otlp_gzip` did it before).
        g.bench_function("otlp_then_gzip", |b| {
            b.iter(|| {
                encode(&mut enc, &mut lp);
                let e = otlp
                    .encode(&lp, Some("node-a"), Precision::Seconds)
                    .expect("line protocol");
                vcollect::sink::influx::gzip(&e.body)
            })
        });
        // Over gRPC tonic compresses the request, at level 6 (it has no setting).
        g.bench_function("otlp_grpc_gzip6", |b| {
            b.iter(|| {
                encode(&mut enc, &mut lp);
                let e = otlp
                    .encode(&lp, Some("node-a"), Precision::Seconds)
                    .expect("line protocol");
                gzip_at(&e.body, 6)
            })
        });
        // A fresh encoder every batch: what the first cycle after a start costs.
        g.bench_function("remote_write_first_batch", |b| {
            b.iter(|| {
                encode(&mut enc, &mut lp);
                vcollect::sink::remote_write::encode(&lp).expect("line protocol")
            })
        });
        g.bench_function("otlp_first_batch", |b| {
            b.iter(|| {
                encode(&mut enc, &mut lp);
                vcollect::sink::otlp::encode(&lp, Some("node-a")).expect("line protocol")
            })
        });
        g.finish();
    }
}

/// gzip at `level` with the crate's implementation (flate2 on zlib-rs).
fn gzip_at(raw: &[u8], level: u32) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(raw.len() / 6 + 64),
        flate2::Compression::new(level),
    );
    enc.write_all(raw).expect("writing to a Vec");
    enc.finish().expect("writing to a Vec")
}

criterion_group! {
    name = benches;
    // CPU time of the benchmark thread: the figures are per CPU-second (benches/common).
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = bench
}
criterion_main!(benches);
