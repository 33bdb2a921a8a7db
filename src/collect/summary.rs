//! What one cycle did, for the log, the `once` report and the `vcollect` self-metrics.

use std::fmt;
use std::time::Duration;

use crate::sink::{line, SinkStats};

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CycleSummary {
    pub vcenter: String,
    /// Active entities this node owns.
    pub entities: usize,
    /// Entities that had a window to query (the others were already up to date).
    pub queried: usize,
    pub samples: u64,
    pub lines: u64,
    pub bytes: u64,
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    /// The end of the window collected (vCenter time, unix seconds).
    pub window_end: Option<i64>,
    /// Bucket watermarks committed.
    pub watermarks: usize,
    pub errors: Vec<String>,
    /// Why nothing was collected, when that was expected.
    pub note: Option<String>,
}

impl CycleSummary {
    pub fn new(vcenter: &str) -> CycleSummary {
        CycleSummary {
            vcenter: vcenter.to_string(),
            ..Default::default()
        }
    }

    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// The typed report the control plane keeps of this cycle, which ended at
    /// `ended_unix_ms` (wall clock).
    pub fn report(&self, ended_unix_ms: i64) -> crate::contract::CycleReport {
        crate::contract::CycleReport {
            vcenter: self.vcenter.clone(),
            entities: self.entities as u64,
            samples: self.samples,
            ended_unix_ms,
            duration_ms: self.duration.as_millis() as u64,
            errors: self.errors.len() as u32,
            first_error: self.errors.first().cloned(),
            window_end: self.window_end,
        }
    }

    /// The `vcollect` self-monitoring line for this cycle, tagged with node and vCenter.
    pub fn to_line(&self, node: &str, sink: &SinkStats, ts: i64) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        line::escape_measurement("vcollect", &mut out);
        for (k, v) in [("node", node), ("vcenter", self.vcenter.as_str())] {
            out.push(b',');
            line::escape_key(k, &mut out);
            out.push(b'=');
            line::escape_tag_value(v, &mut out);
        }
        out.extend_from_slice(b" duration_seconds=");
        line::write_f64(self.duration.as_secs_f64(), &mut out);
        let ints: [(&str, u64); 9] = [
            ("entities", self.entities as u64),
            ("queried", self.queried as u64),
            ("samples", self.samples),
            ("lines", self.lines),
            ("bytes", self.bytes),
            ("errors", self.errors.len() as u64),
            ("spool_depth", sink.spool_depth_batches),
            ("spool_bytes", sink.spool_depth_bytes),
            ("dropped_batches", sink.dropped_batches),
        ];
        for (k, v) in ints {
            out.push(b',');
            out.extend_from_slice(k.as_bytes());
            out.push(b'=');
            line::write_i64(v as i64, &mut out);
        }
        // How far the collected window's end is behind the line's time (dashboards: lag).
        if let Some(end) = self.window_end {
            out.extend_from_slice(b",lag_seconds=");
            line::write_i64(ts.saturating_sub(end).max(0), &mut out);
        }
        out.push(b' ');
        line::write_timestamp(ts, &mut out);
        out.push(b'\n');
        out
    }
}

impl fmt::Display for CycleSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "vcenter {}: {} entities ({} queried), {} samples, {} lines, {} bytes in {:.2}s, {} errors",
            self.vcenter,
            self.entities,
            self.queried,
            self.samples,
            self.lines,
            self.bytes,
            self.duration.as_secs_f64(),
            self.errors.len()
        )?;
        if let Some(n) = &self.note {
            write!(f, " ({n})")?;
        }
        for e in &self.errors {
            write!(f, "\n  error: {e}")?;
        }
        Ok(())
    }
}
