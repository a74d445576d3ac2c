//! Typed conversions between the spellings platforms use: integers, booleans,
//! sizes with units, MAC addresses and UUIDs. Pure functions; errors are short
//! sentences the caller places at an input node.

/// Parses a signed decimal integer, allowing surrounding whitespace.
pub fn int(s: &str) -> Result<i64, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("expected an integer, found an empty value".into());
    }
    t.parse::<i64>().map_err(|e| match e.kind() {
        std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
            format!("integer `{}` is out of range (64-bit)", short(t))
        }
        _ => format!("expected an integer, found `{}`", short(t)),
    })
}

/// Parses an unsigned decimal integer (0 ..= i64::MAX).
pub fn uint(s: &str) -> Result<i64, String> {
    let t = s.trim();
    if t.starts_with('-') {
        return Err(format!(
            "expected an unsigned integer, found `{}`",
            short(t)
        ));
    }
    int(t).map_err(|e| e.replace("an integer", "an unsigned integer"))
}

/// Parses the boolean spellings platforms use.
pub fn bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!(
            "expected a boolean (true/false, yes/no, on/off, 1/0), found `{}`",
            short(s.trim())
        )),
    }
}

/// Bytes per unit. Accepts libvirt's units (b, bytes, k, KiB, KB, M, MiB, MB,
/// G, GiB, GB, T, TiB, TB, P, E), case-insensitive, and the OVF programmatic
/// form `byte * 2^20` (also `byte*2^20`, `2^20`, `byte * 1024`).
pub fn unit_factor(unit: &str) -> Result<u128, String> {
    let u = unit.trim();
    // The common units are short: compared on the stack, without copies.
    let mut buf = [0u8; 8];
    let mut n = 0;
    for b in u.bytes().filter(|b| !(*b as char).is_whitespace()) {
        if n == buf.len() {
            n = usize::MAX;
            break;
        }
        buf[n] = b.to_ascii_lowercase();
        n += 1;
    }
    let lower: std::borrow::Cow<str> = match std::str::from_utf8(buf.get(..n).unwrap_or(&[])) {
        Ok(t) if n != usize::MAX && u.is_ascii() => t.into(),
        _ => u
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase()
            .into(),
    };
    let bin = |p: u32| 1024u128.pow(p);
    let dec = |p: u32| 1000u128.pow(p);
    let f = match &*lower {
        "" | "b" | "byte" | "bytes" => 1,
        "k" | "kib" => bin(1),
        "kb" => dec(1),
        "m" | "mib" => bin(2),
        "mb" => dec(2),
        "g" | "gib" => bin(3),
        "gb" => dec(3),
        "t" | "tib" => bin(4),
        "tb" => dec(4),
        "p" | "pib" => bin(5),
        "pb" => dec(5),
        "e" | "eib" => bin(6),
        "eb" => dec(6),
        _ => return ovf_units(&lower).ok_or_else(|| format!("unknown size unit `{}`", short(u))),
    };
    Ok(f)
}

/// `byte * 2^20`, `byte*1024`, `2^30`, `byte * 10^6`: a product of factors.
fn ovf_units(s: &str) -> Option<u128> {
    let mut total: u128 = 1;
    let mut seen = false;
    for part in s.split('*') {
        let part = part.trim();
        if part == "byte" || part == "bytes" {
            seen = true;
            continue;
        }
        let f = if let Some((b, e)) = part.split_once('^') {
            let b: u128 = b.parse().ok()?;
            let e: u32 = e.parse().ok()?;
            b.checked_pow(e)?
        } else {
            part.parse::<u128>().ok()?
        };
        total = total.checked_mul(f)?;
        seen = true;
    }
    (seen && total > 0).then_some(total)
}

/// A size with an optional unit → bytes. The value may carry its own unit
/// suffix (`4096 MiB`, `2G`); otherwise `default_unit` applies.
pub fn size(value: &str, default_unit: &str) -> Result<i64, String> {
    let v = value.trim();
    let digits_end = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    if digits_end == 0 {
        return Err(format!("expected a size, found `{}`", short(v)));
    }
    let (num, rest) = v.split_at(digits_end);
    let unit = if rest.trim().is_empty() {
        default_unit
    } else {
        rest.trim()
    };
    let n: u128 = num
        .parse()
        .map_err(|_| format!("size `{}` is out of range", short(v)))?;
    let f = unit_factor(unit)?;
    let bytes = n
        .checked_mul(f)
        .filter(|b| *b <= i64::MAX as u128)
        .ok_or_else(|| {
            // The unit once: the value's own, or the default one added.
            if rest.trim().is_empty() {
                format!(
                    "size `{} {unit}` is too large (more than 2^63 - 1 bytes)",
                    short(v)
                )
            } else {
                format!(
                    "size `{}` is too large (more than 2^63 - 1 bytes)",
                    short(v)
                )
            }
        })?;
    Ok(bytes as i64)
}

/// Bytes → a whole number of `unit`s; errors when not exact.
pub fn in_unit(bytes: i64, unit: &str, ceil: bool) -> Result<i64, String> {
    if bytes < 0 {
        return Err(format!("negative size {bytes}"));
    }
    let f = unit_factor(unit)?;
    let b = bytes as u128;
    if !b.is_multiple_of(f) && !ceil {
        return Err(format!(
            "{bytes} bytes is not a whole number of {unit} (use in_unit_ceil to round up)"
        ));
    }
    Ok(b.div_ceil(f) as i64)
}

/// Normalises a MAC address (any case; `:`, `-` or `.` separators, or none)
/// to lower-case colon form.
pub fn mac(s: &str) -> Result<String, String> {
    let mut hex = s
        .trim()
        .bytes()
        .filter(|c| !matches!(c, b':' | b'-' | b'.'));
    let mut out = String::with_capacity(17);
    for i in 0..12 {
        match hex.next() {
            Some(c) if c.is_ascii_hexdigit() => {
                if i > 0 && i % 2 == 0 {
                    out.push(':');
                }
                out.push(c.to_ascii_lowercase() as char);
            }
            _ => return Err(format!("`{}` is not a MAC address", short(s.trim()))),
        }
    }
    if hex.next().is_some() {
        return Err(format!("`{}` is not a MAC address", short(s.trim())));
    }
    Ok(out)
}

/// Normalises a UUID from canonical, braced (Hyper-V), bare-hex or VMware's
/// byte form (`56 4d 9c 3a 2f 55 1e 6b-8a 32 5d 11 50 ae 1f 3d`) to canonical
/// lower-case 8-4-4-4-12.
pub fn uuid(s: &str) -> Result<String, String> {
    let t = s.trim();
    // Already canonical (what stores and most documents hold): as it is.
    if is_canonical_uuid(t) {
        return Ok(t.to_string());
    }
    // The hex digits (and a `urn:uuid:` prefix), on the stack.
    let mut buf = [0u8; 41];
    let mut n = 0;
    for c in t
        .bytes()
        .filter(|c| !matches!(c, b'{' | b'}' | b'-' | b' '))
    {
        if n == buf.len() {
            return Err(format!("`{}` is not a UUID", short(t)));
        }
        buf[n] = c;
        n += 1;
    }
    let hex = buf[..n].strip_prefix(b"urn:uuid:").unwrap_or(&buf[..n]);
    if hex.len() != 32 || !hex.iter().all(u8::is_ascii_hexdigit) {
        return Err(format!("`{}` is not a UUID", short(t)));
    }
    let mut out = String::with_capacity(36);
    for (i, c) in hex.iter().enumerate() {
        if matches!(i, 8 | 12 | 16 | 20) {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase() as char);
    }
    Ok(out)
}

/// Lower-case 8-4-4-4-12 hex digits.
/// Is `t` a UUID in the normalised form (8-4-4-4-12 lower-case hex
/// digits), the form [`uuid`] returns?
pub fn is_canonical_uuid(t: &str) -> bool {
    // What each of the 36 places holds: 1, a lower-case hex digit; 2, `-`.
    // One table look a byte and no early exit: a session store checks a
    // UUID per pair it loads.
    static CLASS: [u8; 256] = {
        let mut t = [0u8; 256];
        let mut c = b'0';
        while c <= b'9' {
            t[c as usize] = 1;
            c += 1;
        }
        c = b'a';
        while c <= b'f' {
            t[c as usize] = 1;
            c += 1;
        }
        t[b'-' as usize] = 2;
        t
    };
    const WANT: [u8; 36] = {
        let mut w = [1u8; 36];
        w[8] = 2;
        w[13] = 2;
        w[18] = 2;
        w[23] = 2;
        w
    };
    let Ok(b) = <&[u8; 36]>::try_from(t.as_bytes()) else {
        return false;
    };
    b.iter()
        .zip(WANT)
        .fold(true, |ok, (&c, w)| ok & (CLASS[c as usize] == w))
}

/// VMware's `uuid.bios` form: 16 bytes, space-separated, `-` in the middle.
pub fn uuid_vmware(s: &str) -> Result<String, String> {
    let c = uuid(s)?.replace('-', "");
    let bytes: Vec<&str> = (0..16).map(|i| &c[i * 2..i * 2 + 2]).collect();
    Ok(format!("{}-{}", bytes[..8].join(" "), bytes[8..].join(" ")))
}

/// Hyper-V's braced upper-case form.
pub fn uuid_hyperv(s: &str) -> Result<String, String> {
    Ok(format!("{{{}}}", uuid(s)?.to_ascii_uppercase()))
}

/// Parses hexadecimal with an optional `0x` prefix.
pub fn hex(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let h = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    if h.is_empty() {
        return Err(format!(
            "expected a hexadecimal number, found `{}`",
            short(t)
        ));
    }
    u64::from_str_radix(h, 16)
        .ok()
        .and_then(|v| i64::try_from(v).ok())
        .ok_or_else(|| format!("expected a hexadecimal number, found `{}`", short(t)))
}

/// Truncates long values in messages.
pub fn short(s: &str) -> String {
    short_to(s, 40)
}

/// `s` cut to `n` characters, with `…` when cut.
pub fn short_to(s: &str, n: usize) -> String {
    if s.chars().count() > n {
        format!("{}…", s.chars().take(n).collect::<String>())
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_uuids_are_exactly_the_normal_form() {
        let good = "0123abcd-4567-89ef-0a1b-c2d3e4f5a6b7";
        assert!(is_canonical_uuid(good));
        assert_eq!(uuid(good).unwrap(), good);
        // Every one-byte change: a UUID only when uuid() gives it back.
        for i in 0..good.len() {
            for c in [b'-', b'0', b'f', b'g', b'A', b'F', b' ', b'{'] {
                let mut b = good.as_bytes().to_vec();
                b[i] = c;
                let v = String::from_utf8(b).unwrap();
                assert_eq!(is_canonical_uuid(&v), uuid(&v).is_ok_and(|u| u == v), "{v}");
            }
        }
        for v in [
            "",
            "0123abcd",
            &good.to_uppercase(),
            &format!("{{{good}}}"),
            &good.replace('-', ""),
        ] {
            assert!(!is_canonical_uuid(v), "{v}");
        }
    }

    #[test]
    fn sizes_and_units() {
        assert_eq!(size("2", "GiB").unwrap(), 2 << 30);
        assert_eq!(size("2097152", "KiB").unwrap(), 2 << 30);
        assert_eq!(size("4096", "byte * 2^20").unwrap(), 4 << 30);
        assert_eq!(size("1", "KB").unwrap(), 1000);
        assert_eq!(size("1 TiB", "").unwrap(), 1 << 40);
        assert_eq!(size("1", " k i B ").unwrap(), 1024);
        assert_eq!(size("1", "K\u{b}iB").unwrap(), 1024);
        assert_eq!(size("2", "bytes * 2^10").unwrap(), 2048);
        assert!(size("99999999999999999999999", "b").is_err());
        assert!(size("9999999999", "EiB").is_err());
        assert!(size("12", "furlongs").is_err());
        assert!(size("abc", "b").is_err());
        assert_eq!(in_unit(2 << 30, "MiB", false).unwrap(), 2048);
        assert!(in_unit(1000, "KiB", false).is_err());
        assert_eq!(in_unit(1000, "KiB", true).unwrap(), 1);
    }

    #[test]
    fn booleans() {
        for t in ["TRUE", "true", "1", "yes", "On"] {
            assert!(bool(t).unwrap());
        }
        for f in ["FALSE", "false", "0", "no", "off"] {
            assert!(!bool(f).unwrap());
        }
        assert!(bool("maybe").is_err());
    }

    #[test]
    fn macs() {
        assert_eq!(mac("52:54:00:AB:CD:EF").unwrap(), "52:54:00:ab:cd:ef");
        assert_eq!(mac("52-54-00-ab-cd-ef").unwrap(), "52:54:00:ab:cd:ef");
        assert_eq!(mac("525400abcdef").unwrap(), "52:54:00:ab:cd:ef");
        assert!(mac("52:54:00:ab:cd").is_err());
        assert!(mac("zz:54:00:ab:cd:ef").is_err());
        assert!(mac("52:54:00:ab:cd:ef:01").is_err());
        assert!(mac("52:54:00:ab:cd:é").is_err());
        assert_eq!(mac(" 5254.00ab.cdef ").unwrap(), "52:54:00:ab:cd:ef");
    }

    #[test]
    fn uuids() {
        let c = "564d9c3a-2f55-1e6b-8a32-5d1150ae1f3d";
        assert_eq!(
            uuid("56 4d 9c 3a 2f 55 1e 6b-8a 32 5d 11 50 ae 1f 3d").unwrap(),
            c
        );
        assert_eq!(uuid("{564D9C3A-2F55-1E6B-8A32-5D1150AE1F3D}").unwrap(), c);
        assert_eq!(
            uuid_vmware(c).unwrap(),
            "56 4d 9c 3a 2f 55 1e 6b-8a 32 5d 11 50 ae 1f 3d"
        );
        assert_eq!(
            uuid_hyperv(c).unwrap(),
            "{564D9C3A-2F55-1E6B-8A32-5D1150AE1F3D}"
        );
        assert!(uuid("not-a-uuid").is_err());
        // The canonical form as it is; upper case and spaces normalised.
        assert_eq!(uuid(c).unwrap(), c);
        assert_eq!(uuid(&format!(" {} ", c.to_uppercase())).unwrap(), c);
        assert!(uuid("564d9c3a-2f55-1e6b-8a32x5d1150ae1f3d").is_err());
        assert_eq!(
            uuid("urn:uuid:564d9c3a-2f55-1e6b-8a32-5d1150ae1f3d").unwrap(),
            c
        );
        assert_eq!(uuid("564D9C3A2F551E6B8A325D1150AE1F3D").unwrap(), c);
        assert!(uuid("564d9c3a-2f55-1e6b-8a32-5d1150ae1f3d0").is_err());
        assert!(uuid("564d9c3a-2f55-1e6b-8a32-5d1150ae1f3").is_err());
        assert!(uuid(&"a".repeat(100)).is_err());
        assert!(uuid("564d9c3a-2f55-1e6b-8a32-5d1150ae1féd").is_err());
    }

    #[test]
    fn integers() {
        assert_eq!(int(" 42 ").unwrap(), 42);
        assert!(int("99999999999999999999")
            .unwrap_err()
            .contains("out of range"));
        assert!(uint("-1").is_err());
        assert_eq!(hex("0x1F").unwrap(), 31);
        assert!(hex("0xZZ").is_err());
    }
}
