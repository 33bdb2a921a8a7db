//! vcollect: a clustered vSphere performance collector.
//!
//! The crate is split along the two planes of the design (see `docs/architecture.md`):
//!
//! * the **data plane** moves samples: [`vsphere`] talks SOAP to vCenter (inventory,
//!   counters, QueryPerf), [`collect`] runs the cycle and its bounded pipeline, and
//!   [`sink`] encodes InfluxDB line protocol and writes it (with an on-disk spool);
//! * the **control plane** ([`cluster`]) decides which node collects which entities.
//!
//! [`contract`] holds what both planes agree on (bucket hash, entity kinds, watermark
//! updates); [`config`] loads and validates the one TOML file every node shares;
//! [`telemetry`] holds the self-metrics both planes record and serves them to Prometheus;
//! [`daemon`] starts the agent (wiring the planes together) and stops it in order.

pub mod cluster;
pub mod collect;
pub mod config;
pub mod contract;
pub mod daemon;
pub mod secret;
#[cfg(feature = "simulation")]
pub mod simulation;
pub mod sink;
pub mod telemetry;
pub mod vsphere;
