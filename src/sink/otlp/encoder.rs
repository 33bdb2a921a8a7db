//! The `ExportMetricsServiceRequest` of a batch, assembled by hand from pieces an output
//! keeps between batches: each series' encoded attributes, each metric's name, unit and
//! type, each stream (metric and attribute set) once, in a [`SeriesCache`] and the tables
//! here. A point then costs its attributes' bytes copied and 18 bytes of time and value.
//! ([`super::general::to_request`] is the same conversion with the general parser and
//! prost's types, which the tests compare it with.)

use std::borrow::Cow;
use std::io::Write;

use flate2::write::GzEncoder;

use super::semantic::{self, Kind};
use super::{Encoded, Names, SERVICE_NAME, VCENTER_TAG};
use crate::sink::grouped::{intern, FastMap, Local, Num, Point, Resolve, Runs, SeriesCache};
use crate::sink::interner::Interner;
use crate::sink::proto;
use crate::sink::{Precision, SinkError};

// The fields of the messages written here (opentelemetry-proto's metrics, common and
// resource definitions).
const REQ_RESOURCE_METRICS: u8 = 1;
const RM_RESOURCE: u8 = 1;
const RM_SCOPE_METRICS: u8 = 2;
const RESOURCE_ATTRIBUTES: u8 = 1;
const SM_SCOPE: u8 = 1;
const SM_METRICS: u8 = 2;
const SCOPE_NAME: u8 = 1;
const SCOPE_VERSION: u8 = 2;
const METRIC_NAME: u8 = 1;
const METRIC_UNIT: u8 = 3;
const METRIC_GAUGE: u8 = 5;
const METRIC_SUM: u8 = 7;
const DATA_POINTS: u8 = 1;
const SUM_TEMPORALITY: u8 = 2;
const TEMPORALITY_CUMULATIVE: u8 = 2;
const POINT_ATTRIBUTES: u8 = 7;
const POINT_TIME: u8 = 3;
const POINT_AS_DOUBLE: u8 = 4;
const POINT_AS_INT: u8 = 6;
const KV_KEY: u8 = 1;
const KV_VALUE: u8 = 2;
const ANY_STRING: u8 = 1;

/// A point's size without its attributes: time and value, 9 bytes each.
const POINT_FIXED: usize = 18;

/// A sum's `aggregation_temporality` field (cumulative; `is_monotonic` false is the default).
const SUM_EXTRA: usize = 2;

/// One `KeyValue` with a string value, as a repeated field `field` of its message.
fn kv_field(field: u8, key: &str, value: &str, out: &mut Vec<u8>) {
    let any = proto::len_field_size(value.len());
    let len = proto::len_field_size(key.len()) + proto::len_field_size(any);
    proto::len_header(field, len, out);
    proto::bytes_field(KV_KEY, key.as_bytes(), out);
    proto::len_header(KV_VALUE, any, out);
    proto::bytes_field(ANY_STRING, value.as_bytes(), out);
}

/// An OTLP output's encoder: one per output, kept between batches.
#[derive(Debug, Default)]
pub struct Encoder {
    cache: SeriesCache,
    ids: Ids,
    points: Vec<Point>,
    streams: Local,
    metrics: Local,
    /// Per point, its stream's local id.
    keys: Vec<u32>,
    runs: Runs,
    /// The size of the last request, to allocate the next at once.
    last_len: usize,
    /// With gzip: the request's bytes not yet compressed (reused between batches), and the
    /// size of the last compressed request.
    chunk: Vec<u8>,
    last_gz_len: usize,
}

/// With gzip, the request goes to the compressor in pieces of about this size as it is
/// written: a piece stays in the processor's cache between being written and compressed,
/// where a whole request (several MB in the steady state) would be written out to memory
/// and read back.
const CHUNK: usize = 64 << 10;

/// A gzip compressor writing into a `Vec`, at the sink's level (the InfluxDB output's).
type Gzip = GzEncoder<Vec<u8>>;

fn gzip_error(e: std::io::Error) -> SinkError {
    SinkError::Encode(format!("gzip: {e}"))
}

/// With `gz`, hands what `out` holds to the compressor once it holds [`CHUNK`] bytes.
#[inline]
fn spill(out: &mut Vec<u8>, gz: &mut Option<Gzip>) -> Result<(), SinkError> {
    if let Some(gz) = gz {
        if out.len() >= CHUNK {
            gz.write_all(out).map_err(gzip_error)?;
            out.clear();
        }
    }
    Ok(())
}

/// What the output derived from the series met so far.
#[derive(Debug, Default)]
struct Ids {
    names: Names,
    /// The vCenters (resources), by id.
    resources: Vec<Option<String>>,
    resource_ids: FastMap<Option<String>, u32>,
    /// Per series: its resource and its Telegraf attribute set.
    series: Vec<(u32, u32)>,
    /// Encoded attribute sets (repeated field `attributes` of a point).
    attrs: Interner,
    metrics: Vec<Metric>,
    metric_ids: FastMap<(u32, String), u32>,
    /// Per stream: its metric and attribute set.
    streams: Vec<(u32, u32)>,
    stream_ids: FastMap<(u32, u32), u32>,
    /// The resources of this batch's lines, in order.
    line_resources: Local,
}

#[derive(Debug)]
struct Metric {
    resource: u32,
    /// The encoded `name` and `unit` fields.
    head: Box<[u8]>,
    kind: Kind,
}

impl Ids {
    fn attributes(&mut self, mut tags: Vec<(&str, &str)>) -> u32 {
        tags.sort_unstable();
        let mut attrs = Vec::new();
        for (k, v) in tags {
            kv_field(POINT_ATTRIBUTES, k, v, &mut attrs);
        }
        self.attrs.intern(&attrs).0
    }

    fn metric(&mut self, resource: u32, name: String, unit: &str, kind: Kind) -> u32 {
        if let Some(&m) = self.metric_ids.get(&(resource, name.clone())) {
            return m;
        }
        let mut head = Vec::with_capacity(name.len() + unit.len() + 4);
        proto::bytes_field(METRIC_NAME, name.as_bytes(), &mut head);
        if !unit.is_empty() {
            proto::bytes_field(METRIC_UNIT, unit.as_bytes(), &mut head);
        }
        let m = self.metrics.len() as u32;
        self.metrics.push(Metric {
            resource,
            head: head.into(),
            kind,
        });
        self.metric_ids.insert((resource, name), m);
        m
    }
}

/// The tags without `vcenter`, and `vcenter`'s value.
fn split_vcenter<'t>(
    tags: &'t [(Cow<'_, str>, Cow<'_, str>)],
) -> (Option<&'t str>, Vec<(&'t str, &'t str)>) {
    let mut vcenter = None;
    let mut rest = Vec::with_capacity(tags.len());
    for (k, v) in tags {
        if k == VCENTER_TAG {
            vcenter = Some(v.as_ref());
        } else {
            rest.push((k.as_ref(), v.as_ref()));
        }
    }
    (vcenter, rest)
}

impl Resolve for Ids {
    fn series(&mut self, _measurement: &str, tags: &[(Cow<'_, str>, Cow<'_, str>)]) -> u32 {
        let (vcenter, rest) = split_vcenter(tags);
        let r = intern(
            &mut self.resource_ids,
            &mut self.resources,
            vcenter.map(str::to_string),
        );
        let a = self.attributes(rest);
        self.series.push((r, a));
        (self.series.len() - 1) as u32
    }

    fn slot(
        &mut self,
        series: u32,
        measurement: &str,
        tags: &[(Cow<'_, str>, Cow<'_, str>)],
        field: &str,
    ) -> u32 {
        let (r, a) = self.series[series as usize];
        let sem = match self.names {
            Names::Otel => semantic::lookup(measurement, field),
            Names::Telegraf => None,
        };
        let (metric, attrs) = match sem {
            Some(s) => {
                let attrs = semantic::attributes(s, &split_vcenter(tags).1);
                let a = self.attributes(attrs);
                (self.metric(r, s.name.to_string(), s.unit, s.kind), a)
            }
            None => {
                let name = format!("{measurement}_{field}");
                (self.metric(r, name, "", Kind::Gauge), a)
            }
        };
        intern(&mut self.stream_ids, &mut self.streams, (metric, attrs))
    }

    fn line(&mut self, series: u32) {
        self.line_resources.id(self.series[series as usize].0);
    }
}

impl Encoder {
    /// An encoder naming metrics as `names` says.
    pub fn new(names: Names) -> Encoder {
        let mut e = Encoder::default();
        e.ids.names = names;
        e
    }

    /// Converts a batch with timestamps in `precision`; `host` is the collecting node's name
    /// (`host.name`). A line that does not read is an error naming it: the batch came from
    /// this process or its spool, so it is a bug or a damaged spool file.
    pub fn encode(
        &mut self,
        lp: &[u8],
        host: Option<&str>,
        precision: Precision,
    ) -> Result<Encoded, SinkError> {
        self.encode_as(lp, host, precision, false)
    }

    /// [`Encoder::encode`] with the request gzip-compressed (`Content-Encoding: gzip`) as
    /// it is written, at the InfluxDB output's level.
    pub fn encode_gzip(
        &mut self,
        lp: &[u8],
        host: Option<&str>,
        precision: Precision,
    ) -> Result<Encoded, SinkError> {
        self.encode_as(lp, host, precision, true)
    }

    fn encode_as(
        &mut self,
        lp: &[u8],
        host: Option<&str>,
        precision: Precision,
        gzip: bool,
    ) -> Result<Encoded, SinkError> {
        if self.cache.full() {
            *self = Encoder::new(self.ids.names);
        }
        self.ids.line_resources.start();
        // On an error, the ids given out for the lines before it stay valid.
        let strings = self.cache.read(lp, &mut self.ids, &mut self.points)?;
        let l = self.layout();
        let body = if gzip {
            self.request_gzip(&l, host, precision)?
        } else {
            let mut out = Vec::with_capacity(self.last_len.max(self.points.len() * 64) + 4096);
            self.request(&l, host, precision, &mut out, &mut None)?;
            self.last_len = out.len();
            out
        };
        Ok(Encoded {
            body,
            points: self.points.len(),
            strings_skipped: strings,
        })
    }

    /// The request of the batch laid out as `l`, gzip-compressed a [`CHUNK`] at a time.
    fn request_gzip(
        &mut self,
        l: &Layout,
        host: Option<&str>,
        precision: Precision,
    ) -> Result<Vec<u8>, SinkError> {
        let mut chunk = std::mem::take(&mut self.chunk);
        chunk.clear();
        chunk.reserve(2 * CHUNK);
        let level = flate2::Compression::new(crate::sink::influx::GZIP_LEVEL);
        let mut gz = Some(Gzip::new(
            Vec::with_capacity(self.last_gz_len + 4096),
            level,
        ));
        let written = self.request(l, host, precision, &mut chunk, &mut gz);
        let body = written.and_then(|()| {
            let mut gz = gz.expect("set above");
            gz.write_all(&chunk).map_err(gzip_error)?;
            gz.finish().map_err(gzip_error)
        });
        // A stream far larger than usual does not pin its buffer for ever.
        if chunk.capacity() <= 16 * CHUNK {
            self.chunk = chunk;
        }
        let body = body?;
        self.last_gz_len = body.len();
        Ok(body)
    }

    /// The batch's structure: per resource (local, in line order) its metrics (local, in
    /// the order of their first point), per metric its streams (local, likewise); and each
    /// point's stream in `keys`.
    fn layout(&mut self) -> Layout {
        self.streams.start();
        self.metrics.start();
        self.keys.clear();
        let ids = &mut self.ids;
        let mut l = Layout {
            resources: vec![Vec::new(); ids.line_resources.order.len()],
            metrics: Vec::new(),
        };
        for p in &self.points {
            let (s, new) = self.streams.id(p.slot);
            if new {
                let metric = ids.streams[p.slot as usize].0;
                let (m, new_metric) = self.metrics.id(metric);
                if new_metric {
                    let (r, _) = ids.line_resources.id(ids.metrics[metric as usize].resource);
                    l.resources[r as usize].push(m);
                    l.metrics.push(Vec::new());
                }
                l.metrics[m as usize].push(s);
            }
            self.keys.push(s);
        }
        self.runs.sort(&self.keys, self.streams.order.len());
        l
    }

    /// The encoded request of the batch laid out as `l`, into `out`; with `gz`, `out` is
    /// handed to the compressor whenever it holds a [`CHUNK`] (and what is left in it at
    /// the end is the caller's to compress).
    fn request(
        &self,
        l: &Layout,
        host: Option<&str>,
        precision: Precision,
        out: &mut Vec<u8>,
        gz: &mut Option<Gzip>,
    ) -> Result<(), SinkError> {
        let ids = &self.ids;
        let attrs = |s: u32| {
            ids.attrs
                .get(ids.streams[self.streams.order[s as usize] as usize].1)
        };
        let stream_size = |s: u32| {
            self.runs.run(s as usize).len() * proto::len_field_size(attrs(s).len() + POINT_FIXED)
        };
        let metric = |m: u32| &ids.metrics[self.metrics.order[m as usize] as usize];
        let data_size = |m: u32| {
            let extra = if metric(m).kind == Kind::Sum {
                SUM_EXTRA
            } else {
                0
            };
            l.metrics[m as usize]
                .iter()
                .map(|&s| stream_size(s))
                .sum::<usize>()
                + extra
        };
        let metric_size = |m: u32| metric(m).head.len() + proto::len_field_size(data_size(m));
        let version = env!("CARGO_PKG_VERSION");
        let scope_size =
            proto::len_field_size(SERVICE_NAME.len()) + proto::len_field_size(version.len());
        for (r, metrics) in l.resources.iter().enumerate() {
            let vcenter = ids.resources[ids.line_resources.order[r] as usize].as_deref();
            let mut res_attrs = Vec::new();
            kv_field(
                RESOURCE_ATTRIBUTES,
                "service.name",
                SERVICE_NAME,
                &mut res_attrs,
            );
            if let Some(h) = host {
                kv_field(RESOURCE_ATTRIBUTES, "host.name", h, &mut res_attrs);
            }
            if let Some(v) = vcenter {
                kv_field(RESOURCE_ATTRIBUTES, VCENTER_TAG, v, &mut res_attrs);
            }
            let sm_size = proto::len_field_size(scope_size)
                + metrics
                    .iter()
                    .map(|&m| proto::len_field_size(metric_size(m)))
                    .sum::<usize>();
            let rm_size = proto::len_field_size(res_attrs.len()) + proto::len_field_size(sm_size);
            proto::len_header(REQ_RESOURCE_METRICS, rm_size, out);
            proto::bytes_field(RM_RESOURCE, &res_attrs, out);
            proto::len_header(RM_SCOPE_METRICS, sm_size, out);
            proto::len_header(SM_SCOPE, scope_size, out);
            proto::bytes_field(SCOPE_NAME, SERVICE_NAME.as_bytes(), out);
            proto::bytes_field(SCOPE_VERSION, version.as_bytes(), out);
            for &m in metrics {
                let info = metric(m);
                proto::len_header(SM_METRICS, metric_size(m), out);
                out.extend_from_slice(&info.head);
                let data = match info.kind {
                    Kind::Gauge => METRIC_GAUGE,
                    Kind::Sum => METRIC_SUM,
                };
                proto::len_header(data, data_size(m), out);
                for &s in &l.metrics[m as usize] {
                    self.points_of(s, attrs(s), precision, out)?;
                    spill(out, gz)?;
                }
                if info.kind == Kind::Sum {
                    out.push(proto::key(SUM_TEMPORALITY, proto::VARINT));
                    out.push(TEMPORALITY_CUMULATIVE);
                }
            }
        }
        Ok(())
    }

    /// Stream `s`'s points, each with the attributes `attrs`.
    fn points_of(
        &self,
        s: u32,
        attrs: &[u8],
        precision: Precision,
        out: &mut Vec<u8>,
    ) -> Result<(), SinkError> {
        for &i in self.runs.run(s as usize) {
            let p = &self.points[i as usize];
            proto::len_header(DATA_POINTS, attrs.len() + POINT_FIXED, out);
            out.extend_from_slice(attrs);
            proto::fixed64_field(POINT_TIME, nanos(p.timestamp, precision)?, out);
            let (field, bits) = match p.value {
                Num::F64(f) => (POINT_AS_DOUBLE, f.to_bits()),
                Num::I64(i) => (POINT_AS_INT, i as u64),
                Num::U64(u) => match i64::try_from(u) {
                    Ok(i) => (POINT_AS_INT, i as u64),
                    Err(_) => (POINT_AS_DOUBLE, (u as f64).to_bits()),
                },
                Num::Bool(b) => (POINT_AS_INT, u64::from(b)),
            };
            proto::fixed64_field(field, bits, out);
        }
        Ok(())
    }
}

/// A batch's structure, in local ids (see [`Encoder::layout`]).
struct Layout {
    /// Per resource: its metrics.
    resources: Vec<Vec<u32>>,
    /// Per metric: its streams.
    metrics: Vec<Vec<u32>>,
}

/// A line's timestamp in `precision` as OTLP's nanoseconds; an error before 1970 or past
/// 2554.
fn nanos(ts: i64, precision: Precision) -> Result<u64, SinkError> {
    let per_unit = precision.millis() as u64 * 1_000_000;
    u64::try_from(ts)
        .ok()
        .and_then(|s| s.checked_mul(per_unit))
        .ok_or_else(|| SinkError::Encode(format!("timestamp {ts} out of range")))
}
