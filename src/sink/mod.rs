//! The output side of the data plane: InfluxDB line protocol and the writers that deliver it.

pub mod line;
