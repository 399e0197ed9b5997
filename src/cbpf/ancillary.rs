//! Linux's ancillary loads: `ld [SKF_AD_OFF + n]` reads socket-buffer
//! metadata instead of packet bytes.

use super::insn::skf;

/// One of the ancillary values the kernel knows (`SKF_AD_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ancillary {
    /// `skb->protocol`, converted to host order.
    Protocol,
    /// `skb->pkt_type`.
    PktType,
    /// `skb->dev->ifindex`.
    IfIndex,
    /// Offset of the netlink attribute of type X, searching from offset A.
    NlAttr,
    /// Offset of the nested netlink attribute of type X inside the one at A.
    NlAttrNest,
    /// `skb->mark`.
    Mark,
    /// `skb->queue_mapping`.
    Queue,
    /// `skb->dev->type`.
    HaType,
    /// `skb->hash`.
    RxHash,
    /// The CPU running the filter.
    Cpu,
    /// `A ^= X`.
    AluXorX,
    /// `skb->vlan_tci`.
    VlanTag,
    /// 1 if a VLAN tag is present, else 0.
    VlanTagPresent,
    /// Payload offset found by the flow dissector.
    PayOffset,
    /// A pseudo-random 32-bit number.
    Random,
    /// `skb->vlan_proto`, converted to host order.
    VlanTpid,
}

/// Every ancillary value, in `SKF_AD_*` order.
pub const ALL: [Ancillary; 16] = [
    Ancillary::Protocol,
    Ancillary::PktType,
    Ancillary::IfIndex,
    Ancillary::NlAttr,
    Ancillary::NlAttrNest,
    Ancillary::Mark,
    Ancillary::Queue,
    Ancillary::HaType,
    Ancillary::RxHash,
    Ancillary::Cpu,
    Ancillary::AluXorX,
    Ancillary::VlanTag,
    Ancillary::VlanTagPresent,
    Ancillary::PayOffset,
    Ancillary::Random,
    Ancillary::VlanTpid,
];

impl Ancillary {
    /// The `SKF_AD_*` number (offset from `SKF_AD_OFF`).
    pub fn number(self) -> i32 {
        ALL.iter().position(|&a| a == self).unwrap_or(0) as i32 * 4
    }

    /// The `k` operand that selects this value: `SKF_AD_OFF + number`.
    pub fn k(self) -> u32 {
        (skf::AD_OFF + self.number()) as u32
    }

    /// The ancillary value selected by a load offset, if `k` is one the
    /// kernel knows (any multiple of 4 in `SKF_AD_OFF..SKF_AD_OFF+SKF_AD_MAX`).
    pub fn from_k(k: u32) -> Option<Ancillary> {
        let n = (k as i32).wrapping_sub(skf::AD_OFF);
        if !(0..skf::AD_MAX).contains(&n) || n % 4 != 0 {
            return None;
        }
        Some(ALL[(n / 4) as usize])
    }

    /// The name tcpdump (libpcap's `bpf_image`) prints inside `[...]`.
    pub fn pcap_name(self) -> &'static str {
        match self {
            Ancillary::Protocol => "proto",
            Ancillary::PktType => "type",
            Ancillary::IfIndex => "ifidx",
            Ancillary::NlAttr => "nla",
            Ancillary::NlAttrNest => "nlan",
            Ancillary::Mark => "mark",
            Ancillary::Queue => "queue",
            Ancillary::HaType => "hatype",
            Ancillary::RxHash => "rxhash",
            Ancillary::Cpu => "cpu",
            Ancillary::AluXorX => "xor_x",
            Ancillary::VlanTag => "vlan_tci",
            Ancillary::VlanTagPresent => "vlanp",
            Ancillary::PayOffset => "poff",
            Ancillary::Random => "random",
            Ancillary::VlanTpid => "vlan_tpid",
        }
    }

    /// The name bpf_asm uses after `#` (`xor_x` is our extension: bpf_asm
    /// has no name for it).
    pub fn asm_name(self) -> &'static str {
        match self {
            Ancillary::VlanTagPresent => "vlan_avail",
            Ancillary::Random => "rand",
            other => other.pcap_name(),
        }
    }

    /// Looks up a name as bpf_asm accepts it (case-insensitive), including
    /// its aliases (`vlan_pr`) and libpcap's spellings (`vlanp`, `random`,
    /// `xor_x`).
    pub fn from_name(name: &str) -> Option<Ancillary> {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "vlan_pr" | "vlan_avail" | "vlanp" => return Some(Ancillary::VlanTagPresent),
            "rand" | "random" => return Some(Ancillary::Random),
            _ => {}
        }
        ALL.iter().copied().find(|a| a.pcap_name() == lower)
    }
}
