//! Parse + encode speed: recorded QueryPerf answers (tests/fixtures/queryperf_*.xml.gz, from
//! the simulator: 50 VMs × the default VM counters × 15 samples) through the streaming parser
//! the HTTP path uses and the line-protocol encoder, in samples (values ≥ 0) per second.
//! One core, no I/O. The counter catalogue is the simulator's (tests/fixtures/counters_vpx.json).
//!
//! Run: `cargo bench --bench pipeline`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

mod collector;
mod common;
use collector::{catalog, fixture, tags};
use common::ThreadCpuTime;
use vcollect::collect::encode::Encoder;
use vcollect::vsphere::{parse_perf_slice, EntityKind, PerfReader};

fn samples(doc: &[u8]) -> u64 {
    let mut n = 0;
    parse_perf_slice(doc, |m| {
        n += m
            .series()
            .map(|s| s.values.iter().filter(|v| **v >= 0).count() as u64)
            .sum::<u64>()
    })
    .expect("parses");
    n
}

fn bench(c: &mut Criterion<ThreadCpuTime>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let cat = catalog();
    for format in ["normal", "csv"] {
        let doc = fixture(&format!("queryperf_{format}.xml.gz"));
        let tags = tags(&doc);
        let ids: Vec<i32> = (0..1000).collect();
        let mut g = c.benchmark_group(format!("parse_encode_{format}"));
        g.throughput(Throughput::Elements(samples(&doc)));
        g.bench_function("streaming", |b| {
            let mut enc = Encoder::new(&cat, ids.iter().copied());
            let mut out = Vec::with_capacity(1 << 20);
            b.iter(|| {
                out.clear();
                rt.block_on(async {
                    let mut r = PerfReader::new(&doc[..]);
                    let mut n = 0;
                    while let Some(m) = r.next().await.expect("parses") {
                        n += enc
                            .encode(EntityKind::Vm, &tags[&m.moid], &m, 0, &mut out)
                            .samples;
                    }
                    n
                })
            })
        });
        g.bench_function("encode_only", |b| {
            let mut parsed = Vec::new();
            parse_perf_slice(&doc, |m| parsed.push(m)).expect("parses");
            let mut enc = Encoder::new(&cat, ids.iter().copied());
            let mut out = Vec::with_capacity(1 << 20);
            b.iter(|| {
                out.clear();
                let mut n = 0;
                for m in &parsed {
                    n += enc
                        .encode(EntityKind::Vm, &tags[&m.moid], m, 0, &mut out)
                        .samples;
                }
                n
            })
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    // CPU time of the benchmark thread: the figures are per CPU-second (benches/common).
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = bench
}
criterion_main!(benches);
