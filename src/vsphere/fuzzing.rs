//! Entry points for the fuzz targets (`fuzz/`): the small-answer path of the SOAP client
//! (DOM, fault, ServiceContent, property pages and their reader, inventory and counters)
//! without a server.
//! Not an API: hidden from the docs, used only by `fuzz/fuzz_targets/soap_dom.rs` and
//! `fuzz/fuzz_targets/vsan.rs`.

use super::counters::counter_from_node;
use super::inventory::resolve;
use super::property::parse_result;
use super::soap::{parse_answer, Answer, ServiceContent};

/// Runs an answer through everything the client does with a small SOAP answer, as if it
/// were the answer to each call. Returns a number that depends on the result (so that
/// nothing is optimised away); the fuzzer only looks for panics, aborts and blow-ups.
pub fn soap_answer(doc: &[u8]) -> usize {
    // The client's own path for property pages: the objects read from the events, which
    // must read whatever the tree parser reads the same way.
    assert!(
        super::values::reader_agrees(doc),
        "page reader and tree differ"
    );
    let rv = match parse_answer(doc) {
        Ok(Answer::Response(rv)) => rv,
        Ok(Answer::Fault(f)) => return f.fault.len() + f.message.len(),
        Err(e) => return e.len(),
    };
    let mut n = rv.children.len();
    // ServiceContent and CurrentTime answer with one returnval.
    if let Some(r) = rv.child("returnval") {
        n += ServiceContent::from_returnval(r).map_or(1, |sc| sc.api_version.len());
    }
    // A property collector page: objects, then the inventory and the counters built from them.
    let mut objects = Vec::new();
    for r in rv.children_named("returnval") {
        n += parse_result(r, &mut objects).map_or(0, |t| t.len());
    }
    n += resolve(&objects).len();
    for o in &objects {
        for val in o.props.iter().filter_map(|(_, v)| v.tree()) {
            n += val
                .children
                .iter()
                .filter_map(counter_from_node)
                .map(|c| c.name.len())
                .sum::<usize>();
        }
    }
    n
}

/// Runs an answer through everything the client does with a vSAN answer (issue 22): the
/// `VsanPerfQueryPerf` entities (streamed in the client, one `returnval` at a time; the
/// same function per element here), space usage, resync, and each `returnval`'s text as a
/// `QueryCmmds` JSON directory. Returns a number that depends on the result.
pub fn vsan_answer(doc: &[u8]) -> usize {
    use super::vsan::{parse_cmmds, parse_perf_entity, resync, scan_agrees, space, EntityReader};
    let rv = match parse_answer(doc) {
        Ok(Answer::Response(rv)) => rv,
        Ok(Answer::Fault(f)) => return f.fault.len(),
        Err(e) => return e.len(),
    };
    let mut n = 0;
    for r in rv.children_named("returnval") {
        n += match parse_perf_entity(r) {
            Ok(e) => e.timestamps.len() + e.series.iter().map(|s| s.values.len()).sum::<usize>(),
            Err(e) => e.to_string().len(),
        };
        n += space(r).map_or(1, |s| s.total_capacity as usize & 0xff);
        n += resync(r).map_or(1, |s| s.total_recovery_eta as usize & 0xff);
        n += parse_cmmds(&r.text).map_or(1, |c| c.len());
    }
    // The client's own path: the entities cut out of the bytes and read by one reader (the
    // tokenizer, buffers kept from one entity to the next), which must read whatever the
    // tree parser reads the same way, errors included.
    let mut cutter = super::scan::Cutter::new(3, "returnval");
    let mut reader = EntityReader::default();
    cutter.push(doc, &mut |b: &[u8]| {
        assert!(scan_agrees(&mut reader, b), "tokenizer and tree differ");
        n += reader.read(b).map_or(1, |e| e.series.len());
    });
    n + cutter.finish().len()
}
