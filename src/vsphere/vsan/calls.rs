//! The vSAN calls, as Telegraf's `vsan.go` makes them: on `/vsanHealth` through
//! [`Client::send_to`] (the vim25 session, re-login on `NotAuthenticated`), except
//! `QueryCmmds` and the cluster facts, which are vim25 calls.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::super::client::Client;
use super::super::error::Error;
use super::super::property::{object_spec, prop_spec};
use super::super::soap::{MoRef, Service};
use super::super::xml::{self, Node};
use super::parse::{self, VsanParseError};
use super::{Cmmds, VsanEntityMetrics, VsanResync, VsanSpace, PERF_MANAGER};

/// Where `VsanPerfQueryPerf`'s entities are in its answer:
/// `Envelope/Body/VsanPerfQueryPerfResponse/returnval`.
const ENTITIES: (usize, &str) = (3, "returnval");

/// What vcollect needs to know of a cluster before asking vSAN about it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VsanClusterFacts {
    /// `configurationEx.vsanConfigInfo.enabled`.
    pub enabled: bool,
    /// The cluster's hosts (moids), in the order vCenter lists them.
    pub hosts: Vec<String>,
}

/// The most UUIDs one `VsanPerfQuerySpec` may name (`<type>:<uuid>,<uuid>,…`), from vSAN
/// 8.0 U2 on (the API reference of `VsanPerfQueryPerf`).
pub const MAX_SPEC_UUIDS: usize = 400;

/// One `VsanPerfQuerySpec`: an `entityRefId` over (`start`, `end`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VsanSpec {
    pub entity_ref_id: String,
    pub start: i64,
    pub end: i64,
}

/// The `entityRefId`s that name `uuids` of `entity_type`: up to [`MAX_SPEC_UUIDS`] in one
/// where the server takes a list (`multi`), else one each (every version takes
/// `<type>:<uuid>`).
pub fn entity_ref_ids(entity_type: &str, uuids: &[String], multi: bool) -> Vec<String> {
    let per = if multi { MAX_SPEC_UUIDS } else { 1 };
    uuids
        .chunks(per)
        .map(|c| format!("{entity_type}:{}", c.join(",")))
        .collect()
}

/// Whether an `about.apiVersion` (`8.0.2.0`) is `want` or later; one that does not parse is
/// not.
pub fn api_version_at_least(version: &str, want: [u32; 3]) -> bool {
    let mut parts = version.trim().split('.').map(|p| p.parse::<u32>());
    let mut got = [0u32; 3];
    for g in &mut got {
        match parts.next() {
            Some(Ok(n)) => *g = n,
            Some(Err(_)) => return false,
            None => break,
        }
    }
    got >= want
}

/// The one property of `configurationEx` vcollect needs.
const ENABLED: &str = "configurationEx.vsanConfigInfo.enabled";

fn cluster_ref(moid: &str) -> MoRef {
    MoRef::new("ClusterComputeResource", moid)
}

/// `<tag>` with a `dateTime` in UTC.
fn write_time(b: &mut String, tag: &str, ts: i64) {
    let t = chrono::DateTime::from_timestamp(ts, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let _ = write!(b, "<{tag}>{t}</{tag}>");
}

impl Client {
    fn vsan_malformed(&self, method: &'static str, e: VsanParseError) -> Error {
        self.inner.transport.malformed(method, e.to_string())
    }

    /// A small vSAN call: its response element.
    async fn vsan_invoke<F>(&self, method: &'static str, build: F) -> Result<Node, Error>
    where
        F: Fn() -> String,
    {
        let resp = self.send_to(Service::Vsan, method, |_| build()).await?;
        self.inner.transport.read_answer(method, resp).await
    }

    /// `VsanPerfGetSupportedEntityTypes`: the entity type names this vSAN reports.
    pub async fn vsan_supported_entity_types(&self) -> Result<Vec<String>, Error> {
        let n = self
            .vsan_invoke("VsanPerfGetSupportedEntityTypes", || {
                let mut b = String::from(r#"<VsanPerfGetSupportedEntityTypes xmlns="urn:vsan">"#);
                MoRef::new("VsanPerformanceManager", PERF_MANAGER).write(&mut b, "_this");
                b.push_str("</VsanPerfGetSupportedEntityTypes>");
                b
            })
            .await?;
        Ok(n.children_named("returnval")
            .filter_map(|rv| rv.text_at(&["name"]))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect())
    }

    /// Whether this vCenter's vSAN takes several UUIDs in one spec (vSAN 8.0 U2, which comes
    /// with vCenter 8.0 U2): its `about.apiVersion` is 8.0.2 or later. Telegraf gates its
    /// vSAN calls on the same `apiVersion` (5.5 for vSAN, 6.7 for resync).
    pub fn vsan_multi_uuid(&self) -> bool {
        api_version_at_least(&self.session().sc.api_version, [8, 0, 2])
    }

    /// `VsanPerfQueryPerf` of every entity of `entity_types` in the cluster (one spec
    /// `<type>:*` per type, in one call) over (`start`, `end`], each entity handed to `out`
    /// as it is parsed (valid during the call: the next reuses its buffers). Returns how
    /// many.
    pub async fn vsan_query_perf(
        &self,
        cluster: &str,
        entity_types: &[String],
        start: i64,
        end: i64,
        out: impl FnMut(&VsanEntityMetrics),
    ) -> Result<usize, Error> {
        let specs: Vec<VsanSpec> = entity_types
            .iter()
            .map(|t| VsanSpec {
                entity_ref_id: format!("{t}:*"),
                start,
                end,
            })
            .collect();
        self.vsan_query_specs(cluster, &specs, out).await
    }

    /// `VsanPerfQueryPerf` of `specs` in one call, each entity handed to `out` as it is
    /// parsed (valid during the call: the next reuses its buffers). Returns how many.
    pub async fn vsan_query_specs(
        &self,
        cluster: &str,
        specs: &[VsanSpec],
        mut out: impl FnMut(&VsanEntityMetrics),
    ) -> Result<usize, Error> {
        const METHOD: &str = "VsanPerfQueryPerf";
        let resp = self
            .send_to(Service::Vsan, METHOD, |_| {
                let mut b = String::from(r#"<VsanPerfQueryPerf xmlns="urn:vsan">"#);
                MoRef::new("VsanPerformanceManager", PERF_MANAGER).write(&mut b, "_this");
                for s in specs {
                    let _ = write!(
                        b,
                        "<querySpecs><entityRefId>{}</entityRefId>",
                        xml::escape(&s.entity_ref_id)
                    );
                    write_time(&mut b, "startTime", s.start);
                    write_time(&mut b, "endTime", s.end);
                    b.push_str("</querySpecs>");
                }
                cluster_ref(cluster).write(&mut b, "cluster");
                b.push_str("</VsanPerfQueryPerf>");
                b
            })
            .await?;
        let mut count = 0;
        let mut bad = None;
        let mut reader = parse::EntityReader::default();
        self.inner
            .transport
            .read_answer_cut(METHOD, resp, ENTITIES, |bytes| match reader.read(bytes) {
                Ok(e) => {
                    count += 1;
                    out(e);
                }
                Err(e) => bad = bad.take().or(Some(e)),
            })
            .await?;
        match bad {
            Some(e) => Err(self.vsan_malformed(METHOD, e)),
            None => Ok(count),
        }
    }

    /// `VsanQuerySpaceUsage` of a cluster.
    pub async fn vsan_space_usage(&self, cluster: &str) -> Result<VsanSpace, Error> {
        const METHOD: &str = "VsanQuerySpaceUsage";
        let n = self
            .vsan_invoke(METHOD, || {
                let mut b = String::from(r#"<VsanQuerySpaceUsage xmlns="urn:vsan">"#);
                MoRef::new("VsanSpaceReportSystem", "vsan-cluster-space-report-system")
                    .write(&mut b, "_this");
                cluster_ref(cluster).write(&mut b, "cluster");
                b.push_str("</VsanQuerySpaceUsage>");
                b
            })
            .await?;
        let rv = n
            .child("returnval")
            .ok_or_else(|| self.inner.transport.malformed(METHOD, "no returnval"))?;
        parse::space(rv).map_err(|e| self.vsan_malformed(METHOD, e))
    }

    /// `VsanQueryVcClusterHealthSummary`'s `overallHealth` (`green`, `yellow`, `red` …),
    /// from vSAN's cache first, as Telegraf asks it; `None` when the answer has none.
    pub async fn vsan_overall_health(&self, cluster: &str) -> Result<Option<String>, Error> {
        let n = self
            .vsan_invoke("VsanQueryVcClusterHealthSummary", || {
                let mut b = String::from(r#"<VsanQueryVcClusterHealthSummary xmlns="urn:vsan">"#);
                MoRef::new("VsanVcClusterHealthSystem", "vsan-cluster-health-system")
                    .write(&mut b, "_this");
                cluster_ref(cluster).write(&mut b, "cluster");
                b.push_str(
                    "<fields>overallHealth</fields><fields>overallHealthDescription</fields>",
                );
                b.push_str(
                    "<fetchFromCache>true</fetchFromCache></VsanQueryVcClusterHealthSummary>",
                );
                b
            })
            .await?;
        Ok(n.text_at(&["returnval", "overallHealth"])
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()))
    }

    /// `VsanQuerySyncingVsanObjects`'s summary, asked of the `VsanSystemEx` of a host
    /// (`vsanSystemEx-<n>` for `host-<n>`, as Telegraf names it); `None` for a host moid not
    /// of that form.
    pub async fn vsan_resync(&self, host: &str) -> Result<Option<VsanResync>, Error> {
        const METHOD: &str = "VsanQuerySyncingVsanObjects";
        let Some(n) = host.strip_prefix("host-").filter(|n| !n.contains('-')) else {
            return Ok(None);
        };
        let answer = self
            .vsan_invoke(METHOD, || {
                let mut b = String::from(r#"<VsanQuerySyncingVsanObjects xmlns="urn:vsan">"#);
                MoRef::new("VsanSystemEx", &format!("vsanSystemEx-{n}")).write(&mut b, "_this");
                b.push_str("<start>0</start><includeSummary>true</includeSummary>");
                b.push_str("</VsanQuerySyncingVsanObjects>");
                b
            })
            .await?;
        let rv = answer
            .child("returnval")
            .ok_or_else(|| self.inner.transport.malformed(METHOD, "no returnval"))?;
        parse::resync(rv)
            .map(Some)
            .map_err(|e| self.vsan_malformed(METHOD, e))
    }

    /// Whether vSAN is on, and the hosts, of each of `clusters` (moids), in one property
    /// collector call that reads only the flag of `configurationEx` (the whole of it holds a
    /// DRS and an HA entry per VM: it was most of what this call cost). A vCenter that
    /// refuses the path (`InvalidProperty`) is asked for the whole `configurationEx`. A
    /// cluster vCenter does not answer for is not in the map.
    pub async fn vsan_clusters_facts(
        &self,
        clusters: &[String],
    ) -> Result<HashMap<String, VsanClusterFacts>, Error> {
        if clusters.is_empty() {
            return Ok(HashMap::new());
        }
        let objects = match self.facts_of(clusters, ENABLED).await {
            Err(e) if e.fault_name() == Some("InvalidProperty") => {
                self.facts_of(clusters, "configurationEx").await?
            }
            r => r?,
        };
        Ok(objects
            .into_iter()
            .map(|o| {
                let enabled = o
                    .text(ENABLED)
                    .or_else(|| {
                        o.prop("configurationEx")
                            .and_then(|c| c.text_at(&["vsanConfigInfo", "enabled"]))
                    })
                    .is_some_and(|t| t.trim() == "true");
                let hosts = o
                    .prop("host")
                    .map(|h| {
                        h.children
                            .iter()
                            .map(|r| r.text.trim().to_string())
                            .filter(|r| !r.is_empty())
                            .collect()
                    })
                    .unwrap_or_default();
                (o.obj.value, VsanClusterFacts { enabled, hosts })
            })
            .collect())
    }

    async fn facts_of(
        &self,
        clusters: &[String],
        enabled: &str,
    ) -> Result<Vec<super::super::property::ObjectContent>, Error> {
        self.retrieve_all(|_| {
            let mut b = String::new();
            prop_spec(&mut b, "ClusterComputeResource", &[enabled, "host"]);
            for c in clusters {
                object_spec(&mut b, &cluster_ref(c));
            }
            b
        })
        .await
    }

    /// The CMMDS directory (`HOSTNAME`, `DISK`, `DISK_CAPACITY_TIER`) through the first of
    /// `hosts` whose `HostVsanInternalSystem` answers, as Telegraf reads it (a host down or
    /// in maintenance may not). Empty when none answers: the points then carry `uuid`s only
    /// where Telegraf's would too.
    pub async fn vsan_cmmds(&self, hosts: &[String]) -> Result<Cmmds, Error> {
        let mut last = None;
        for host in hosts {
            match self.cmmds_of(host).await {
                Ok(Some(c)) => return Ok(c),
                Ok(None) => {}
                Err(e) => last = Some(e),
            }
        }
        match last {
            Some(e) => Err(e),
            None => Ok(Cmmds::new()),
        }
    }

    async fn cmmds_of(&self, host: &str) -> Result<Option<Cmmds>, Error> {
        const METHOD: &str = "QueryCmmds";
        let objects = self
            .retrieve_all(|_| {
                let mut b = String::new();
                prop_spec(&mut b, "HostSystem", &["configManager.vsanInternalSystem"]);
                object_spec(&mut b, &MoRef::new("HostSystem", host));
                b
            })
            .await?;
        let Some(system) = objects
            .first()
            .and_then(|o| o.moref("configManager.vsanInternalSystem"))
        else {
            return Ok(None);
        };
        let n = self
            .invoke(METHOD, |_| {
                let mut b = String::from(r#"<QueryCmmds xmlns="urn:vim25">"#);
                system.write(&mut b, "_this");
                for t in ["HOSTNAME", "DISK", "DISK_CAPACITY_TIER"] {
                    let _ = write!(b, "<queries><type>{t}</type></queries>");
                }
                b.push_str("</QueryCmmds>");
                b
            })
            .await?;
        let json = n.text_at(&["returnval"]).unwrap_or_default();
        parse::parse_cmmds(json)
            .map(Some)
            .map_err(|e| self.vsan_malformed(METHOD, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_go_400_to_a_spec_where_the_server_takes_lists_else_one_each() {
        let uuids: Vec<String> = (0..801).map(|i| format!("u{i}")).collect();
        let multi = entity_ref_ids("virtual-machine", &uuids, true);
        assert_eq!(multi.len(), 3);
        assert!(multi[0].starts_with("virtual-machine:u0,u1,"));
        assert_eq!(multi[0].matches(',').count(), MAX_SPEC_UUIDS - 1);
        assert_eq!(multi[2], "virtual-machine:u800");
        let single = entity_ref_ids("virtual-machine", &uuids[..2], false);
        assert_eq!(single, ["virtual-machine:u0", "virtual-machine:u1"]);
        assert!(entity_ref_ids("t", &[], true).is_empty());
    }

    #[test]
    fn lists_from_api_version_8_0_2() {
        for (v, want) in [
            ("8.0.2.0", true),
            ("8.0.3.0", true),
            ("9.0", true),
            ("8.0.1.0", false),
            ("8.0", false),
            ("6.5", false),
            ("", false),
            ("x.y", false),
        ] {
            assert_eq!(api_version_at_least(v, [8, 0, 2]), want, "{v}");
        }
    }
}
