//! The collector's side of the benchmarks: the recorded QueryPerf answers
//! (tests/fixtures/queryperf_*.xml.gz, from the simulator: 50 VMs × the default VM counters ×
//! 15 samples), the simulator's counter catalogue and the tags discovery would give each VM.
//! Shared by `pipeline` (parse + encode) and `outputs` (what each output costs from the
//! same samples).

// Each bench compiles this module and uses a part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Read;

use vcollect::collect::encode::EntityLine;
use vcollect::vsphere::{parse_perf_slice, Counter, CounterCatalog, Entity, EntityKind};

pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    let f = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    if name.ends_with(".gz") {
        flate2::read::GzDecoder::new(f)
            .read_to_end(&mut out)
            .expect("gunzip");
    } else {
        std::io::BufReader::new(f)
            .read_to_end(&mut out)
            .expect("read");
    }
    out
}

pub fn catalog() -> CounterCatalog {
    let raw: Vec<serde_json::Value> =
        serde_json::from_slice(&fixture("counters_vpx.json")).expect("counters json");
    CounterCatalog::new(raw.iter().map(|c| Counter {
        key: c["key"].as_i64().expect("key") as i32,
        group: c["group"].as_str().expect("group").into(),
        name: c["name"].as_str().expect("name").into(),
        rollup: c["rollup"].as_str().expect("rollup").into(),
        unit: c["unit"].as_str().expect("unit").into(),
    }))
}

/// A VM as discovery would find it.
pub fn entity(moid: &str) -> Entity {
    Entity {
        kind: EntityKind::Vm,
        moid: moid.to_string(),
        name: format!("DC0_C0_RP0_VM{moid}"),
        dcname: Some("DC0".into()),
        clustername: Some("DC0_C0".into()),
        esxhostname: Some("DC0_C0_H0".into()),
        uuid: Some("265104de-1472-547c-b873-6dc7883fb6cb".into()),
        guest: Some("other".into()),
        guesthostname: Some("vm.example.com".into()),
        rpname: Some("Resources".into()),
        memory_size_mb: Some(4096),
        memory_reservation: None,
        active: true,
        extras: Default::default(),
    }
}

/// Tags as discovery would prepare them, per moid in the fixture.
pub fn tags(doc: &[u8]) -> HashMap<String, EntityLine> {
    let mut out = HashMap::new();
    parse_perf_slice(doc, |m| {
        out.insert(m.moid.clone(), EntityLine::new("vcsim", &entity(&m.moid)));
    })
    .expect("fixture parses");
    out
}
