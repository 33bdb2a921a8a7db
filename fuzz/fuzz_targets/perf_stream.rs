//! The streaming QueryPerf reader, with read sizes taken from the input: never a panic, a
//! hang or a blow-up, and the same answer as when the body comes in one read.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod chunked;

fuzz_target!(|data: &[u8]| {
    let (sizes, doc) = chunked::split(data);
    let (entities, err, bytes) = chunked::stream(doc, sizes);
    let (whole, whole_err, _) = chunked::stream(doc, vec![usize::MAX]);
    assert_eq!(entities, whole, "entities depend on the chunking");
    assert_eq!(err, whole_err, "the error depends on the chunking");
    if err.is_none() {
        assert_eq!(bytes, doc.len() as u64, "a complete answer is read whole");
    }
});
