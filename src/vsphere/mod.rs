//! The vSphere side of the data plane: a hand-written SOAP client for the few calls vcollect
//! uses (login, inventory, counters, QueryPerf), with a streaming parser for QueryPerf.

mod types;

pub use types::*;
