//! The configuration: any text parses to a config or to an error naming the key, never a
//! panic, a hang or a blow-up.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        // Secret files are opened: keep the fuzzer away from device and kernel files
        // (opening /dev/watchdog as root arms it). The bounded read is a unit test.
        if ["/dev", "/proc", "/sys", "/run"].iter().any(|p| text.contains(p)) {
            return;
        }
        let _ = vcollect::config::Config::from_toml(std::path::Path::new("/fuzz.toml"), text);
    }
});
