//! The small-answer path of the SOAP client: DOM, fault, ServiceContent, property pages,
//! inventory and counter catalogue.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    std::hint::black_box(vcollect::vsphere::fuzzing::soap_answer(data));
});
