//! QueryPerf parse speed on recorded simulator answers (tests/fixtures/queryperf_*.xml.gz:
//! 50 VMs × the default VM counters × 15 samples), in samples per second.
//!
//! Run: `cargo bench --bench parse`. Regenerate the fixtures with
//! `cargo test --test vsphere_record -- --ignored`.

use std::io::Read;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

mod common;
use common::ThreadCpuTime;
use vcollect::vsphere::{parse_perf_slice, PerfReader};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let f = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(f)
        .read_to_end(&mut out)
        .expect("gunzip");
    out
}

/// All values (including -1) the parser produced: what the encoder has to look at.
fn values(doc: &[u8]) -> u64 {
    let mut n = 0u64;
    parse_perf_slice(doc, |e| {
        n += e.series.iter().map(|s| s.values.len() as u64).sum::<u64>()
    })
    .expect("fixture parses");
    n
}

fn bench(c: &mut Criterion<ThreadCpuTime>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    for format in ["normal", "csv"] {
        let doc = fixture(&format!("queryperf_{format}.xml.gz"));
        let mut g = c.benchmark_group(format!("queryperf_{format}"));
        g.throughput(Throughput::Elements(values(&doc)));
        g.bench_function("slice", |b| {
            b.iter(|| {
                let mut series = 0usize;
                parse_perf_slice(&doc, |e| series += e.series.len()).expect("parses");
                series
            })
        });
        g.bench_function("async_reader", |b| {
            b.iter(|| {
                rt.block_on(async {
                    let mut r = PerfReader::new(&doc[..]);
                    let mut series = 0usize;
                    while let Some(e) = r.next().await.expect("parses") {
                        series += e.series.len();
                    }
                    series
                })
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
