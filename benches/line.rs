//! Line protocol encoding speed: `cargo bench --bench line`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

mod common;
use common::ThreadCpuTime;
use vcollect::sink::line::LineBuilder;

/// 1,000 lines shaped like the collector's: 8 tags, 6 fields (one sample each).
fn encode(buf: &mut Vec<u8>) {
    buf.clear();
    for i in 0..1000i64 {
        let ok = LineBuilder::new(buf, "vsphere_vm_cpu")
            .tag("clustername", "Cluster A")
            .tag("dcname", "DC0")
            .tag("esxhostname", "esx-017.example.com")
            .tag("instance", "instance-total")
            .tag("moid", "vm-12345")
            .tag("source", "web-frontend-01")
            .tag("vcenter", "vc1")
            .tag("vmname", "web-frontend-01")
            .field_f64("usage_average", 12.34 + i as f64)
            .field_f64("demand_average", 0.25)
            .field_i64("ready_summation", 1234 + i)
            .field_i64("run_summation", 19_000)
            .field_i64("wait_summation", 18_000)
            .field_f64("costop_summation", 0.0)
            .finish(1_700_000_000 + i * 20);
        assert!(ok);
    }
}

fn bench(c: &mut Criterion<ThreadCpuTime>) {
    let mut buf = Vec::with_capacity(1 << 20);
    let mut g = c.benchmark_group("line");
    g.throughput(Throughput::Elements(6000)); // samples (fields)
    g.bench_function("builder_1000_lines_6_fields", |b| {
        b.iter(|| encode(&mut buf))
    });
    let mut raw = Vec::new();
    encode(&mut raw);
    g.throughput(Throughput::Bytes(raw.len() as u64));
    g.bench_function("gzip_level1", |b| {
        b.iter(|| vcollect::sink::influx::gzip(&raw))
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
