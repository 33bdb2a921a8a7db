//! The vSphere side of the data plane: a hand-written SOAP client for the few calls vcollect
//! uses (login, inventory, counters, QueryPerf), with a streaming parser for QueryPerf.
//!
//! * `soap.rs`: envelopes, HTTP and TLS, SOAP faults → [`Error`];
//! * `client.rs`: [`Client`], the session and its transparent re-login;
//! * `property.rs`: the PropertyCollector with paging;
//! * `inventory.rs`, `counters.rs`: discovery and the counter catalogue;
//! * `extras.rs`: custom attributes, extra properties and guest NIC addresses of an entity;
//! * `paths.rs`: inventory paths (`/DC0/vm/web`) from the parent chains discovery reads;
//! * `options.rs`: vCenter's advanced settings (`QueryOptions`), for its query limits;
//! * `alarms.rs`: the names of the alarms an entity's `triggeredAlarmState` holds;
//! * `events.rs`: vCenter's events through an event history collector;
//! * `tagging.rs`: vSphere tags (category and tag names) from the REST tagging service;
//! * `available.rs`: `QueryAvailablePerfMetric`, what an entity reports;
//! * `vsan/`: vSAN's performance, capacity, health and resync (`/vsanHealth`), and CMMDS;
//! * `perf.rs`: QueryPerf request and the streaming parser ([`PerfReader`], [`parse_perf_slice`]).

mod alarms;
mod available;
mod client;
mod counters;
mod error;
mod events;
mod extras;
#[doc(hidden)]
pub mod fuzzing;
mod inventory;
mod options;
mod paths;
mod perf;
mod property;
mod scan;
mod selection;
mod soap;
mod tagging;
mod tls;
mod types;
mod values;
pub mod vsan;
mod xml;

pub use client::{Client, ClientOptions};
pub use error::Error;
pub use events::{Event, EventsRead, MAX_EVENTS, PAGE as EVENT_PAGE};
pub use options::MAX_QUERY_METRICS_OPTION;
pub use perf::{
    parse_perf_slice, request_body, PerfParseError, PerfParser, PerfReader, QueryStats, MAX_DEPTH,
    MAX_ENTITY_VALUES, MAX_TOKEN,
};
pub use tagging::{attached_tags, AttachedTags, OBJECTS_PER_CALL};
pub use tls::Thumbprint;
pub use types::*;
