//! Differential: the streaming reader (reads of sizes taken from the input) against the
//! slice parser on the same bytes: the same entities, values and error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vcollect::vsphere::parse_perf_slice;

mod chunked;

fuzz_target!(|data: &[u8]| {
    let (sizes, doc) = chunked::split(data);
    let (entities, err, bytes) = chunked::stream(doc, sizes);
    let mut sliced = Vec::new();
    let r = parse_perf_slice(doc, |e| sliced.push(e));
    assert_eq!(entities, sliced, "streaming and slice parsing disagree on the entities");
    match r {
        Ok(stats) => {
            assert_eq!(err, None, "the slice parser accepted what the stream refused");
            assert_eq!(stats.bytes, bytes);
        }
        Err(e) => assert_eq!(err, Some(e), "streaming and slice parsing disagree on the error"),
    }
});
