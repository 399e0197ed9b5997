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
    /// OpenBSD pf's log: a header of the length its first byte gives
    /// (rounded up to 4), then IP (`PFLOG`).
    Pflog,
    /// ARCnet (BSD): 1-byte addresses, protocol at 2 (`ARCNET`).
    Arcnet,
    /// ARCnet (Linux): protocol at 4 (`ARCNET_LINUX`).
    ArcnetLinux,
    /// SLIP with a 16-byte BSD pseudo-header (direction first) (`SLIP`).
    Slip,
    /// PPP in HDLC-like framing: 2-byte protocol at 2 (`PPP`).
    Ppp,
    /// PPP over serial lines, HDLC-framed as `PPP` (`PPP_SERIAL`).
    PppSerial,
    /// PPPoE session payload: PPP protocol at 6 (`PPP_ETHER`).
    PppEther,
    /// BSD/OS SLIP: 24-byte pseudo-header (`SLIP_BSDOS`).
    SlipBsdos,
    /// BSD/OS PPP: protocol at 5, payload at 24 (`PPP_BSDOS`).
    PppBsdos,
    /// Cisco HDLC: an ethertype at 2 (`C_HDLC`).
    CHdlc,
    /// PPP from pppd, direction in the first byte (`PPP_PPPD`).
    PppPppd,
    /// RFC 1483 LLC-encapsulated ATM: the packet starts with 802.2 LLC
    /// (`ATM_RFC1483`).
    AtmRfc1483,
    /// Linux Classical IP over ATM, LLC-encapsulated as `ATM_RFC1483`
    /// (`ATM_CLIP`).
    AtmClip,
    /// Sun raw ATM: a 4-byte pseudo-header (traffic type, VPI, VCI), then
    /// an LLC-encapsulated or LANE AAL5 PDU (`SUNATM`).
    SunAtm,
    /// Symantec Enterprise Firewall: an ethertype at 6, the network
    /// layer at 44 (`SYMANTEC_FIREWALL`).
    SymantecFirewall,
    /// Apple IP over IEEE 1394: an ethertype at 16, the network layer at
    /// 18 (`APPLE_IP_OVER_IEEE1394`).
    AppleIpOverIeee1394,
    /// Ethernet after Hilscher's 4-byte netANALYZER pseudo-header
    /// (`NETANALYZER`).
    Netanalyzer,
    /// Ethernet with preamble and SFD after the netANALYZER pseudo-header
    /// (`NETANALYZER_TRANSPARENT`).
    NetanalyzerTransparent,
    /// Another link type libpcap's compiler takes (`LINKTYPE_*` 104–289,
    /// named in [`OTHER_LINK_TYPES`]): what needs no link-layer knowledge
    /// compiles (`link[…]`, `byte`, `len`, `less`/`greater`,
    /// `inbound`/`outbound`, `ifindex`); protocols compile where libpcap's
    /// compiler knows the header (Juniper's PICs, BACnet MS/TP, Frame
    /// Relay, Solaris ipnet, OpenBSD enc, LocalTalk; the SS7 primitives on
    /// MTP2 and ERF) and are refused in libpcap's words elsewhere.
    Other(u16),
}

/// The other link types in the range libpcap 1.10's compiler takes
/// (`LINKTYPE_MATCHING_MIN`..`MAX`, 104–289): number, name and
/// description (`pcap_datalink_val_to_description_or_dlt`), as the
/// installed libpcap reports them. The numbers libpcap does not name
/// (`USER0`–`USER15`, unassigned ones) are called `USERn` (tcpdump.org's
/// names) or `LINKTYPE_n`, described `DLT n` as libpcap's messages say.
pub const OTHER_LINK_TYPES: &[(u16, &str, &str)] = &[
    (107, "FRELAY", "Frame Relay"),
    (109, "ENC", "OpenBSD encapsulated IP"),
    (110, "LINKTYPE_110", "DLT 110"),
    (111, "LINKTYPE_111", "DLT 111"),
    (112, "LINKTYPE_112", "DLT 112"),
    (114, "LTALK", "Localtalk"),
    (115, "LINKTYPE_115", "DLT 115"),
    (116, "LINKTYPE_116", "DLT 116"),
    (118, "LINKTYPE_118", "DLT 118"),
    (120, "LINKTYPE_120", "DLT 120"),
    (121, "LINKTYPE_121", "DLT 121"),
    (123, "SUNATM", "Sun raw ATM"),
    (124, "LINKTYPE_124", "DLT 124"),
    (125, "LINKTYPE_125", "DLT 125"),
    (126, "LINKTYPE_126", "DLT 126"),
    (128, "LINKTYPE_128", "DLT 128"),
    (130, "JUNIPER_MLPPP", "Juniper Multi-Link PPP"),
    (131, "JUNIPER_MLFR", "Juniper Multi-Link Frame Relay"),
    (132, "JUNIPER_ES", "Juniper Encryption Services PIC"),
    (133, "JUNIPER_GGSN", "Juniper GGSN PIC"),
    (134, "JUNIPER_MFR", "Juniper FRF.16 Frame Relay"),
    (135, "JUNIPER_ATM2", "Juniper ATM2 PIC"),
    (136, "JUNIPER_SERVICES", "Juniper Advanced Services PIC"),
    (137, "JUNIPER_ATM1", "Juniper ATM1 PIC"),
    (139, "MTP2_WITH_PHDR", "SS7 MTP2 with Pseudo-header"),
    (140, "MTP2", "SS7 MTP2"),
    (141, "MTP3", "SS7 MTP3"),
    (142, "SCCP", "SS7 SCCP"),
    (143, "DOCSIS", "DOCSIS"),
    (144, "LINUX_IRDA", "Linux IrDA"),
    (145, "LINKTYPE_145", "DLT 145"),
    (146, "LINKTYPE_146", "DLT 146"),
    (147, "USER0", "DLT 147"),
    (148, "USER1", "DLT 148"),
    (149, "USER2", "DLT 149"),
    (150, "USER3", "DLT 150"),
    (151, "USER4", "DLT 151"),
    (152, "USER5", "DLT 152"),
    (153, "USER6", "DLT 153"),
    (154, "USER7", "DLT 154"),
    (155, "USER8", "DLT 155"),
    (156, "USER9", "DLT 156"),
    (157, "USER10", "DLT 157"),
    (158, "USER11", "DLT 158"),
    (159, "USER12", "DLT 159"),
    (160, "USER13", "DLT 160"),
    (161, "USER14", "DLT 161"),
    (162, "USER15", "DLT 162"),
    (164, "JUNIPER_MONITOR", "Juniper Passive Monitor PIC"),
    (165, "BACNET_MS_TP", "BACnet MS/TP"),
    (167, "JUNIPER_PPPOE", "Juniper PPPoE"),
    (168, "JUNIPER_PPPOE_ATM", "Juniper PPPoE/ATM"),
    (169, "GPRS_LLC", "GPRS LLC"),
    (170, "GPF_T", "GPF-T"),
    (171, "GPF_F", "GPF-F"),
    (172, "LINKTYPE_172", "DLT 172"),
    (173, "LINKTYPE_173", "DLT 173"),
    (174, "JUNIPER_PIC_PEER", "Juniper PIC Peer"),
    (175, "ERF_ETH", "Ethernet with Endace ERF header"),
    (176, "ERF_POS", "Packet-over-SONET with Endace ERF header"),
    (177, "LINUX_LAPD", "Linux vISDN LAPD"),
    (178, "JUNIPER_ETHER", "Juniper Ethernet"),
    (179, "JUNIPER_PPP", "Juniper PPP"),
    (180, "JUNIPER_FRELAY", "Juniper Frame Relay"),
    (181, "JUNIPER_CHDLC", "Juniper C-HDLC"),
    (182, "MFR", "FRF.16 Frame Relay"),
    (183, "JUNIPER_VP", "Juniper Voice PIC"),
    (184, "A429", "Arinc 429"),
    (185, "A653_ICM", "Arinc 653 Interpartition Communication"),
    (186, "USB_FREEBSD", "USB with FreeBSD header"),
    (
        187,
        "BLUETOOTH_HCI_H4",
        "Bluetooth HCI UART transport layer",
    ),
    (
        188,
        "IEEE802_16_MAC_CPS",
        "IEEE 802.16 MAC Common Part Sublayer",
    ),
    (189, "USB_LINUX", "USB with Linux header"),
    (190, "CAN20B", "Controller Area Network (CAN) v. 2.0B"),
    (
        191,
        "IEEE802_15_4_LINUX",
        "IEEE 802.15.4 with Linux padding",
    ),
    (
        193,
        "IEEE802_16_MAC_CPS_RADIO",
        "IEEE 802.16 MAC Common Part Sublayer plus radiotap header",
    ),
    (194, "JUNIPER_ISM", "Juniper Integrated Service Module"),
    (195, "IEEE802_15_4", "IEEE 802.15.4 with FCS"),
    (196, "SITA", "SITA pseudo-header"),
    (197, "ERF", "Endace ERF header"),
    (198, "RAIF1", "Ethernet with u10 Networks pseudo-header"),
    (199, "IPMB_KONTRON", "IPMB with Kontron pseudo-header"),
    (200, "JUNIPER_ST", "Juniper Secure Tunnel"),
    (
        201,
        "BLUETOOTH_HCI_H4_WITH_PHDR",
        "Bluetooth HCI UART transport layer plus pseudo-header",
    ),
    (202, "AX25_KISS", "AX.25 with KISS header"),
    (203, "LINKTYPE_203", "DLT 203"),
    (204, "LINKTYPE_204", "DLT 204"),
    (205, "LINKTYPE_205", "DLT 205"),
    (206, "LINKTYPE_206", "DLT 206"),
    (207, "LINKTYPE_207", "DLT 207"),
    (208, "LINKTYPE_208", "DLT 208"),
    (
        209,
        "IPMB_LINUX",
        "IPMB with Linux/Pigeon Point pseudo-header",
    ),
    (210, "LINKTYPE_210", "DLT 210"),
    (211, "LINKTYPE_211", "DLT 211"),
    (212, "LINKTYPE_212", "DLT 212"),
    (213, "LINKTYPE_213", "DLT 213"),
    (214, "LINKTYPE_214", "DLT 214"),
    (
        215,
        "IEEE802_15_4_NONASK_PHY",
        "IEEE 802.15.4 with non-ASK PHY data",
    ),
    (216, "LINUX_EVDEV", "Linux evdev events"),
    (217, "LINKTYPE_217", "DLT 217"),
    (218, "LINKTYPE_218", "DLT 218"),
    (219, "MPLS", "MPLS with label as link-layer header"),
    (220, "USB_LINUX_MMAPPED", "USB with padded Linux header"),
    (221, "DECT", "DECT"),
    (222, "AOS", "AOS Space Data Link protocol"),
    (223, "WIHART", "Wireless HART"),
    (224, "FC_2", "Fibre Channel FC-2"),
    (
        225,
        "FC_2_WITH_FRAME_DELIMS",
        "Fibre Channel FC-2 with frame delimiters",
    ),
    (226, "IPNET", "Solaris ipnet"),
    (227, "CAN_SOCKETCAN", "CAN-bus with SocketCAN headers"),
    (230, "IEEE802_15_4_NOFCS", "IEEE 802.15.4 without FCS"),
    (231, "DBUS", "D-Bus"),
    (232, "JUNIPER_VS", "Juniper Virtual Server"),
    (233, "JUNIPER_SRX_E2E", "Juniper SRX E2E"),
    (234, "JUNIPER_FIBRECHANNEL", "Juniper Fibre Channel"),
    (235, "DVB_CI", "DVB-CI"),
    (236, "MUX27010", "MUX27010"),
    (237, "STANAG_5066_D_PDU", "STANAG 5066 D_PDUs"),
    (238, "JUNIPER_ATM_CEMIC", "Juniper ATM CEMIC"),
    (239, "NFLOG", "Linux netfilter log messages"),
    (242, "IPOIB", "RFC 4391 IP-over-Infiniband"),
    (243, "MPEG_2_TS", "MPEG-2 transport stream"),
    (244, "NG40", "ng40 protocol tester Iub/Iur"),
    (245, "NFC_LLCP", "NFC LLCP PDUs with pseudo-header"),
    (246, "PFSYNC", "Packet filter state syncing"),
    (247, "INFINIBAND", "InfiniBand"),
    (248, "SCTP", "SCTP"),
    (249, "USBPCAP", "USB with USBPcap header"),
    (
        250,
        "RTAC_SERIAL",
        "Schweitzer Engineering Laboratories RTAC packets",
    ),
    (251, "BLUETOOTH_LE_LL", "Bluetooth Low Energy air interface"),
    (252, "LINKTYPE_252", "DLT 252"),
    (253, "NETLINK", "Linux netlink"),
    (254, "BLUETOOTH_LINUX_MONITOR", "Bluetooth Linux Monitor"),
    (
        255,
        "BLUETOOTH_BREDR_BB",
        "Bluetooth Basic Rate/Enhanced Data Rate baseband packets",
    ),
    (
        256,
        "BLUETOOTH_LE_LL_WITH_PHDR",
        "Bluetooth Low Energy air interface with pseudo-header",
    ),
    (257, "PROFIBUS_DL", "PROFIBUS data link layer"),
    (258, "PKTAP", "Apple DLT_PKTAP"),
    (259, "EPON", "Ethernet with 802.3 Clause 65 EPON preamble"),
    (260, "IPMI_HPM_2", "IPMI trace packets"),
    (261, "ZWAVE_R1_R2", "Z-Wave RF profile R1 and R2 packets"),
    (262, "ZWAVE_R3", "Z-Wave RF profile R3 packets"),
    (
        263,
        "WATTSTOPPER_DLM",
        "WattStopper Digital Lighting Management (DLM) and Legrand Nitoo Open protocol",
    ),
    (264, "ISO_14443", "ISO 14443 messages"),
    (265, "RDS", "IEC 62106 Radio Data System groups"),
    (266, "USB_DARWIN", "USB with Darwin header"),
    (267, "OPENFLOW", "OpenBSD DLT_OPENFLOW"),
    (268, "SDLC", "IBM SDLC frames"),
    (269, "TI_LLN_SNIFFER", "TI LLN sniffer frames"),
    (270, "LINKTYPE_270", "DLT 270"),
    (271, "VSOCK", "Linux vsock"),
    (
        272,
        "NORDIC_BLE",
        "Nordic Semiconductor Bluetooth LE sniffer frames",
    ),
    (
        273,
        "DOCSIS31_XRA31",
        "Excentis XRA-31 DOCSIS 3.1 RF sniffer frames",
    ),
    (274, "ETHERNET_MPACKET", "802.3br mPackets"),
    (
        275,
        "DISPLAYPORT_AUX",
        "DisplayPort AUX channel monitoring data",
    ),
    (277, "LINKTYPE_277", "DLT 277"),
    (278, "OPENVIZSLA", "OpenVizsla USB"),
    (
        279,
        "EBHSCR",
        "Elektrobit High Speed Capture and Replay (EBHSCR)",
    ),
    (280, "VPP_DISPATCH", "VPP graph dispatch tracer"),
    (281, "DSA_TAG_BRCM", "Broadcom tag"),
    (282, "DSA_TAG_BRCM_PREPEND", "Broadcom tag (prepended)"),
    (283, "IEEE802_15_4_TAP", "IEEE 802.15.4 with pseudo-header"),
    (284, "DSA_TAG_DSA", "Marvell DSA"),
    (285, "DSA_TAG_EDSA", "Marvell EDSA"),
    (286, "ELEE", "ELEE lawful intercept packets"),
    (
        287,
        "Z_WAVE_SERIAL",
        "Z-Wave serial frames between host and chip",
    ),
    (
        288,
        "USB_2_0",
        "USB 2.0/1.1/1.0 as transmitted over the cable",
    ),
    (289, "ATSC_ALP", "ATSC Link-Layer Protocol packets"),
];

/// Every supported link type, in DLT order.
pub const ALL_LINK_TYPES: [LinkType; 34] = [
    LinkType::Null,
    LinkType::Ethernet,
    LinkType::TokenRing,
    LinkType::Arcnet,
    LinkType::Slip,
    LinkType::Ppp,
    LinkType::Fddi,
    LinkType::PppSerial,
    LinkType::PppEther,
    LinkType::SymantecFirewall,
    LinkType::AtmRfc1483,
    LinkType::Raw,
    LinkType::SlipBsdos,
    LinkType::PppBsdos,
    LinkType::CHdlc,
    LinkType::Ieee80211,
    LinkType::AtmClip,
    LinkType::Loop,
    LinkType::LinuxSll,
    LinkType::Pflog,
    LinkType::PrismHeader,
    LinkType::IpOverFc,
    LinkType::SunAtm,
    LinkType::ArcnetLinux,
    LinkType::AppleIpOverIeee1394,
    LinkType::Ieee80211Radio,
    LinkType::Ieee80211RadioAvs,
    LinkType::PppPppd,
    LinkType::Ppi,
    LinkType::Ipv4,
    LinkType::Ipv6,
    LinkType::Netanalyzer,
    LinkType::NetanalyzerTransparent,
    LinkType::LinuxSll2,
];

impl LinkType {
    /// The link type's `LINKTYPE_*` number, libpcap name and libpcap
    /// description, in one place.
    fn facts(self) -> (u32, &'static str, &'static str) {
        match self {
            LinkType::Null => (0, "NULL", "BSD loopback"),
            LinkType::Ethernet => (1, "EN10MB", "Ethernet"),
            LinkType::Raw => (101, "RAW", "Raw IP"),
            LinkType::Loop => (108, "LOOP", "OpenBSD loopback"),
            LinkType::LinuxSll => (113, "LINUX_SLL", "Linux cooked v1"),
            LinkType::Ipv4 => (228, "IPV4", "Raw IPv4"),
            LinkType::Ipv6 => (229, "IPV6", "Raw IPv6"),
            LinkType::LinuxSll2 => (276, "LINUX_SLL2", "Linux cooked v2"),
            LinkType::TokenRing => (6, "IEEE802", "Token ring"),
            LinkType::Fddi => (10, "FDDI", "FDDI"),
            LinkType::Ieee80211 => (105, "IEEE802_11", "802.11"),
            LinkType::PrismHeader => (119, "PRISM_HEADER", "802.11 plus Prism header"),
            LinkType::IpOverFc => (122, "IP_OVER_FC", "RFC 2625 IP-over-Fibre Channel"),
            LinkType::Ieee80211Radio => (127, "IEEE802_11_RADIO", "802.11 plus radiotap header"),
            LinkType::Ieee80211RadioAvs => (
                163,
                "IEEE802_11_RADIO_AVS",
                "802.11 plus AVS radio information header",
            ),
            LinkType::Ppi => (192, "PPI", "Per-Packet Information"),
            LinkType::Pflog => (117, "PFLOG", "OpenBSD pflog file"),
            LinkType::Arcnet => (7, "ARCNET", "BSD ARCNET"),
            LinkType::ArcnetLinux => (129, "ARCNET_LINUX", "Linux ARCNET"),
            LinkType::Slip => (8, "SLIP", "SLIP"),
            LinkType::Ppp => (9, "PPP", "PPP"),
            LinkType::PppSerial => (50, "PPP_SERIAL", "PPP over serial"),
            LinkType::PppEther => (51, "PPP_ETHER", "PPPoE"),
            LinkType::SlipBsdos => (102, "SLIP_BSDOS", "BSD/OS SLIP"),
            LinkType::PppBsdos => (103, "PPP_BSDOS", "BSD/OS PPP"),
            LinkType::CHdlc => (104, "C_HDLC", "Cisco HDLC"),
            LinkType::PppPppd => (166, "PPP_PPPD", "PPP for pppd, with direction flag"),
            LinkType::AtmRfc1483 => (100, "ATM_RFC1483", "RFC 1483 LLC-encapsulated ATM"),
            LinkType::AtmClip => (106, "ATM_CLIP", "Linux Classical IP over ATM"),
            LinkType::SunAtm => (123, "SUNATM", "Sun raw ATM"),
            LinkType::SymantecFirewall => (99, "SYMANTEC_FIREWALL", "Symantec Firewall"),
            LinkType::AppleIpOverIeee1394 => {
                (138, "APPLE_IP_OVER_IEEE1394", "Apple IP-over-IEEE 1394")
            }
            LinkType::Netanalyzer => (
                240,
                "NETANALYZER",
                "Ethernet with Hilscher netANALYZER pseudo-header",
            ),
            LinkType::NetanalyzerTransparent => (
                241,
                "NETANALYZER_TRANSPARENT",
                "Ethernet with Hilscher netANALYZER pseudo-header and with preamble and SFD",
            ),
            LinkType::Other(n) => {
                let (n, name, description) = other(n);
                (u32::from(n), name, description)
            }
        }
    }

    /// The `LINKTYPE_*` number used in pcap file headers.
    pub fn dlt(self) -> u32 {
        self.facts().0
    }

    /// The link type with this `LINKTYPE_*` number. Also accepts the
    /// platform `DLT_*` values pcap files may carry where they differ:
    /// `DLT_RAW` 12 and 14, `DLT_ATM_RFC1483` 11, `DLT_ATM_CLIP` 19.
    pub fn from_dlt(dlt: u32) -> Option<LinkType> {
        match dlt {
            12 | 14 => Some(LinkType::Raw),
            11 => Some(LinkType::AtmRfc1483),
            19 => Some(LinkType::AtmClip),
            _ => ALL_LINK_TYPES
                .into_iter()
                .find(|l| l.dlt() == dlt)
                .or_else(|| {
                    OTHER_LINK_TYPES
                        .iter()
                        .find(|o| u32::from(o.0) == dlt)
                        .map(|o| LinkType::Other(o.0))
                }),
        }
    }

    /// The name tcpdump and libpcap use (`tcpdump -y NAME`).
    pub fn name(self) -> &'static str {
        self.facts().1
    }

    /// libpcap's description (`pcap_datalink_val_to_description`), which
    /// its error messages use.
    pub fn description(self) -> &'static str {
        self.facts().2
    }

    /// Parses a libpcap name (case-insensitive; `ETHERNET` is accepted too).
    pub fn from_name(name: &str) -> Option<LinkType> {
        let upper = name.to_ascii_uppercase();
        if upper == "ETHERNET" || upper == "ETH" {
            return Some(LinkType::Ethernet);
        }
        ALL_LINK_TYPES
            .into_iter()
            .find(|l| l.name() == upper)
            .or_else(|| {
                OTHER_LINK_TYPES
                    .iter()
                    .find(|o| o.1 == upper)
                    .map(|o| LinkType::Other(o.0))
            })
    }

    /// Offset of the network-layer header from the start of the packet,
    /// for link types whose headers have a fixed length; for 802.11 and
    /// its radio headers, the offset from the end of the 802.11 header
    /// (computed per packet).
    pub(crate) const fn network_offset(self) -> u32 {
        match self {
            LinkType::Null | LinkType::Loop => 4,
            LinkType::Ethernet => 14,
            LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 | LinkType::Pflog => 0,
            LinkType::Netanalyzer => 18,
            LinkType::NetanalyzerTransparent => 26,
            LinkType::SymantecFirewall => 44,
            LinkType::AppleIpOverIeee1394 => 18,
            LinkType::LinuxSll => 16,
            LinkType::LinuxSll2 => 20,
            LinkType::Ppp | LinkType::PppSerial | LinkType::CHdlc | LinkType::PppPppd => 4,
            LinkType::PppEther | LinkType::ArcnetLinux => 8,
            LinkType::Arcnet => 6,
            LinkType::Slip => 16,
            LinkType::SlipBsdos | LinkType::PppBsdos => 24,
            LinkType::Other(_) => match self.other_protocols() {
                Some((_, nl, _)) => nl,
                None => 8,
            },
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
            LinkType::LinuxSll => 16,
            LinkType::LinuxSll2 => 20,
            LinkType::TokenRing => 14,
            LinkType::Fddi => 13,
            LinkType::IpOverFc => 16,
            LinkType::SunAtm => 4,
            LinkType::Netanalyzer => 18,
            LinkType::NetanalyzerTransparent => 26,
            LinkType::SymantecFirewall => 44,
            LinkType::AppleIpOverIeee1394 => 18,
            _ => 0,
        }
    }

    /// Offset of the 2-byte ethertype field, for link types that have one.
    pub(crate) const fn ethertype_offset(self) -> Option<u32> {
        match self {
            LinkType::Ethernet => Some(12),
            LinkType::LinuxSll => Some(14),
            LinkType::LinuxSll2 => Some(0),
            LinkType::Ppp | LinkType::PppSerial | LinkType::CHdlc | LinkType::PppPppd => Some(2),
            LinkType::PppEther => Some(6),
            LinkType::PppBsdos => Some(5),
            LinkType::Arcnet => Some(2),
            LinkType::ArcnetLinux => Some(4),
            LinkType::Netanalyzer => Some(16),
            LinkType::NetanalyzerTransparent => Some(24),
            LinkType::SymantecFirewall => Some(6),
            LinkType::AppleIpOverIeee1394 => Some(16),
            _ => None,
        }
    }

    /// Where the link-layer header starts: Ethernet's after netANALYZER's
    /// pseudo-header (and preamble), else at the packet's start (802.11's
    /// radio headers are measured per packet).
    pub(crate) const fn link_header_offset(self) -> u32 {
        match self {
            LinkType::Netanalyzer => 4,
            LinkType::NetanalyzerTransparent => 12,
            _ => 0,
        }
    }

    /// A header with an ethertype at a fixed place whose payload libpcap
    /// takes to start without an LLC header (its `off_nl_nosnap` 0): the
    /// Linux cooked captures, Symantec Firewall, Apple IP over IEEE 1394.
    pub(crate) const fn typed_without_llc(self) -> bool {
        matches!(
            self,
            LinkType::LinuxSll
                | LinkType::LinuxSll2
                | LinkType::SymantecFirewall
                | LinkType::AppleIpOverIeee1394
        )
    }

    /// Ethernet, bare or after netANALYZER's pseudo-header: libpcap
    /// compiles all three alike.
    pub(crate) const fn is_ethernet(self) -> bool {
        matches!(
            self,
            LinkType::Ethernet | LinkType::Netanalyzer | LinkType::NetanalyzerTransparent
        )
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

    /// The PPP family: a PPP protocol number where others have an
    /// ethertype.
    pub(crate) const fn is_ppp(self) -> bool {
        matches!(
            self,
            LinkType::Ppp
                | LinkType::PppSerial
                | LinkType::PppEther
                | LinkType::PppBsdos
                | LinkType::PppPppd
        )
    }

    /// Whether the network layer's offset is computed per packet.
    pub(crate) const fn has_variable_payload(self) -> bool {
        self.is_802_11() || matches!(self, LinkType::Pflog)
    }

    /// Whether a variable-length radio header precedes the 802.11 header.
    pub(crate) const fn has_radio_header(self) -> bool {
        self.is_802_11() && !matches!(self, LinkType::Ieee80211)
    }
}

/// How libpcap's compiler tests a protocol on the [`LinkType::Other`]
/// link types whose headers it knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OtherProtocols {
    /// Juniper's PICs: only the header's "MGC" magic, whatever the
    /// protocol.
    JuniperMagic,
    /// BACnet MS/TP: only the 0x55ff preamble, whatever the protocol.
    BacnetPreamble,
    /// Frame Relay: the Q.922 UI control byte and NLPID at 2.
    Frelay,
    /// Solaris ipnet: the address family byte at 1.
    Ipnet,
    /// OpenBSD enc: DLT_NULL's address family, in the writer's byte order.
    EncFamily,
    /// LocalTalk: AppleTalk and nothing else.
    Ltalk,
}

impl LinkType {
    /// For the [`LinkType::Other`] link types whose headers libpcap's
    /// compiler knows: its protocol test, where it takes the network layer
    /// to start (`off_linkpl + off_nl`), and where OSI protocols without
    /// SNAP (`off_linkpl + off_nl_nosnap`). The sums wrap where libpcap
    /// leaves an offset unset (-1), as for the Juniper PICs without a
    /// fixed header; the programs load there as libpcap's do.
    pub(crate) const fn other_protocols(self) -> Option<(OtherProtocols, u32, u32)> {
        const UNSET: u32 = u32::MAX;
        const fn at(linkpl: u32, nl: u32, nosnap: u32) -> (u32, u32) {
            (linkpl.wrapping_add(nl), linkpl.wrapping_add(nosnap))
        }
        use OtherProtocols::*;
        let LinkType::Other(n) = self else {
            return None;
        };
        let (p, (nl, nosnap)) = match n {
            // MLPPP, MLFR, MFR, PPP, FRELAY, CHDLC.
            130 | 131 | 134 | 179 | 180 | 181 => (JuniperMagic, at(4, 0, UNSET)),
            137 => (JuniperMagic, at(4, 0, 10)),
            135 => (JuniperMagic, at(8, 0, 10)),
            133 | 164 => (JuniperMagic, at(12, 0, UNSET)),
            168 => (JuniperMagic, at(6, 0, UNSET)),
            167 | 178 => (JuniperMagic, at(14, 18, 21)),
            // ES, SERVICES, VP, ISM, ST, VS, SRX_E2E, FIBRECHANNEL,
            // ATM_CEMIC.
            132 | 136 | 183 | 194 | 200 | 232 | 233 | 234 | 238 => {
                (JuniperMagic, at(UNSET, UNSET, UNSET))
            }
            165 => (BacnetPreamble, at(UNSET, UNSET, UNSET)),
            107 => (Frelay, at(0, 0, 0)),
            226 => (Ipnet, at(24, 0, UNSET)),
            109 => (EncFamily, at(12, 0, 0)),
            114 => (Ltalk, at(0, 0, 0)),
            _ => return None,
        };
        Some((p, nl, nosnap))
    }

    /// libpcap's name for a family of [`LinkType::Other`] link types in
    /// its refusal "… link-layer type filtering not implemented", where it
    /// does not use the description.
    pub(crate) fn filtering_family(self) -> &'static str {
        let LinkType::Other(n) = self else {
            return self.description();
        };
        match n {
            144 => "IrDA",
            143 => "DOCSIS",
            139 | 140 => "MTP2",
            197 => "ERF",
            246 => "PFSYNC",
            177 => "LAPD",
            186 | 189 | 220 | 249 => "USB",
            187 | 201 => "Bluetooth",
            190 | 227 => "CAN",
            191 | 195 | 215 | 230 | 283 => "IEEE 802.15.4",
            193 => "IEEE 802.16",
            196 => "SITA",
            198 => "RAIF1",
            199 | 209 => "IPMB",
            202 => "AX.25",
            239 => "NFLOG",
            _ => self.description(),
        }
    }
}

/// The table entry of an [`LinkType::Other`] (only made from the table).
fn other(n: u16) -> (u16, &'static str, &'static str) {
    OTHER_LINK_TYPES
        .iter()
        .copied()
        .find(|o| o.0 == n)
        .unwrap_or((n, "UNKNOWN", "unknown link type"))
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
