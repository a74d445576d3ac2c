//! Device specification strings inside xl.cfg lists (`disk`, `vif`, `pci`,
//! ...): `key=value` parameters separated by commas, parsed into ordered
//! parameters for the canonical form and formatted back.
//!
//! Disk specs follow xl's own parser (`libxlu_disk_l.l`): leading bare words
//! are the positional `target`, `format`, `vdev`, `access`; `target=`
//! swallows the rest of the string; `cdrom` is `devtype=cdrom`; `vdev:cdrom`
//! is a vdev and a devtype; deprecated target prefixes (`phy:`, `file:`,
//! `tap:aio:`, `raw:`, `qcow2:`, `iscsi:`, ...) are resolved as xl resolves
//! them.

/// Keys whose list items are device specifications.
pub const SPEC_KEYS: &[&str] = &[
    "disk", "vif", "vfb", "vkb", "vtpm", "p9", "pvcalls", "channel", "usbctrl", "usbdev", "pci",
    "virtio", "vdispl",
];

/// One parameter of a spec: `name=value`, or a bare word (`name` = `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: Option<String>,
    pub value: String,
}

/// A parameter name xl reads (and hvxform writes back): letters, digits,
/// `_` and `-`. Found by fuzzing: other names were read and then refused
/// when the file was written again.
fn valid_name(key: &str, n: &str) -> Result<(), String> {
    if n.is_empty()
        || !n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
    {
        return Err(format!("`{n}` cannot be a parameter name in a {key} spec"));
    }
    Ok(())
}

fn named(n: &str, v: &str) -> Param {
    Param {
        name: Some(n.to_string()),
        value: v.to_string(),
    }
}

/// Disk keywords that are flags, not positional values.
const DISK_FLAGS: &[&str] = &[
    "direct-io-safe",
    "discard",
    "no-discard",
    "colo",
    "no-colo",
    "trusted",
    "untrusted",
];

/// Parses the spec of a list item of `key`.
pub fn parse(key: &str, spec: &str) -> Result<Vec<Param>, String> {
    match key {
        "disk" => parse_disk(spec),
        _ => {
            let mut out = Vec::new();
            for (k, tok) in spec.split(',').map(str::trim).enumerate() {
                if tok.is_empty() {
                    continue;
                }
                match tok.split_once('=') {
                    Some((n, v)) => {
                        valid_name(key, n.trim())?;
                        out.push(named(n.trim(), v.trim()))
                    }
                    None if key == "pci" && k == 0 => out.push(named("bdf", tok)),
                    None => out.push(Param {
                        name: None,
                        value: tok.to_string(),
                    }),
                }
            }
            Ok(out)
        }
    }
}

fn parse_disk(spec: &str) -> Result<Vec<Param>, String> {
    let mut out: Vec<Param> = Vec::new();
    let mut rest = spec;
    let (mut target, mut format, mut vdev, mut access, mut depr) =
        (false, false, false, false, false);
    loop {
        rest = rest.trim_start_matches([' ', '\t', '\n']);
        if rest.is_empty() {
            break;
        }
        if let Some(t) = rest.strip_prefix("target=") {
            out.push(named("target", t.strip_suffix(',').unwrap_or(t)));
            break;
        }
        let (tok, next) = match rest.find(',') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        rest = next;
        if let Some((n, v)) = tok.split_once('=') {
            match n {
                "format" => format = true,
                "vdev" => vdev = true,
                "access" => access = true,
                _ => {}
            }
            valid_name("disk", n)?;
            out.push(named(n, v));
        } else if tok == "cdrom" {
            out.push(named("devtype", "cdrom"));
        } else if DISK_FLAGS.contains(&tok) {
            out.push(Param {
                name: None,
                value: tok.to_string(),
            });
        } else if !target {
            target = true;
            let mut t = tok;
            // Deprecated prefixes, as xl resolves them.
            while let Some((p, after)) = t.split_once(':') {
                match p {
                    "raw" | "qcow" | "qcow2" | "vhd" => {
                        out.push(named("format", p));
                        format = true;
                    }
                    "iscsi" | "nbd" | "enbd" | "drbd" => {
                        out.push(named("script", &format!("block-{p}")));
                    }
                    "tapdisk" | "tap" | "tap2" | "aio" | "ioemu" | "file" | "phy" => {}
                    _ => break,
                }
                depr = true;
                t = after;
            }
            out.push(named("target", t));
        } else if !depr && !format {
            format = true;
            out.push(named("format", tok));
        } else if !vdev {
            vdev = true;
            match tok.rsplit_once(':') {
                Some((v, t @ ("cdrom" | "disk"))) => {
                    out.push(named("vdev", v));
                    out.push(named("devtype", t));
                }
                _ => out.push(named("vdev", tok)),
            }
        } else if !access {
            access = true;
            out.push(named("access", tok));
        } else {
            return Err(format!(
                "too many positional parameters in the disk spec (`{tok}`)"
            ));
        }
    }
    // A positional target is written as `target=`, which must come last.
    if let Some(i) = out.iter().position(|p| p.name.as_deref() == Some("target")) {
        let t = out.remove(i);
        out.push(t);
    }
    Ok(out)
}

/// Formats parameters back into a spec string for a list item of `key`.
pub fn format(key: &str, params: &[Param]) -> Result<String, String> {
    let mut parts = Vec::new();
    let mut target = None;
    for p in params {
        let bad = |what: &str| format!("a {key} spec {what}: `{}`", p.value);
        match p.name.as_deref() {
            Some("target") if key == "disk" => {
                target = Some(format!("target={}", p.value));
                continue;
            }
            Some("bdf") if key == "pci" && parts.is_empty() => {
                parts.push(p.value.clone());
                continue;
            }
            Some(n) => {
                if n.is_empty()
                    || !n
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
                {
                    return Err(format!("`{n}` cannot be a parameter name in a {key} spec"));
                }
                if p.value.contains(',') {
                    return Err(bad("value cannot contain `,`"));
                }
                parts.push(format!("{n}={}", p.value));
            }
            None => {
                if p.value.contains([',', '=']) || p.value.is_empty() {
                    return Err(bad("bare word cannot be empty or contain `,` or `=`"));
                }
                parts.push(p.value.clone());
            }
        }
    }
    parts.extend(target);
    Ok(parts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(ps: &[Param]) -> Vec<String> {
        ps.iter()
            .map(|p| format!("{}={}", p.name.as_deref().unwrap_or("_"), p.value))
            .collect()
    }

    #[test]
    fn disk_positional_and_named() {
        let p = parse("disk", "/dev/vg/guest-volume,raw,xvda,rw").unwrap();
        assert_eq!(
            names(&p),
            [
                "format=raw",
                "vdev=xvda",
                "access=rw",
                "target=/dev/vg/guest-volume"
            ]
        );
        let p = parse(
            "disk",
            "format=raw, vdev=xvda, access=rw, target=/dev/vg/guest",
        )
        .unwrap();
        assert_eq!(
            format("disk", &p).unwrap(),
            "format=raw,vdev=xvda,access=rw,target=/dev/vg/guest"
        );
        let p = parse("disk", "/dev/HostVG/XenGuest2,,hda,,backendtype=phy").unwrap();
        assert_eq!(
            names(&p),
            [
                "format=",
                "vdev=hda",
                "access=",
                "backendtype=phy",
                "target=/dev/HostVG/XenGuest2"
            ]
        );
        let p = parse("disk", "phy:/dev/vg/x,hdc:cdrom,r").unwrap();
        assert_eq!(
            names(&p),
            ["vdev=hdc", "devtype=cdrom", "access=r", "target=/dev/vg/x"]
        );
        let p = parse("disk", "tap:qcow2:/x.img,xvdb,w,direct-io-safe").unwrap();
        assert_eq!(
            names(&p),
            [
                "format=qcow2",
                "vdev=xvdb",
                "access=w",
                "_=direct-io-safe",
                "target=/x.img"
            ]
        );
        let p = parse("disk", "vdev=hdc,cdrom,target=a,b").unwrap();
        assert_eq!(names(&p), ["vdev=hdc", "devtype=cdrom", "target=a,b"]);
        assert!(parse("disk", "a,b,c,d,e").is_err());
    }

    #[test]
    fn other_specs() {
        let p = parse(
            "vif",
            "mac=00:16:3e:00:00:01, bridge=xenbr0,ip=10.0.0.1 10.0.0.2",
        )
        .unwrap();
        assert_eq!(
            names(&p),
            [
                "mac=00:16:3e:00:00:01",
                "bridge=xenbr0",
                "ip=10.0.0.1 10.0.0.2"
            ]
        );
        assert!(parse("vif", "").unwrap().is_empty());
        let p = parse("pci", "0000:02:00.0,permissive=1").unwrap();
        assert_eq!(format("pci", &p).unwrap(), "0000:02:00.0,permissive=1");
    }
}
