//! One frame of a customer's packet capture (pcap or pcapng, told apart by
//! their magic), as `ofproto/trace` takes a packet: its Ethernet bytes,
//! and the interface the capture names for it (pcapng `if_name`), which
//! may be a port of the bridge. The capture is hostile evidence: read, never
//! trusted; a frame too big to pass to `ovs-appctl` is refused.

use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::DataLink;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PcapError {
    #[error("cannot read {}", path.display())]
    Open { path: PathBuf, source: std::io::Error },
    #[error("{} is not a readable pcap or pcapng capture ({reason}); give a capture written by tcpdump, tshark or Wireshark", path.display())]
    Format { path: PathBuf, reason: String },
    #[error("{} holds {count} frames, not frame {frame}; pick one with --frame 1..{count}", path.display())]
    NoFrame { path: PathBuf, frame: usize, count: usize },
    #[error("frame {frame} of {} is not Ethernet (link type {link}); ofproto/trace takes Ethernet frames only", path.display())]
    NotEthernet { path: PathBuf, frame: usize, link: String },
    #[error("frame {frame} of {} is {len} bytes, more than the {MAX_FRAME} ofproto/trace can be given", path.display())]
    TooBig { path: PathBuf, frame: usize, len: usize },
}

/// The largest frame given to `ofproto/trace`: its hex is one argument of
/// `ovs-appctl`, which the kernel caps at 128 KiB.
pub const MAX_FRAME: usize = 65_535;

/// pcapng's Section Header Block type, its first four bytes.
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// A frame read from a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub data: Vec<u8>,
    /// Its length on the wire: more than `data` when the capture cut it.
    pub original_len: u32,
    /// The interface the capture names for it (pcapng only).
    pub interface: Option<String>,
}

impl Frame {
    /// True when the capture holds only part of the frame.
    pub fn truncated(&self) -> bool {
        (self.original_len as usize) > self.data.len()
    }
}

/// Frame `frame` (1-based) of the capture `path`.
pub fn read_frame(path: &Path, frame: usize) -> Result<Frame, PcapError> {
    let file = std::fs::File::open(path).map_err(|source| PcapError::Open { path: path.to_path_buf(), source })?;
    frame_of(BufReader::new(file), frame).map_err(|e| e.at(path))
}

/// Why a capture in memory gave no frame (the path is added by
/// [`read_frame`]).
#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    Format(String),
    NoFrame { frame: usize, count: usize },
    NotEthernet { frame: usize, link: String },
    TooBig { frame: usize, len: usize },
}

impl FrameError {
    fn at(self, path: &Path) -> PcapError {
        let path = path.to_path_buf();
        match self {
            FrameError::Format(reason) => PcapError::Format { path, reason },
            FrameError::NoFrame { frame, count } => PcapError::NoFrame { path, frame, count },
            FrameError::NotEthernet { frame, link } => PcapError::NotEthernet { path, frame, link },
            FrameError::TooBig { frame, len } => PcapError::TooBig { path, frame, len },
        }
    }
}

/// Frame `frame` (1-based) of a capture.
pub fn frame_of<R: BufRead>(mut capture: R, frame: usize) -> Result<Frame, FrameError> {
    let pcapng = capture.fill_buf().map_err(format_error)?.starts_with(&PCAPNG_MAGIC);
    let (found, link) = match pcapng {
        true => pcapng_frame(capture, frame)?,
        false => pcap_frame(capture, frame)?,
    };
    if link != DataLink::ETHERNET {
        return Err(FrameError::NotEthernet { frame, link: format!("{link:?}") });
    }
    if found.data.len() > MAX_FRAME {
        return Err(FrameError::TooBig { frame, len: found.data.len() });
    }
    Ok(found)
}

fn format_error(e: impl std::fmt::Display) -> FrameError {
    FrameError::Format(crate::quote::note(&e.to_string()))
}

fn pcap_frame(capture: impl Read, frame: usize) -> Result<(Frame, DataLink), FrameError> {
    let mut reader = PcapReader::new(capture).map_err(format_error)?;
    let link = reader.header().datalink;
    let mut count = 0;
    while let Some(packet) = reader.next_packet() {
        let packet = packet.map_err(format_error)?;
        count += 1;
        if count == frame {
            let found = Frame { data: packet.data.into_owned(), original_len: packet.orig_len, interface: None };
            return Ok((found, link));
        }
    }
    Err(FrameError::NoFrame { frame, count })
}

fn pcapng_frame(capture: impl Read, frame: usize) -> Result<(Frame, DataLink), FrameError> {
    let mut reader = PcapNgReader::new(capture).map_err(format_error)?;
    let mut count = 0;
    while let Some(block) = reader.next_block() {
        let (data, original_len, interface) = match block.map_err(format_error)? {
            Block::EnhancedPacket(p) => (p.data.into_owned(), p.original_len, p.interface_id),
            Block::SimplePacket(p) => (p.data.into_owned(), p.original_len, 0),
            Block::Packet(p) => (p.data.into_owned(), p.original_len, u32::from(p.interface_id)),
            _ => continue,
        };
        count += 1;
        if count < frame {
            continue;
        }
        let described = usize::try_from(interface).ok().and_then(|id| reader.interfaces().get(id));
        let Some(described) = described else {
            return Err(FrameError::Format(format!("frame {frame} names an interface the capture does not describe")));
        };
        let name = described.options.iter().find_map(|o| match o {
            InterfaceDescriptionOption::IfName(name) => Some(crate::quote::note(name)),
            _ => None,
        });
        let found = Frame { data, original_len, interface: name };
        return Ok((found, described.linktype));
    }
    Err(FrameError::NoFrame { frame, count })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
    use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
    use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
    use pcap_file::pcapng::PcapNgWriter;
    use std::borrow::Cow;
    use std::time::Duration;

    const PACKETS: [&[u8]; 2] = [&[1; 60], &[2; 64]];

    fn pcap(link: DataLink) -> Vec<u8> {
        let header = PcapHeader { datalink: link, ..PcapHeader::default() };
        let mut writer = PcapWriter::with_header(Vec::new(), header).unwrap();
        for data in PACKETS {
            writer.write_packet(&PcapPacket::new(Duration::ZERO, 100, data)).unwrap();
        }
        writer.into_writer()
    }

    fn pcapng() -> Vec<u8> {
        let mut writer = PcapNgWriter::new(Vec::new()).unwrap();
        let interface = InterfaceDescriptionBlock {
            linktype: DataLink::ETHERNET,
            snaplen: 0,
            options: vec![InterfaceDescriptionOption::IfName(Cow::Borrowed("vif1"))],
        };
        writer.write_pcapng_block(interface).unwrap();
        for data in PACKETS {
            let packet = EnhancedPacketBlock {
                interface_id: 0,
                timestamp: Duration::ZERO,
                original_len: data.len() as u32,
                data: Cow::Borrowed(data),
                options: vec![],
            };
            writer.write_pcapng_block(packet).unwrap();
        }
        writer.into_inner()
    }

    #[test]
    fn frames_of_pcap_and_pcapng() {
        let second = frame_of(&pcap(DataLink::ETHERNET)[..], 2).unwrap();
        assert_eq!((second.data.as_slice(), second.interface.clone(), second.truncated()), (PACKETS[1], None, true));
        let first = frame_of(&pcapng()[..], 1).unwrap();
        assert_eq!(
            (first.data.as_slice(), first.interface.as_deref(), first.truncated()),
            (PACKETS[0], Some("vif1"), false)
        );
    }

    #[test]
    fn refusals_say_why() {
        assert_eq!(frame_of(&pcapng()[..], 3), Err(FrameError::NoFrame { frame: 3, count: 2 }));
        assert!(matches!(frame_of(&pcap(DataLink::RAW)[..], 1), Err(FrameError::NotEthernet { .. })));
        assert!(matches!(frame_of(&b"not a capture"[..], 1), Err(FrameError::Format(_))));
        let mut cut = pcapng();
        cut.truncate(cut.len() - 10);
        assert!(matches!(frame_of(&cut[..], 2), Err(FrameError::Format(_))));
    }
}
