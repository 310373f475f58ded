//! Captured packets for traces: Ethernet frames built byte by byte, and
//! pcap files holding them (readable by the unprivileged test user).

use pcap_file::pcap::{PcapPacket, PcapWriter};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The Ethernet frame of an ICMP echo request (TTL 64) from `src` to
/// `dst`, MACs as `0a:00:00:00:01:0b`, addresses as `10.0.1.11`.
pub fn icmp_echo(src_mac: &str, dst_mac: &str, src_ip: &str, dst_ip: &str) -> Vec<u8> {
    let ip_of = |ip: &str| ip.parse::<Ipv4Addr>().unwrap().octets();
    let mut ip = vec![0x45, 0, 0, 28, 0, 1, 0, 0, 64, 1, 0, 0];
    ip.extend(ip_of(src_ip));
    ip.extend(ip_of(dst_ip));
    let sum = checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    let mut icmp = vec![8, 0, 0, 0, 0, 7, 0, 1];
    let sum = checksum(&icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    let mut frame = mac(dst_mac);
    frame.extend(mac(src_mac));
    frame.extend([0x08, 0x00]);
    frame.extend(ip);
    frame.extend(icmp);
    frame
}

fn mac(text: &str) -> Vec<u8> {
    text.split(':').map(|b| u8::from_str_radix(b, 16).unwrap()).collect()
}

fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes.chunks(2).map(|c| u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A pcap of `frames` at `path`, readable by the test user.
pub fn write_pcap(path: &Path, frames: &[&[u8]]) -> PathBuf {
    let mut writer = PcapWriter::new(Vec::new()).unwrap();
    for data in frames {
        writer.write_packet(&PcapPacket::new(Duration::ZERO, data.len() as u32, data)).unwrap();
    }
    readable(path, writer.into_writer())
}

/// Writes `data` to `path`, readable by the test user.
pub fn readable(path: &Path, data: Vec<u8>) -> PathBuf {
    std::fs::write(path, data).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    path.to_path_buf()
}
