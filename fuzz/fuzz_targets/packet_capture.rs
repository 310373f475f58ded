#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ovs_offline::fuzzing::packet_capture(data));
