//! Numbers and addresses as pcap-filter writes them.

/// Parses a C-style number: decimal, `0x` hex or leading-zero octal.
pub fn parse_number(text: &str) -> Option<u32> {
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return u32::from_str_radix(hex, 16).ok();
    }
    if text.len() > 1 && text.starts_with('0') {
        return u32::from_str_radix(&text[1..], 8).ok();
    }
    if text.bytes().all(|b| b.is_ascii_digit()) && !text.is_empty() {
        return text.parse().ok();
    }
    None
}

/// libpcap's complaint about a value that is shaped like a number or a
/// dotted IPv4 address but is not a valid one (its scanner takes such a
/// token as a number or an address, never as a name to look up).
pub fn malformed_number_or_address(text: &str) -> Option<String> {
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let hex = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()));
    if text.len() > 1 && text.starts_with('0') && digits(text) && text.contains(['8', '9']) {
        return Some(format!("number {text} contains non-octal digit"));
    }
    if (digits(text) || hex) && parse_number(text).is_none() {
        return Some(format!("number {text} overflows 32 bits"));
    }
    let parts: Vec<&str> = text.split('.').collect();
    if (2..=4).contains(&parts.len())
        && parts.iter().all(|p| digits(p))
        && parse_ipv4(text).is_none()
    {
        return Some(format!("invalid IPv4 address '{text}'"));
    }
    None
}

/// Parses a full or partial dotted IPv4 address (`10.1` means 10.1.0.0/16),
/// returning the address and the mask implied by the parts given.
///
/// A single number (libpcap's NUM token: decimal, `0x` hex or octal) names
/// a network by its value with the zero high bytes shifted out (`10` is
/// 10.0.0.0/8); dotted parts are decimal.
pub fn parse_ipv4(text: &str) -> Option<(u32, u32)> {
    if !text.contains('.') {
        let mut v = parse_number(text)?;
        let mut mask = u32::MAX;
        while v != 0 && v & 0xff00_0000 == 0 {
            v <<= 8;
            mask <<= 8;
        }
        return Some((v, mask));
    }
    let parts: Vec<&str> = text.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut addr = 0u32;
    for p in &parts {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let v: u32 = p.parse().ok()?;
        if v > 255 {
            return None;
        }
        addr = (addr << 8) | v;
    }
    let shift = 8 * (4 - parts.len() as u32);
    let mask = if shift == 0 {
        u32::MAX
    } else {
        u32::MAX << shift
    };
    Some((addr << shift, mask))
}

/// Parses the MAC address spellings libpcap's scanner takes:
/// `a:b:c:d:e:f`, `a-b-c-d-e-f`, `a.b.c.d.e.f` (one or two hex digits
/// each), `aabb.ccdd.eeff` and `aabbccddeeff`.
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    if text.len() == 12 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
        }
        return Some(out);
    }
    for sep in [':', '-', '.'] {
        let parts: Vec<&str> = text.split(sep).collect();
        if parts.len() == 6 && parts.iter().all(|p| (1..=2).contains(&p.len())) {
            for (o, p) in out.iter_mut().zip(&parts) {
                *o = u8::from_str_radix(p, 16).ok()?;
            }
            return Some(out);
        }
    }
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() == 3 && parts.iter().all(|p| p.len() == 4) {
        for (i, p) in parts.iter().enumerate() {
            let v = u16::from_str_radix(p, 16).ok()?;
            out[2 * i..2 * i + 2].copy_from_slice(&v.to_be_bytes());
        }
        return Some(out);
    }
    None
}
