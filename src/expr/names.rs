//! Built-in name tables: protocol, service and constant names.
//!
//! libpcap asks the host's `/etc/protocols` and `/etc/services`; we carry
//! our own copy (taken from Debian's netbase, as on the test machine) so a
//! filter compiles the same way everywhere.

/// Which transport protocols a service name is registered for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceProto {
    /// Registered for TCP only.
    Tcp,
    /// Registered for UDP only.
    Udp,
    /// Registered for both with the same number: matches TCP, UDP and SCTP.
    Any,
}

/// `(name, port, protocols)`; aliases are listed as names of their own.
const SERVICES: &[(&str, u16, ServiceProto)] = {
    use ServiceProto::{Any, Tcp, Udp};
    &[
        ("echo", 7, Any),
        ("discard", 9, Any),
        ("daytime", 13, Any),
        ("ftp-data", 20, Tcp),
        ("ftp", 21, Tcp),
        ("ssh", 22, Tcp),
        ("telnet", 23, Tcp),
        ("smtp", 25, Tcp),
        ("time", 37, Any),
        ("whois", 43, Tcp),
        ("domain", 53, Any),
        ("bootps", 67, Udp),
        ("bootpc", 68, Udp),
        ("tftp", 69, Udp),
        ("gopher", 70, Tcp),
        ("finger", 79, Tcp),
        ("http", 80, Tcp),
        ("www", 80, Tcp),
        ("kerberos", 88, Any),
        ("pop3", 110, Tcp),
        ("sunrpc", 111, Any),
        ("auth", 113, Tcp),
        ("nntp", 119, Tcp),
        ("ntp", 123, Udp),
        ("netbios-ns", 137, Udp),
        ("netbios-dgm", 138, Udp),
        ("netbios-ssn", 139, Tcp),
        ("imap2", 143, Tcp),
        ("imap", 143, Tcp),
        ("snmp", 161, Any),
        ("snmp-trap", 162, Any),
        ("bgp", 179, Tcp),
        ("ldap", 389, Any),
        ("https", 443, Any),
        ("microsoft-ds", 445, Tcp),
        ("isakmp", 500, Udp),
        ("printer", 515, Tcp),
        ("rtsp", 554, Any),
        ("submission", 587, Tcp),
        ("ldaps", 636, Any),
        ("rsync", 873, Tcp),
        ("ftps", 990, Tcp),
        ("telnets", 992, Tcp),
        ("imaps", 993, Tcp),
        ("pop3s", 995, Tcp),
        ("socks", 1080, Tcp),
        ("openvpn", 1194, Any),
        ("ms-sql-s", 1433, Tcp),
        ("radius", 1812, Any),
        ("nfs", 2049, Any),
        ("mysql", 3306, Tcp),
        ("epmd", 4369, Tcp),
        ("sip", 5060, Any),
        ("sip-tls", 5061, Any),
        ("mdns", 5353, Udp),
        ("postgresql", 5432, Tcp),
        ("x11", 6000, Tcp),
    ]
};

/// Looks up a service name: its port and the protocols it is defined for.
pub fn service(name: &str) -> Option<(u16, ServiceProto)> {
    SERVICES
        .iter()
        .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, port, proto)| (port, proto))
}

/// IP protocol numbers by name (`ip proto \tcp`), as in `/etc/protocols`.
const IP_PROTOCOLS: &[(&str, u32)] = &[
    ("ip", 0),
    ("hopopt", 0),
    ("icmp", 1),
    ("igmp", 2),
    ("ipencap", 4),
    ("tcp", 6),
    ("egp", 8),
    ("igp", 9),
    ("pup", 12),
    ("udp", 17),
    ("hmp", 20),
    ("xns-idp", 22),
    ("rdp", 27),
    ("iso-tp4", 29),
    ("dccp", 33),
    ("xtp", 36),
    ("ddp", 37),
    ("idpr-cmtp", 38),
    ("ipv6", 41),
    ("ipv6-route", 43),
    ("ipv6-frag", 44),
    ("idrp", 45),
    ("rsvp", 46),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("skip", 57),
    ("ipv6-icmp", 58),
    ("icmp6", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("rspf", 73),
    ("vmtp", 81),
    ("eigrp", 88),
    ("ospf", 89),
    ("ax.25", 93),
    ("ipip", 94),
    ("etherip", 97),
    ("encap", 98),
    ("pim", 103),
    ("ipcomp", 108),
    ("vrrp", 112),
    ("l2tp", 115),
    ("isis", 124),
    ("sctp", 132),
    ("fc", 133),
    ("mobility-header", 135),
    ("udplite", 136),
    ("mpls-in-ip", 137),
    ("manet", 138),
    ("hip", 139),
    ("shim6", 140),
    ("wesp", 141),
    ("rohc", 142),
    ("ethernet", 143),
];

/// Looks up an IP protocol name.
pub fn ip_protocol(name: &str) -> Option<u32> {
    IP_PROTOCOLS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, v)| v)
}

/// Ethertype names accepted after `ether proto` (libpcap's own table,
/// restricted to the types whose test is a plain ethertype compare).
const ETHER_PROTOCOLS: &[(&str, u32)] = &[
    ("ip", 0x0800),
    ("ip6", 0x86dd),
    ("arp", 0x0806),
    ("rarp", 0x8035),
    ("loopback", 0x9000),
    ("mopdl", 0x6001),
    ("moprc", 0x6002),
    ("lat", 0x6004),
    ("sca", 0x6007),
];

/// Looks up an ethertype name.
pub fn ether_protocol(name: &str) -> Option<u32> {
    ETHER_PROTOCOLS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, v)| v)
}

/// Named constants usable in arithmetic (`tcp[tcpflags] & tcp-syn != 0`).
const CONSTANTS: &[(&str, u32)] = &[
    ("icmptype", 0),
    ("icmpcode", 1),
    ("icmp-echoreply", 0),
    ("icmp-unreach", 3),
    ("icmp-sourcequench", 4),
    ("icmp-redirect", 5),
    ("icmp-echo", 8),
    ("icmp-routeradvert", 9),
    ("icmp-routersolicit", 10),
    ("icmp-timxceed", 11),
    ("icmp-paramprob", 12),
    ("icmp-tstamp", 13),
    ("icmp-tstampreply", 14),
    ("icmp-ireq", 15),
    ("icmp-ireqreply", 16),
    ("icmp-maskreq", 17),
    ("icmp-maskreply", 18),
    ("icmp6type", 0),
    ("icmp6code", 1),
    ("icmp6-destinationunreach", 1),
    ("icmp6-packettoobig", 2),
    ("icmp6-timeexceeded", 3),
    ("icmp6-parameterproblem", 4),
    ("icmp6-echo", 128),
    ("icmp6-echoreply", 129),
    ("icmp6-multicastlistenerquery", 130),
    ("icmp6-multicastlistenerreportv1", 131),
    ("icmp6-multicastlistenerdone", 132),
    ("icmp6-routersolicit", 133),
    ("icmp6-routeradvert", 134),
    ("icmp6-neighborsolicit", 135),
    ("icmp6-neighboradvert", 136),
    ("icmp6-redirect", 137),
    ("icmp6-routerrenum", 138),
    ("icmp6-nodeinformationquery", 139),
    ("icmp6-nodeinformationresponse", 140),
    ("icmp6-ineighbordiscoverysolicit", 141),
    ("icmp6-ineighbordiscoveryadvert", 142),
    ("icmp6-multicastlistenerreportv2", 143),
    ("icmp6-homeagentdiscoveryrequest", 144),
    ("icmp6-homeagentdiscoveryreply", 145),
    ("icmp6-mobileprefixsolicit", 146),
    ("icmp6-mobileprefixadvert", 147),
    ("icmp6-certpathsolicit", 148),
    ("icmp6-certpathadvert", 149),
    ("icmp6-multicastrouteradvert", 151),
    ("icmp6-multicastroutersolicit", 152),
    ("icmp6-multicastrouterterm", 153),
    ("tcpflags", 13),
    ("tcp-fin", 0x01),
    ("tcp-syn", 0x02),
    ("tcp-rst", 0x04),
    ("tcp-push", 0x08),
    ("tcp-ack", 0x10),
    ("tcp-urg", 0x20),
    ("tcp-ece", 0x40),
    ("tcp-cwr", 0x80),
];

/// Looks up a named arithmetic constant.
pub fn constant(name: &str) -> Option<u32> {
    CONSTANTS.iter().find(|(n, _)| *n == name).map(|&(_, v)| v)
}
