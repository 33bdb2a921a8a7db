//! vSAN answers (`/vsanHealth`): VsanPerfQueryPerf's CSV entities, space usage, resync, and
//! QueryCmmds' JSON directory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    std::hint::black_box(vcollect::vsphere::fuzzing::vsan_answer(data));
});
