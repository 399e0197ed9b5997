//! Socket-buffer metadata that ancillary loads and the special packet areas
//! read.
//!
//! [`Metadata::default`] reproduces what Linux 6.18 gives a filter attached
//! with `SO_ATTACH_FILTER` to an `AF_UNIX` datagram socket (the setting of
//! our kernel tests); each default below was measured there (see the README
//! section "Metadata defaults" for the probes).

/// The receiving network device, when there is one (`skb->dev`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Device {
    /// `dev->ifindex`.
    pub ifindex: u32,
    /// `dev->type` (ARPHRD_*).
    pub hatype: u16,
}

/// The values ancillary loads and the `SKF_NET_OFF`/`SKF_LL_OFF` areas see.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Metadata {
    /// `skb->protocol` as a host-order number (e.g. 0x0800); AF_UNIX: 0.
    pub protocol: u16,
    /// `skb->pkt_type` (3 bits; PACKET_HOST = 0); AF_UNIX: 0.
    pub pkttype: u8,
    /// `skb->dev`. `None` (AF_UNIX) makes `#ifidx` and `#hatype` end the
    /// program at once, returning the current A (measured: `ld #77;
    /// ld #ifidx; ret #1000` delivers 77 bytes).
    pub device: Option<Device>,
    /// `skb->mark`; AF_UNIX: 0.
    pub mark: u32,
    /// `skb->queue_mapping`; AF_UNIX: 0.
    pub queue: u16,
    /// `skb->hash`; AF_UNIX: 0.
    pub rxhash: u32,
    /// The CPU running the filter (the sender's CPU on AF_UNIX); default 0.
    pub cpu: u32,
    /// `skb->vlan_tci`; AF_UNIX: 0.
    pub vlan_tci: u16,
    /// Whether a VLAN tag is present; AF_UNIX: false.
    pub vlan_present: bool,
    /// `skb->vlan_proto` as a host-order number; AF_UNIX: 0.
    pub vlan_tpid: u16,
    /// What `#poff` returns. The kernel runs its flow dissector keyed on
    /// `skb->protocol`; with protocol 0 (AF_UNIX) that fails and gives 0.
    /// We do not emulate the dissector: the caller supplies the value.
    pub pay_offset: u32,
    /// Seed of the sequence `#rand` loads return (successive loads in one
    /// run take successive values; every run starts afresh).
    pub random_seed: u64,
    /// Where `SKF_NET_OFF + n` reads: packet byte `network_offset + n`.
    /// AF_UNIX: 0 (measured: `ldb [SKF_NET_OFF + n]` reads byte n).
    pub network_offset: u32,
    /// Where `SKF_LL_OFF + n` reads: packet byte `mac_offset + n`; `None`
    /// when the link-layer header is unset (AF_UNIX), so every such load
    /// fails and the program returns 0.
    pub mac_offset: Option<u32>,
    /// Packets longer than this are non-linear socket buffers, for which
    /// `#nla` and `#nlan` return 0. AF_UNIX allocates up to
    /// `SKB_MAX_ALLOC` = 16064 bytes linearly (measured: a match at 16064
    /// bytes, none at 16065).
    pub linear_limit: usize,
}

/// `SKB_MAX_ALLOC` on x86-64 with 4 KiB pages: the largest AF_UNIX datagram
/// kept in one linear buffer.
pub const UNIX_LINEAR_LIMIT: usize = 16064;

impl Default for Metadata {
    fn default() -> Metadata {
        Metadata {
            protocol: 0,
            pkttype: 0,
            device: None,
            mark: 0,
            queue: 0,
            rxhash: 0,
            cpu: 0,
            vlan_tci: 0,
            vlan_present: false,
            vlan_tpid: 0,
            pay_offset: 0,
            random_seed: 0,
            network_offset: 0,
            mac_offset: None,
            linear_limit: UNIX_LINEAR_LIMIT,
        }
    }
}

/// Why a `key=value` metadata setting was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaError(pub String);

impl std::fmt::Display for MetaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MetaError {}

fn number(key: &str, value: &str, max: u64) -> Result<u64, MetaError> {
    let parsed = match value
        .strip_prefix("0x")
        .or_else(|| value.strip_prefix("0X"))
    {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => value.parse::<u64>(),
    };
    match parsed {
        Ok(v) if v <= max => Ok(v),
        Ok(v) => Err(MetaError(format!(
            "{key}={value}: {v} is larger than {max}"
        ))),
        Err(_) => Err(MetaError(format!("{key}={value}: not a number"))),
    }
}

impl Metadata {
    /// Names accepted by [`Metadata::set`].
    pub const KEYS: &'static [&'static str] = &[
        "protocol",
        "pkttype",
        "ifindex",
        "hatype",
        "mark",
        "queue",
        "rxhash",
        "cpu",
        "vlan_tci",
        "vlan_present",
        "vlan_tpid",
        "pay_offset",
        "random_seed",
        "network_offset",
        "mac_offset",
        "linear_limit",
    ];

    /// Sets one field from `key=value` text (numbers in decimal or 0x hex;
    /// `mac_offset=none` unsets it). Setting `ifindex` or `hatype` creates
    /// a device (the other field 0 until set).
    pub fn set(&mut self, setting: &str) -> Result<(), MetaError> {
        let Some((key, value)) = setting.split_once('=') else {
            return Err(MetaError(format!(
                "metadata `{setting}`: expected key=value"
            )));
        };
        let (key, value) = (key.trim(), value.trim());
        let u16max = u16::MAX as u64;
        let u32max = u32::MAX as u64;
        match key {
            "protocol" => self.protocol = number(key, value, u16max)? as u16,
            "pkttype" => self.pkttype = number(key, value, 7)? as u8,
            "ifindex" | "hatype" => {
                let mut dev = self.device.unwrap_or(Device {
                    ifindex: 0,
                    hatype: 0,
                });
                if key == "ifindex" {
                    dev.ifindex = number(key, value, u32max)? as u32;
                } else {
                    dev.hatype = number(key, value, u16max)? as u16;
                }
                self.device = Some(dev);
            }
            "mark" => self.mark = number(key, value, u32max)? as u32,
            "queue" => self.queue = number(key, value, u16max)? as u16,
            "rxhash" => self.rxhash = number(key, value, u32max)? as u32,
            "cpu" => self.cpu = number(key, value, u32max)? as u32,
            "vlan_tci" => self.vlan_tci = number(key, value, u16max)? as u16,
            "vlan_present" => self.vlan_present = number(key, value, 1)? == 1,
            "vlan_tpid" => self.vlan_tpid = number(key, value, u16max)? as u16,
            "pay_offset" => self.pay_offset = number(key, value, u32max)? as u32,
            "random_seed" => self.random_seed = number(key, value, u64::MAX)?,
            "network_offset" => self.network_offset = number(key, value, u32max)? as u32,
            "mac_offset" if value.eq_ignore_ascii_case("none") => self.mac_offset = None,
            "mac_offset" => self.mac_offset = Some(number(key, value, u32max)? as u32),
            "linear_limit" => self.linear_limit = number(key, value, usize::MAX as u64)? as usize,
            _ => {
                return Err(MetaError(format!(
                    "unknown metadata key `{key}` (known: {})",
                    Metadata::KEYS.join(", ")
                )))
            }
        }
        Ok(())
    }
}
