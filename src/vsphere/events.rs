//! vCenter's events (EventManager), read through an event history collector: created with
//! a filter (events since a time, of some types), rewound, read in pages of [`PAGE`] with
//! `ReadNextEvents` until it answers none (or [`MAX_EVENTS`] were read), destroyed.

use std::fmt::Write as _;

use super::client::Client;
use super::error::Error;
use super::soap::MoRef;
use super::xml::{self, Node};

/// Events per `ReadNextEvents` call, and the collector's page size: vCenter's maximum.
pub const PAGE: u32 = 1000;

/// The most events one read returns: a collector far behind catches up over several
/// cycles rather than in one unbounded answer.
pub const MAX_EVENTS: usize = 50_000;

/// One event, as far as `vsphere_event` points need it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    /// `key`: vCenter increases it with every event.
    pub key: i64,
    pub chain_id: i64,
    /// `createdTime`, unix seconds.
    pub time: i64,
    /// The event's type (`VmPoweredOffEvent`), or an `EventEx`'s or `ExtendedEvent`'s
    /// `eventTypeId` (`com.vmware.vc.vm.VmStateRevertedToSnapshot`).
    pub kind: String,
    /// A `TaskEvent`'s task: its `info.descriptionId` (`VirtualMachine.createSnapshot`).
    pub task: Option<String>,
    /// An `EventEx`'s `severity` (`info`, `warning`, `error`, `user`), when it has one.
    pub severity: Option<String>,
    pub user: String,
    pub message: String,
    pub datacenter: Option<String>,
    /// The compute resource's name: the cluster, or a standalone host's compute resource.
    pub cluster: Option<String>,
    pub host: Option<String>,
    pub vm: Option<String>,
    pub datastore: Option<String>,
}

/// What one read of the events returned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventsRead {
    /// In the order vCenter returned them (oldest first, after the collector is rewound).
    pub events: Vec<Event>,
    /// The read stopped at [`MAX_EVENTS`]: vCenter may hold more in the window.
    pub truncated: bool,
}

impl Client {
    /// The events created at or after `since` (unix seconds) of `types` (exact type names;
    /// empty: every type), in the order vCenter returns them, at most [`MAX_EVENTS`].
    pub async fn events_since(&self, since: i64, types: &[String]) -> Result<EventsRead, Error> {
        let Some(manager) = self.session().sc.event_manager.clone() else {
            return Ok(EventsRead::default());
        };
        let begin = chrono::DateTime::from_timestamp(since, 0)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let answer = self
            .invoke("CreateCollectorForEvents", |_| {
                let mut b = String::from(r#"<CreateCollectorForEvents xmlns="urn:vim25">"#);
                manager.write(&mut b, "_this");
                let _ = write!(b, "<filter><time><beginTime>{begin}</beginTime></time>");
                for t in types {
                    let _ = write!(b, "<eventTypeId>{}</eventTypeId>", xml::escape(t));
                }
                let _ = write!(
                    b,
                    "<maxCount>{PAGE}</maxCount></filter></CreateCollectorForEvents>"
                );
                b
            })
            .await?;
        let collector = answer
            .child("returnval")
            .and_then(MoRef::from_node)
            .ok_or_else(|| {
                self.inner
                    .transport
                    .malformed("CreateCollectorForEvents", "no collector in the answer")
            })?;
        let read = self.read_collector(&collector).await;
        self.call_on("DestroyCollector", &collector, "").await.ok();
        read
    }

    async fn read_collector(&self, collector: &MoRef) -> Result<EventsRead, Error> {
        self.call_on("RewindCollector", collector, "").await?;
        let mut out = Vec::new();
        loop {
            if out.len() >= MAX_EVENTS {
                return Ok(EventsRead {
                    events: out,
                    truncated: true,
                });
            }
            let page = self
                .call_on(
                    "ReadNextEvents",
                    collector,
                    &format!("<maxCount>{PAGE}</maxCount>"),
                )
                .await?;
            let before = out.len();
            out.extend(page.children_named("returnval").filter_map(event));
            if out.len() == before {
                return Ok(EventsRead {
                    events: out,
                    truncated: false,
                });
            }
        }
    }

    /// A method of the collector with `args` (inner XML) after its `_this`.
    async fn call_on(
        &self,
        method: &'static str,
        collector: &MoRef,
        args: &str,
    ) -> Result<Node, Error> {
        self.invoke(method, |_| {
            let mut b = format!(r#"<{method} xmlns="urn:vim25">"#);
            collector.write(&mut b, "_this");
            b.push_str(args);
            let _ = write!(b, "</{method}>");
            b
        })
        .await
    }
}

/// One `<returnval xsi:type="…Event">`; `None` without a key or a creation time.
pub(crate) fn event(n: &Node) -> Option<Event> {
    let text = |path: &[&str]| {
        n.text_at(path)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
    };
    let key = text(&["key"])?.parse().ok()?;
    let time = chrono::DateTime::parse_from_rfc3339(&text(&["createdTime"])?)
        .ok()?
        .timestamp();
    let kind = text(&["eventTypeId"])
        .or_else(|| n.xsi_type().map(str::to_string))
        .unwrap_or_else(|| "Event".to_string());
    Some(Event {
        key,
        chain_id: text(&["chainId"])
            .and_then(|c| c.parse().ok())
            .unwrap_or(key),
        time,
        kind,
        task: text(&["info", "descriptionId"]),
        severity: text(&["severity"]),
        user: text(&["userName"]).unwrap_or_default(),
        message: text(&["fullFormattedMessage"]).unwrap_or_default(),
        datacenter: text(&["datacenter", "name"]),
        cluster: text(&["computeResource", "name"]),
        host: text(&["host", "name"]),
        vm: text(&["vm", "name"]),
        datastore: text(&["ds", "name"]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_read_with_the_names_it_carries() {
        let doc = r#"<returnval xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="VmPoweredOffEvent"><key>42</key><chainId>41</chainId><createdTime>2026-12-06T12:00:01.5Z</createdTime><userName>vcsim-test</userName><datacenter><name>DC0</name></datacenter><computeResource><name>DC0_C0</name></computeResource><host><name>DC0_C0_H0</name></host><vm><name>web</name></vm><fullFormattedMessage>web on DC0_C0_H0 in DC0 is powered off</fullFormattedMessage></returnval>"#;
        let n = xml::parse(doc.as_bytes()).unwrap();
        let e = event(&n).unwrap();
        assert_eq!((e.key, e.chain_id, e.time), (42, 41, 1796558401));
        assert_eq!(e.kind, "VmPoweredOffEvent");
        assert_eq!(e.vm.as_deref(), Some("web"));
        assert_eq!(e.cluster.as_deref(), Some("DC0_C0"));
        assert_eq!(e.datastore, None);
        assert_eq!(e.severity, None);
        let ex = r#"<returnval><key>7</key><createdTime>2026-12-06T12:00:00Z</createdTime><eventTypeId>esx.problem.vmfs.heartbeat.timedout</eventTypeId><severity>warning</severity></returnval>"#;
        let e = event(&xml::parse(ex.as_bytes()).unwrap()).unwrap();
        assert_eq!(e.kind, "esx.problem.vmfs.heartbeat.timedout");
        assert_eq!(e.severity.as_deref(), Some("warning"));
        let task = r#"<returnval xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="TaskEvent"><key>9</key><createdTime>2026-12-06T12:00:00Z</createdTime><info><key>task-1</key><name>CreateSnapshot_Task</name><descriptionId>VirtualMachine.createSnapshot</descriptionId><entityName>web</entityName></info><vm><name>web</name></vm></returnval>"#;
        let e = event(&xml::parse(task.as_bytes()).unwrap()).unwrap();
        assert_eq!(e.kind, "TaskEvent");
        assert_eq!(e.task.as_deref(), Some("VirtualMachine.createSnapshot"));
        let no_key = r#"<returnval><createdTime>2026-12-06T12:00:00Z</createdTime></returnval>"#;
        assert!(event(&xml::parse(no_key.as_bytes()).unwrap()).is_none());
    }
}
