//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod http;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hvxform"));
    c.env_remove("NO_COLOR");
    c
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn run(args: &[&str]) -> Output {
    bin()
        .args(args)
        .current_dir(root())
        .output()
        .expect("run hvxform")
}

/// `transform INPUT --to TARGET -o DIR` and `extra` arguments: the exit
/// code and stderr.
#[allow(dead_code)]
pub fn transform_into(
    input: &Path,
    target: &str,
    dir: &Path,
    extra: &[&str],
) -> (Option<i32>, String) {
    let mut args = vec![
        "transform",
        input.to_str().unwrap(),
        "--to",
        target,
        "-o",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = run(&args);
    (o.status.code(), stderr(&o))
}

/// `hyperv_check.py FILES` with the pywbem venv, when there is one: every
/// file must pass.
#[allow(dead_code)]
pub fn pywbem_accepts(files: &[PathBuf]) {
    if let Some(py) = pywbem_python() {
        let o = Command::new(py)
            .arg(root().join("tests/validators/hyperv_check.py"))
            .args(files)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
}

/// `vsphere_check.py --api 7.0.2.0 FILES` (pyVmomi), when there is a venv:
/// every ConfigSpec must pass.
#[allow(dead_code)]
pub fn vsphere_accepts(files: &[PathBuf]) {
    if let Some(py) = python() {
        let o = Command::new(py)
            .arg(root().join("tests/validators/vsphere_check.py"))
            .args(["--api", "7.0.2.0"])
            .args(files)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// `ovf_check.py FILE` (COT), which must pass: what it read of the
/// envelope (cpus, memory_bytes, nics, disks, ...); `None` without a venv.
#[allow(dead_code)]
pub fn ovf_info(file: &Path) -> Option<serde_json::Value> {
    let py = python()?;
    let o = Command::new(py)
        .arg(root().join("tests/validators/ovf_check.py"))
        .arg(file)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}: {}{}",
        file.display(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    Some(serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap())
}

/// `transform INPUT --to TARGET -o DIR --session STORE`, which must exit 0.
pub fn transform_with_store(input: &Path, target: &str, dir: &Path, store: &Path) {
    let (code, err) = transform_into(input, target, dir, &["--session", store.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A fresh empty directory under target/.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = root()
        .join("target")
        .join("test-tmp")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Is an external tool available? In CI (HVX_REQUIRE_TOOLS=1) a missing tool
/// is a failure, not a skip.
pub fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() && std::env::var("HVX_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!("required tool `{name}` is not installed (HVX_REQUIRE_TOOLS=1)");
    }
    found
}

pub fn python() -> Option<PathBuf> {
    venv_python("HVX_PYTHON", "/opt/hvx-venv", "venv with pyvmomi")
}

/// The Python of the pywbem venv (Hyper-V checks), set up by `.ci/run`.
#[allow(dead_code)]
pub fn pywbem_python() -> Option<PathBuf> {
    venv_python(
        "HVX_PYWBEM_PYTHON",
        "/opt/hvx-pywbem-venv",
        "venv with pywbem",
    )
}

/// A validator venv's python: `$var`, else `DIR/bin/python` when it exists;
/// in CI (HVX_REQUIRE_TOOLS=1) a missing one fails the test.
pub fn venv_python(var: &str, dir: &str, what: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(var) {
        return Some(PathBuf::from(p));
    }
    let p = Path::new(dir).join("bin/python");
    if p.is_file() {
        return Some(p);
    }
    if std::env::var("HVX_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!("{var} ({what}) is required");
    }
    None
}

pub fn samples(platform: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("samples").join(platform))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// Every VM sample of every platform (`samples/commands` holds commands),
/// as (platform, path), in order.
pub fn vm_samples() -> Vec<(String, PathBuf)> {
    let mut platforms: Vec<_> = std::fs::read_dir(root().join("samples"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|p| p != "commands")
        .collect();
    platforms.sort();
    platforms
        .into_iter()
        .flat_map(|p| samples(&p).into_iter().map(move |s| (p.clone(), s)))
        .collect()
}

/// The value of an environment variable naming an endpoint `.ci/run` starts
/// (`HVX_VCSIM`, `HVX_LIBVIRT_URI`): `None` (the test skips) when it is not
/// set, a failure in CI (HVX_REQUIRE_TOOLS=1).
pub fn endpoint(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) => Some(v),
        Err(_) => {
            assert!(
                std::env::var("HVX_REQUIRE_TOOLS").as_deref() != Ok("1"),
                "{var} ({what}) is required"
            );
            eprintln!("skipped: {var} is not set");
            None
        }
    }
}

/// `virsh define` + `dumpxml` with libvirt's test driver (no daemon); asserts
/// the definition is accepted and returns the dump.
pub fn virsh_dump(file: &std::path::Path, name: &str) -> String {
    // The test driver preloads a domain named `test`: remove it first.
    let pre = if name == "test" {
        "destroy test; undefine test; "
    } else {
        ""
    };
    let o = std::process::Command::new("virsh")
        .args([
            "-c",
            "test:///default",
            &format!(
                "{pre}define {}; dumpxml \"{}\"",
                file.display(),
                name.replace('"', "\\\"")
            ),
        ])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "virsh define {}: {}",
        file.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    // Drop virsh's own messages ("Domain 'x' defined from ...").
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.starts_with("Domain "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The names of the files in a directory, sorted.
pub fn file_names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// libvirt's RelaxNG schema of a domain (Debian `libvirt-clients`).
pub const LIBVIRT_DOMAIN_RNG: &str = "/usr/share/libvirt/schemas/domain.rng";

/// The hub's RelaxNG schema.
pub fn hub_rng() -> PathBuf {
    root().join("schema/hvx.rng")
}

/// `xmllint --noout --relaxng SCHEMA FILE`: `Err` with xmllint's complaint
/// when the file is not valid.
pub fn relaxng(schema: &Path, file: &Path) -> Result<(), String> {
    let o = Command::new("xmllint")
        .args(["--noout", "--relaxng"])
        .arg(schema)
        .arg(file)
        .output()
        .unwrap();
    if o.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).into_owned())
    }
}

/// What libvirt says a domain is, in the terms the round trip keeps.
#[derive(Debug, PartialEq)]
pub struct Kept {
    pub name: String,
    pub uuid: String,
    pub vcpus: String,
    pub memory_kib: u64,
    pub firmware_efi: bool,
    pub secure_boot: bool,
    /// (device, bus, source)
    pub disks: Vec<(String, String, String)>,
    /// (MAC, network or bridge, or `(type)`)
    pub nics: Vec<(String, String)>,
}

pub fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, t: &str) -> Option<roxmltree::Node<'a, 'i>> {
    n.children().find(|c| c.has_tag_name(t))
}

pub fn kept(xml: &str) -> Kept {
    let doc = roxmltree::Document::parse(xml).unwrap();
    let d = doc.root_element();
    let text = |n: Option<roxmltree::Node>| n.and_then(|n| n.text()).unwrap_or("").to_string();
    let os = child(d, "os").unwrap();
    let loader = child(os, "loader");
    let devices = child(d, "devices").unwrap();
    let mut disks = Vec::new();
    let mut nics = Vec::new();
    for dev in devices.children().filter(|n| n.is_element()) {
        match dev.tag_name().name() {
            "disk" => {
                let src = child(dev, "source")
                    .and_then(|s| s.attribute("file").or(s.attribute("dev")))
                    .unwrap_or("")
                    .to_string();
                let bus = child(dev, "target").unwrap().attribute("bus").unwrap();
                disks.push((dev.attribute("device").unwrap().into(), bus.into(), src));
            }
            "interface" => {
                let mac = child(dev, "mac").unwrap().attribute("address").unwrap();
                // The connection, for the kinds the hub models (a network
                // or a bridge); others (tap devices, macvtap, vhost-user)
                // have no Hyper-V counterpart and are left unconnected.
                let src = match dev.attribute("type") {
                    Some("network" | "bridge") => child(dev, "source")
                        .and_then(|s| s.attribute("network").or(s.attribute("bridge")))
                        .unwrap_or("")
                        .to_string(),
                    Some(t) => format!("({t})"),
                    None => String::new(),
                };
                nics.push((mac.to_string(), src));
            }
            _ => {}
        }
    }
    let firmware_efi = os.attribute("firmware") == Some("efi")
        || loader.is_some_and(|l| l.text().unwrap_or("").contains("OVMF"));
    Kept {
        name: text(child(d, "name")),
        uuid: text(child(d, "uuid")),
        vcpus: text(child(d, "vcpu")),
        memory_kib: text(child(d, "memory")).parse().unwrap(),
        firmware_efi,
        secure_boot: loader.is_some_and(|l| l.attribute("secure") == Some("yes")),
        disks,
        nics,
    }
}

/// Every file under `dir`, sorted (none when it does not exist).
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut entries: Vec<PathBuf> = rd.map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Writes `bytes` as `dir/name`, converts it to kvm into `dir/out-NAME`, and
/// checks the conversion is refused: exit 1 and nothing written. Returns
/// stderr, for the caller's checks of the message.
pub fn refused_input(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let f = dir.join(name);
    std::fs::write(&f, bytes).unwrap();
    let out = dir.join(format!("out-{name}"));
    let o = run(&[
        "transform",
        f.to_str().unwrap(),
        "--to",
        "kvm",
        "-o",
        out.to_str().unwrap(),
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{name}: {err}");
    assert!(walk(&out).is_empty(), "{name}: partial output");
    err
}

/// A fresh, empty database on the PostgreSQL server `.ci/run` starts
/// (`HVX_PG_URL`), named after the test: its URL. `None` (skip) without it.
pub fn pg_database(name: &str) -> Option<String> {
    let base = endpoint("HVX_PG_URL", "a PostgreSQL server for session tables")?;
    let mut admin =
        postgres::Client::connect(&base, postgres::NoTls).expect("connect to HVX_PG_URL");
    let db = format!("hvx_{name}");
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .expect("drop the old test database");
    admin
        .batch_execute(&format!("CREATE DATABASE {db}"))
        .expect("create the test database");
    let (head, _) = base.rsplit_once('/').expect("a URL with a database");
    Some(format!("{head}/{db}"))
}

/// A running `hvxform serve`, stopped (SIGKILL) when dropped.
pub struct Server {
    pub child: std::process::Child,
    pub addr: String,
}

pub const TOKEN: &str = "test-token-0123456789abcdef";

impl Server {
    /// Starts `hvxform serve` on a free loopback port with `args`, and waits
    /// for /healthz.
    pub fn start(args: &[&str]) -> Server {
        let mut s = Server::spawn(args);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Ok(r) = http::Client::new(&s.addr).send("GET", "/healthz", &[], b"") {
                if r.status == 200 {
                    return s;
                }
            }
            if let Ok(Some(st)) = s.child.try_wait() {
                panic!("hvxform serve exited: {st}");
            }
            assert!(std::time::Instant::now() < deadline, "serve did not start");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Starts `hvxform serve` on a free loopback port, without waiting.
    pub fn spawn(args: &[&str]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        // HVX_SERVE_BIN: another build (a release binary, to measure).
        let mut cmd = match std::env::var_os("HVX_SERVE_BIN") {
            Some(b) => Command::new(b),
            None => bin(),
        };
        let child = cmd
            .args(["serve", "--listen", &addr])
            .args(args)
            .env("HVXFORM_TOKEN", TOKEN)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start hvxform serve");
        Server { child, addr }
    }

    pub fn client(&self) -> http::Client {
        http::Client::new(&self.addr)
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The bearer header the test servers expect.
pub const AUTH: (&str, &str) = ("Authorization", "Bearer test-token-0123456789abcdef");

/// The KVM samples and every libvirt test domain Debian's libvirt accepts
/// (tests/corpus/libvirt-qemu-domainxml/ACCEPTED.tsv).
pub fn kvm_inputs() -> Vec<PathBuf> {
    let corpus = root().join("tests/corpus/libvirt-qemu-domainxml");
    let accepted = std::fs::read_to_string(corpus.join("ACCEPTED.tsv")).unwrap();
    let mut inputs = samples("kvm");
    for line in accepted.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.get(1) == Some(&"yes") {
            inputs.push(corpus.join(cols[0]));
        }
    }
    inputs
}

/// The `<name>` of a libvirt domain.
pub fn domain_name(text: &str) -> String {
    let d = roxmltree::Document::parse(text).unwrap();
    d.root_element()
        .children()
        .find(|c| c.has_tag_name("name"))
        .and_then(|n| n.text())
        .unwrap()
        .to_string()
}

/// Element names, attributes and texts (formatting whitespace left out) of
/// two trees, side by side.
pub fn same_tree(a: hvxform::tree::Node, b: hvxform::tree::Node, at: &str) {
    assert_eq!(a.tag_name().name(), b.tag_name().name(), "{at}");
    assert_eq!(a.tag_name().namespace(), b.tag_name().namespace(), "{at}");
    let attrs = |n: hvxform::tree::Node| -> Vec<(String, String)> {
        n.attributes()
            .map(|a| (a.name().to_string(), a.value().to_string()))
            .collect()
    };
    assert_eq!(attrs(a), attrs(b), "{at}");
    fn kids<'a, 'i>(n: hvxform::tree::Node<'a, 'i>) -> Vec<hvxform::tree::Node<'a, 'i>> {
        n.children()
            .filter(|c| c.is_element() || c.text().is_some_and(|t| !t.trim().is_empty()))
            .collect()
    }
    let (ka, kb) = (kids(a), kids(b));
    assert_eq!(ka.len(), kb.len(), "{at}: <{}>", a.tag_name().name());
    for (x, y) in ka.into_iter().zip(kb) {
        if x.is_element() {
            same_tree(x, y, at);
        } else {
            assert_eq!(x.text(), y.text(), "{at}");
        }
    }
}

/// A libvirt domain with `virtio` virtio disks, SCSI disks with the given
/// target names (a name's letter is its unit: `sdp` is unit 15), `sata`
/// SATA disks (named on from the SCSI ones: `sdX` after as many letters as
/// there are SCSI disks) and `nics` NICs, none with an address: libvirt and
/// hvxform place them.
#[allow(dead_code)]
pub fn large_domain(virtio: usize, scsi: &[&str], sata: usize, nics: usize) -> String {
    let disk = |file: String, dev: String, bus: &str| {
        format!(
            "    <disk type='file' device='disk'>\n      <driver name='qemu' type='qcow2'/>\n      \
             <source file='/var/lib/libvirt/images/{file}.qcow2'/>\n      \
             <target dev='{dev}' bus='{bus}'/>\n    </disk>\n"
        )
    };
    let mut devices = String::new();
    for i in 0..virtio {
        devices += &disk(
            format!("virtio{i}"),
            format!("vd{}", disk_letters(i)),
            "virtio",
        );
    }
    for t in scsi {
        devices += &disk(format!("scsi-{t}"), t.to_string(), "scsi");
    }
    for i in 0..sata {
        // SATA disks are sd* too: named after the SCSI ones (a name's
        // letter is its unit on SATA as well).
        devices += &disk(
            format!("sata{i}"),
            format!("sd{}", disk_letters(scsi.len() + i)),
            "sata",
        );
    }
    for i in 0..nics {
        devices += &format!(
            "    <interface type='network'>\n      <mac address='52:54:00:00:01:{i:02x}'/>\n      \
             <source network='default'/>\n      <model type='virtio'/>\n    </interface>\n"
        );
    }
    format!(
        "<domain type='kvm'>\n  <name>large</name>\n  \
         <uuid>6f1c2a9e-3b7d-4c8e-9a51-2d4e8f0b0001</uuid>\n  \
         <memory unit='KiB'>4194304</memory>\n  <vcpu>4</vcpu>\n  \
         <os><type arch='x86_64' machine='q35'>hvm</type></os>\n  \
         <devices>\n{devices}  </devices>\n</domain>\n"
    )
}

/// The letters of the disk with index `i` from 0, as libvirt names them:
/// a … z, then aa, ab, ….
#[allow(dead_code)]
pub fn disk_letters(i: usize) -> String {
    let l = |k: usize| char::from(b'a' + k as u8);
    if i < 26 {
        l(i).to_string()
    } else {
        format!("{}{}", l(i / 26 - 1), l(i % 26))
    }
}

/// The first `n` SCSI target names: sda, sdb, … sdz, sdaa, ….
#[allow(dead_code)]
pub fn sd_names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("sd{}", disk_letters(i))).collect()
}

/// libvirt test domains vSphere cannot hold: five or more SCSI controllers
/// (vSphere has buses 0 to 3). Converting them is refused, named
/// (tests/device_places.rs); the vSphere checks take every other input.
#[allow(dead_code)]
pub const VSPHERE_REFUSES: &[&str] = &["disk-scsi.xml", "controller-virtio-scsi.xml"];

/// Whether `input` is one of [`VSPHERE_REFUSES`].
#[allow(dead_code)]
pub fn vsphere_refuses(input: &Path) -> bool {
    input
        .file_name()
        .is_some_and(|n| VSPHERE_REFUSES.iter().any(|r| n == *r))
        && input.to_string_lossy().contains("libvirt-qemu-domainxml")
}

/// `virsh -c URI ARGS`: whether it succeeded, and what it printed.
pub fn virsh(uri: &str, args: &[&str]) -> (bool, String) {
    let o = Command::new("virsh")
        .arg("-c")
        .arg(uri)
        .args(args)
        .output()
        .expect("virsh");
    (o.status.success(), format!("{}{}", stdout(&o), stderr(&o)))
}
