//! Link-layer header types the expression compiler knows, with their
//! pcap/DLT numbers and the header layout libpcap assumes for each.

use std::fmt;

/// A link-layer header type (pcap `LINKTYPE_*` / `DLT_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// BSD loopback: 4-byte address family in the capturing host's byte order.
    Null,
    /// Ethernet II / 802.3 (`EN10MB`).
    Ethernet,
    /// Raw IP, version taken from the first nibble (`RAW`).
    Raw,
    /// OpenBSD loopback: 4-byte address family in network byte order.
    Loop,
    /// Linux cooked capture v1 (`LINUX_SLL`).
    LinuxSll,
    /// Raw IPv4 only (`IPV4`).
    Ipv4,
    /// Raw IPv6 only (`IPV6`).
    Ipv6,
    /// Linux cooked capture v2 (`LINUX_SLL2`).
    LinuxSll2,
}

/// Every supported link type, in DLT order.
pub const ALL_LINK_TYPES: [LinkType; 8] = [
    LinkType::Null,
    LinkType::Ethernet,
    LinkType::Raw,
    LinkType::Loop,
    LinkType::LinuxSll,
    LinkType::Ipv4,
    LinkType::Ipv6,
    LinkType::LinuxSll2,
];

impl LinkType {
    /// The `LINKTYPE_*` number used in pcap file headers.
    pub const fn dlt(self) -> u32 {
        match self {
            LinkType::Null => 0,
            LinkType::Ethernet => 1,
            LinkType::Raw => 101,
            LinkType::Loop => 108,
            LinkType::LinuxSll => 113,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
            LinkType::LinuxSll2 => 276,
        }
    }

    /// The link type with this `LINKTYPE_*` number. Also accepts the
    /// platform `DLT_RAW` values 12 and 14, which pcap files may carry.
    pub fn from_dlt(dlt: u32) -> Option<LinkType> {
        match dlt {
            12 | 14 => Some(LinkType::Raw),
            _ => ALL_LINK_TYPES.into_iter().find(|l| l.dlt() == dlt),
        }
    }

    /// The name tcpdump and libpcap use (`tcpdump -y NAME`).
    pub const fn name(self) -> &'static str {
        match self {
            LinkType::Null => "NULL",
            LinkType::Ethernet => "EN10MB",
            LinkType::Raw => "RAW",
            LinkType::Loop => "LOOP",
            LinkType::LinuxSll => "LINUX_SLL",
            LinkType::Ipv4 => "IPV4",
            LinkType::Ipv6 => "IPV6",
            LinkType::LinuxSll2 => "LINUX_SLL2",
        }
    }

    /// libpcap's description (`pcap_datalink_val_to_description`), which
    /// its error messages use.
    pub const fn description(self) -> &'static str {
        match self {
            LinkType::Null => "BSD loopback",
            LinkType::Ethernet => "Ethernet",
            LinkType::Raw => "Raw IP",
            LinkType::Loop => "OpenBSD loopback",
            LinkType::LinuxSll => "Linux cooked v1",
            LinkType::Ipv4 => "Raw IPv4",
            LinkType::Ipv6 => "Raw IPv6",
            LinkType::LinuxSll2 => "Linux cooked v2",
        }
    }

    /// Parses a libpcap name (case-insensitive; `ETHERNET` is accepted too).
    pub fn from_name(name: &str) -> Option<LinkType> {
        let upper = name.to_ascii_uppercase();
        if upper == "ETHERNET" || upper == "ETH" {
            return Some(LinkType::Ethernet);
        }
        ALL_LINK_TYPES.into_iter().find(|l| l.name() == upper)
    }

    /// Offset of the network-layer header from the start of the packet.
    pub(crate) const fn network_offset(self) -> u32 {
        match self {
            LinkType::Null | LinkType::Loop => 4,
            LinkType::Ethernet => 14,
            LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => 0,
            LinkType::LinuxSll => 16,
            LinkType::LinuxSll2 => 20,
        }
    }

    /// Offset of the 2-byte ethertype field, for link types that have one.
    pub(crate) const fn ethertype_offset(self) -> Option<u32> {
        match self {
            LinkType::Ethernet => Some(12),
            LinkType::LinuxSll => Some(14),
            LinkType::LinuxSll2 => Some(0),
            _ => None,
        }
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
