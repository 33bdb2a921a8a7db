//! Parse + encode speed: recorded QueryPerf answers (tests/fixtures/queryperf_*.xml.gz, from
//! the simulator: 50 VMs × the default VM counters × 15 samples) through the streaming parser
//! the HTTP path uses and the line-protocol encoder, in samples (values ≥ 0) per second.
//! One core, no I/O. The counter catalogue is the simulator's (tests/fixtures/counters_vpx.json).
//!
//! Run: `cargo bench --bench pipeline`

use std::collections::HashMap;
use std::io::Read;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

mod common;
use common::ThreadCpuTime;
use vcollect::collect::encode::{Encoder, EntityLine};
use vcollect::vsphere::{
    parse_perf_slice, Counter, CounterCatalog, Entity, EntityKind, PerfReader,
};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    let f = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    if name.ends_with(".gz") {
        flate2::read::GzDecoder::new(f)
            .read_to_end(&mut out)
            .expect("gunzip");
    } else {
        std::io::BufReader::new(f)
            .read_to_end(&mut out)
            .expect("read");
    }
    out
}

fn catalog() -> CounterCatalog {
    let raw: Vec<serde_json::Value> =
        serde_json::from_slice(&fixture("counters_vpx.json")).expect("counters json");
    CounterCatalog::new(raw.iter().map(|c| Counter {
        key: c["key"].as_i64().expect("key") as i32,
        group: c["group"].as_str().expect("group").into(),
        name: c["name"].as_str().expect("name").into(),
        rollup: c["rollup"].as_str().expect("rollup").into(),
        unit: c["unit"].as_str().expect("unit").into(),
    }))
}

/// Tags as discovery would prepare them, per moid in the fixture.
fn tags(doc: &[u8]) -> HashMap<String, EntityLine> {
    let mut out = HashMap::new();
    parse_perf_slice(doc, |m| {
        let e = Entity {
            kind: EntityKind::Vm,
            moid: m.moid.clone(),
            name: format!("DC0_C0_RP0_VM{}", m.moid),
            dcname: Some("DC0".into()),
            clustername: Some("DC0_C0".into()),
            esxhostname: Some("DC0_C0_H0".into()),
            uuid: Some("265104de-1472-547c-b873-6dc7883fb6cb".into()),
            guest: Some("other".into()),
            guesthostname: Some("vm.example.com".into()),
            rpname: Some("Resources".into()),
            memory_size_mb: Some(4096),
            memory_reservation: None,
            active: true,
            extras: Default::default(),
        };
        out.insert(m.moid.clone(), EntityLine::new("vcsim", &e));
    })
    .expect("fixture parses");
    out
}

fn samples(doc: &[u8]) -> u64 {
    let mut n = 0;
    parse_perf_slice(doc, |m| {
        n += m
            .series
            .iter()
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
