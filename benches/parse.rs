//! QueryPerf parse speed on recorded simulator answers (tests/fixtures/queryperf_*.xml.gz:
//! 50 VMs × the default VM counters × 15 samples), in samples per second.
//!
//! Run: `cargo bench --bench parse`. Regenerate the fixtures with
//! `cargo test --test vsphere_record -- --ignored`.
//!
//! `catchup_host_hour`: the answer after a handover or restart, one host with every instance
//! expanded over a one-hour window (180 samples, 60 counters × 40 instances: 8.6 MB, one
//! `<returnval>`), parsed whole and streamed in reads of 64 KB, 16 KB (TLS records) and
//! 1 KB. Catch-up is linear when every read size gives the same samples per CPU-second.

use std::io::Read;
use std::pin::Pin;
use std::task::{Context, Poll};

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
    parse_perf_slice(doc, |e| n += e.all_values().len() as u64).expect("fixture parses");
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
                parse_perf_slice(&doc, |e| series += e.series_len()).expect("parses");
                series
            })
        });
        g.bench_function("async_reader", |b| {
            b.iter(|| {
                rt.block_on(async {
                    let mut r = PerfReader::new(&doc[..]);
                    let mut series = 0usize;
                    while let Some(e) = r.next().await.expect("parses") {
                        series += e.series_len();
                    }
                    series
                })
            })
        });
        g.finish();
    }
}

/// An hour of realtime samples of one host, every instance expanded (`normal` format).
fn host_hour() -> Vec<u8> {
    use std::fmt::Write as _;
    let (samples, counters, instances) = (180, 60, 40);
    let t0 = 1_787_306_400;
    let mut d = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><QueryPerfResponse xmlns="urn:vim25"><returnval xsi:type="PerfEntityMetric"><entity type="HostSystem">host-1</entity>"#,
    );
    for i in 0..samples {
        let t = chrono::DateTime::from_timestamp(t0 + 20 * i, 0).expect("time");
        let _ = write!(
            d,
            "<sampleInfo><timestamp>{}</timestamp><interval>20</interval></sampleInfo>",
            t.format("%Y-%m-%dT%H:%M:%SZ")
        );
    }
    for c in 0..counters {
        for inst in 0..instances {
            let _ = write!(
                d,
                r#"<value xsi:type="PerfMetricIntSeries"><id><counterId>{}</counterId><instance>vmhba{inst}</instance></id>"#,
                c + 1
            );
            for s in 0..samples {
                let _ = write!(
                    d,
                    "<value>{}</value>",
                    (c * 7919 + inst * 104_729 + s * 31) % 100_000
                );
            }
            d.push_str("</value>");
        }
    }
    d.push_str("</returnval></QueryPerfResponse></soapenv:Body></soapenv:Envelope>");
    d.into_bytes()
}

/// A body that arrives in reads of at most `size` bytes (a TLS stream: 16 KB records).
struct Chunked<'a>(&'a [u8], usize);

impl tokio::io::AsyncRead for Chunked<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = self.1.min(buf.remaining()).min(self.0.len());
        let (head, tail) = self.0.split_at(n);
        buf.put_slice(head);
        self.0 = tail;
        Poll::Ready(Ok(()))
    }
}

fn catchup(c: &mut Criterion<ThreadCpuTime>) {
    let doc = host_hour();
    let mut g = c.benchmark_group("catchup_host_hour");
    g.sample_size(10);
    g.throughput(Throughput::Elements(values(&doc)));
    g.bench_function("slice", |b| {
        b.iter(|| {
            let mut series = 0usize;
            parse_perf_slice(&doc, |e| series += e.series_len()).expect("parses");
            series
        })
    });
    for (name, size) in [
        ("reads_64k", 64 << 10),
        ("reads_16k", 16 << 10),
        ("reads_1k", 1 << 10),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                futures::executor::block_on(async {
                    let mut r = PerfReader::new(Chunked(&doc, size));
                    let mut series = 0usize;
                    while let Some(e) = r.next().await.expect("parses") {
                        series += e.series_len();
                    }
                    series
                })
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    // CPU time of the benchmark thread: the figures are per CPU-second (benches/common).
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = bench, catchup
}
criterion_main!(benches);
