//! Link-layer header types the expression compiler knows, with their
//! pcap/DLT numbers and the header layout libpcap assumes for each.

use std::fmt;

/// A link-layer header type (pcap `LINKTYPE_*` / `DLT_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
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
    /// IEEE 802.5 token ring (`IEEE802`): LLC after a 14-byte MAC header.
    TokenRing,
    /// FDDI: LLC after a 13-byte MAC header.
    Fddi,
    /// IEEE 802.11 wireless LAN (`IEEE802_11`): a MAC header whose length
    /// depends on the frame type, then LLC/SNAP.
    Ieee80211,
    /// 802.11 after a Prism (or, as some Linux drivers send, AVS) radio
    /// header (`PRISM_HEADER`).
    PrismHeader,
    /// RFC 2625 IP over Fibre Channel (`IP_OVER_FC`): LLC after a
    /// 16-byte network header.
    IpOverFc,
    /// 802.11 after a radiotap header (`IEEE802_11_RADIO`).
    Ieee80211Radio,
    /// 802.11 after an AVS radio header (`IEEE802_11_RADIO_AVS`).
    Ieee80211RadioAvs,
    /// Per-Packet Information header, then (for filtering) 802.11 (`PPI`).
    Ppi,
}

/// Every supported link type, in DLT order.
pub const ALL_LINK_TYPES: [LinkType; 16] = [
    LinkType::Null,
    LinkType::Ethernet,
    LinkType::TokenRing,
    LinkType::Fddi,
    LinkType::Raw,
    LinkType::Ieee80211,
    LinkType::Loop,
    LinkType::LinuxSll,
    LinkType::PrismHeader,
    LinkType::IpOverFc,
    LinkType::Ieee80211Radio,
    LinkType::Ieee80211RadioAvs,
    LinkType::Ppi,
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
            LinkType::TokenRing => 6,
            LinkType::Fddi => 10,
            LinkType::Ieee80211 => 105,
            LinkType::PrismHeader => 119,
            LinkType::IpOverFc => 122,
            LinkType::Ieee80211Radio => 127,
            LinkType::Ieee80211RadioAvs => 163,
            LinkType::Ppi => 192,
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
            LinkType::TokenRing => "IEEE802",
            LinkType::Fddi => "FDDI",
            LinkType::Ieee80211 => "IEEE802_11",
            LinkType::PrismHeader => "PRISM_HEADER",
            LinkType::IpOverFc => "IP_OVER_FC",
            LinkType::Ieee80211Radio => "IEEE802_11_RADIO",
            LinkType::Ieee80211RadioAvs => "IEEE802_11_RADIO_AVS",
            LinkType::Ppi => "PPI",
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
            LinkType::TokenRing => "Token ring",
            LinkType::Fddi => "FDDI",
            LinkType::Ieee80211 => "802.11",
            LinkType::PrismHeader => "802.11 plus Prism header",
            LinkType::IpOverFc => "RFC 2625 IP-over-Fibre Channel",
            LinkType::Ieee80211Radio => "802.11 plus radiotap header",
            LinkType::Ieee80211RadioAvs => "802.11 plus AVS radio information header",
            LinkType::Ppi => "Per-Packet Information",
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

    /// Offset of the network-layer header from the start of the packet,
    /// for link types whose headers have a fixed length; for 802.11 and
    /// its radio headers, the offset from the end of the 802.11 header
    /// (computed per packet).
    pub(crate) const fn network_offset(self) -> u32 {
        match self {
            LinkType::Null | LinkType::Loop => 4,
            LinkType::Ethernet => 14,
            LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => 0,
            LinkType::LinuxSll => 16,
            LinkType::LinuxSll2 => 20,
            // 802.2 LLC + SNAP (8 bytes) after the MAC header.
            _ => self.llc_offset() + 8,
        }
    }

    /// Offset of the 802.2 LLC header for link types that carry one
    /// (libpcap's `off_linkpl`): after the MAC header, which for the
    /// 802.11 family is relative to the end of the 802.11 header.
    pub(crate) const fn llc_offset(self) -> u32 {
        match self {
            LinkType::Ethernet => 14,
            LinkType::TokenRing => 14,
            LinkType::Fddi => 13,
            LinkType::IpOverFc => 16,
            _ => 0,
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

    /// The 802.11 family: 802.11 frames, bare or after a radio header.
    pub(crate) const fn is_802_11(self) -> bool {
        matches!(
            self,
            LinkType::Ieee80211
                | LinkType::PrismHeader
                | LinkType::Ieee80211Radio
                | LinkType::Ieee80211RadioAvs
                | LinkType::Ppi
        )
    }

    /// Whether a variable-length radio header precedes the 802.11 header.
    pub(crate) const fn has_radio_header(self) -> bool {
        self.is_802_11() && !matches!(self, LinkType::Ieee80211)
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
