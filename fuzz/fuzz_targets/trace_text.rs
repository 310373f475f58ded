#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ovs_offline::fuzzing::trace_text(data));
