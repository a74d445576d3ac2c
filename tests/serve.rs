//! `hvxform serve` and PostgreSQL session stores, against a real
//! PostgreSQL server (`HVX_PG_URL`, started by `.ci/run`).

mod common;

use common::http::Response;
use common::{pg_database, run, stderr, temp_dir, Server, AUTH};

fn web() -> Vec<u8> {
    std::fs::read(common::root().join("samples/kvm/web.xml")).unwrap()
}

fn post(s: &Server, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    let mut h = vec![AUTH];
    h.extend_from_slice(headers);
    s.client().send("POST", path, &h, body).expect("request")
}

fn get(s: &Server, path: &str) -> Response {
    s.client().send("GET", path, &[AUTH], b"").expect("request")
}

/// The error envelope: status, kind, message.
fn err(r: &Response) -> (u16, String, String) {
    let e = &r.json()["error"];
    assert_eq!(e["status"], r.status, "{}", r.body);
    (
        r.status,
        e["kind"].as_str().unwrap().to_string(),
        e["message"].as_str().unwrap().to_string(),
    )
}

#[test]
fn the_server_converts_as_the_cli_does_and_shares_its_tables() {
    let Some(url) = pg_database("serve_api") else {
        return;
    };
    let s = Server::start(&["--session", &url, "--max-body", "200000"]);
    // Health checks need no token; everything else does.
    let mut c = s.client();
    assert_eq!(c.send("GET", "/healthz", &[], b"").unwrap().status, 200);
    let ready = c.send("GET", "/readyz", &[], b"").unwrap();
    assert_eq!(
        (ready.status, ready.json()["session"].as_str()),
        (200, Some("postgres"))
    );
    for (path, headers) in [
        ("/metrics", vec![]),
        (
            "/v1/openapi.json",
            vec![("Authorization", "Bearer wrong-token-0123456789")],
        ),
    ] {
        let r = c.send("GET", path, &headers, b"").unwrap();
        assert_eq!(err(&r).0, 401, "{path}");
        assert!(r.header("www-authenticate").is_some());
    }
    let r = c
        .send("POST", "/v1/convert?to=vsphere", &[], &web())
        .unwrap();
    assert_eq!(err(&r).1, "unauthorized");

    // One input to two targets: the envelope names each output as the CLI
    // names its files, with the same bytes as `transform --session` gives
    // on the same database.
    let r = post(
        &s,
        "/v1/convert?to=vsphere&to=ovf&to=ec2&name=web.xml",
        &[],
        &web(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let env = r.json();
    let outs = env["outputs"].as_array().unwrap();
    let names: Vec<&str> = outs.iter().map(|o| o["name"].as_str().unwrap()).collect();
    assert_eq!(&names[..2], ["web.vsphere.xml", "web.ovf"]);
    assert_eq!(outs[0]["media_type"], "application/xml");
    // What vSphere and OVF have no place for is carried in the outputs for
    // the way back (book: the hub, carried data), and listed as such.
    assert_eq!(env["report"]["unmapped_count"], 0, "{}", r.body);
    assert!(env["report"]["dropped"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["reason"]
            .as_str()
            .unwrap()
            .contains("carried in the output")));
    let dir = temp_dir("serve-cli");
    let o = run(&[
        "transform",
        "samples/kvm/web.xml",
        "--to",
        "vsphere,ovf,ec2",
        "-o",
        dir.to_str().unwrap(),
        "--session",
        &url,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Every file the CLI wrote, and no other, under the same name.
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, files);
    for o in outs {
        let file = std::fs::read_to_string(dir.join(o["name"].as_str().unwrap())).unwrap();
        assert_eq!(o["content"].as_str().unwrap(), file);
    }
    // The minted datastore is in the database, as the server shows it.
    let t = get(&s, "/v1/sessions").json();
    assert_eq!(
        t["tables"]["datastores"]["entries"][0],
        serde_json::json!(["/var/lib/libvirt/images", "datastore1"])
    );
    // Accept: application/xml gives the one document itself...
    let r = post(
        &s,
        "/v1/convert?to=vsphere",
        &[("Accept", "application/xml")],
        &web(),
    );
    assert_eq!(
        (r.status, r.header("content-type")),
        (200, Some("application/xml"))
    );
    assert!(r.body.contains("<VirtualMachineConfigSpec"));
    // ... and is refused for two.
    let r = post(
        &s,
        "/v1/convert?to=vsphere,ovf",
        &[("Accept", "application/xml")],
        &web(),
    );
    assert_eq!(err(&r).0, 406);

    // Bad requests: located messages, the right status.
    let r = post(
        &s,
        "/v1/convert?to=vsphere&name=bad.xml",
        &[],
        b"<domain>\n  <name>x</nam>\n</domain>",
    );
    let (st, kind, msg) = err(&r);
    assert_eq!((st, kind.as_str()), (400, "input"));
    assert!(msg.starts_with("bad.xml:2:"), "{msg}");
    assert_eq!(r.json()["error"]["location"]["line"], 2);
    // The command line says the same of the same file.
    let bad = temp_dir("serve-bad");
    std::fs::write(bad.join("bad.xml"), "<domain>\n  <name>x</nam>\n</domain>").unwrap();
    let o = common::bin()
        .args(["transform", "bad.xml", "--to", "vsphere"])
        .current_dir(&bad)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!("error: {msg}")),
        "{msg} / {}",
        stderr(&o)
    );
    let r = post(&s, "/v1/convert?to=vshpere", &[], &web());
    let (st, _, msg) = err(&r);
    assert_eq!(st, 400);
    assert!(msg.contains("did you mean `vsphere`"), "{msg}");
    let r = post(&s, "/v1/convert", &[], &web());
    assert_eq!(err(&r).0, 400);
    let r = post(&s, "/v1/convert?to=vsphere&colour=red", &[], &web());
    assert!(err(&r).2.contains("unknown query parameter `colour`"));
    let r = post(
        &s,
        "/v1/convert?to=vsphere&name=../../etc/passwd",
        &[],
        &web(),
    );
    assert_eq!(
        r.status, 200,
        "a name labels outputs, it is never a path: {}",
        r.body
    );
    assert_eq!(r.json()["outputs"][0]["name"], "passwd.vsphere.xml");
    let r = post(&s, "/v1/convert?to=vsphere", &[], &vec![b' '; 300_000]);
    assert_eq!(err(&r).0, 413);
    let r = post(&s, "/v1/convert?to=kvm&name=v.xml", &[], b"<VirtualMachineConfigSpec xmlns='urn:vim25'><numCPUs>two</numCPUs></VirtualMachineConfigSpec>");
    assert!(matches!(r.status, 400 | 422), "{}", r.body);
    let r = s.client().send("GET", "/v2/nothing", &[AUTH], b"").unwrap();
    assert_eq!(err(&r).0, 404);

    // Mappings are checked as `hvxform check --format json` checks them.
    let r = post(&s, "/v1/check?name=mine.hvx", &[], b"mapping \"mine\" { from kvm to vsphere version \"1\" }\n\nunmapped report;\non domain {\n  <name> = undefined_fn(name);\n}\n");
    assert_eq!(r.status, 422, "{}", r.body);
    let d = r.json();
    let first = &d["diagnostics"][0]["primary"];
    assert_eq!(first["file"], "mine.hvx", "{d}");
    assert_eq!(first["line"].as_u64(), Some(5), "{d}");

    // Metrics count what happened.
    let m = get(&s, "/metrics");
    assert_eq!(m.status, 200);
    assert!(
        m.body.contains("hvxform_conversions_total{result=\"ok\"}"),
        "{}",
        m.body
    );
    assert!(m
        .body
        .contains("hvxform_http_requests_total{endpoint=\"convert\",status=\"413\"} 1"));
    assert!(m.body.contains(
        "hvxform_http_request_duration_seconds_bucket{endpoint=\"convert\",le=\"+Inf\"}"
    ));
    assert!(get(&s, "/v1/openapi.json").json()["paths"]["/v1/convert"].is_object());
}

#[test]
fn limits_answer_503_and_the_server_keeps_going() {
    // One worker, no queue: concurrent requests beyond it are refused at
    // once. (400 copies of a disk keep the worker busy: the hub takes them
    // all, where vSphere would refuse that many at once, in well under the
    // deadline below.)
    let s = Server::start(&["--workers", "1", "--queue", "0"]);
    let big: Vec<u8> = {
        let w = String::from_utf8(web()).unwrap();
        let disk = &w[w.find("<disk").unwrap()..w.find("</disk>").unwrap() + 7];
        w.replace(disk, &disk.repeat(400)).into_bytes()
    };
    // A deadline no conversion of this document meets, however late the
    // machine runs the server's threads: 5,000 disks take a few hundred
    // milliseconds, the body (1.6 MB) arrives in a few. (With 400 disks and
    // 1 ms, a loaded machine once ran the conversion to its end before the
    // server looked at the clock.)
    let huge: Vec<u8> = {
        let w = String::from_utf8(web()).unwrap();
        let disk = &w[w.find("<disk").unwrap()..w.find("</disk>").unwrap() + 7];
        w.replace(disk, &disk.repeat(5000)).into_bytes()
    };
    let t = Server::start(&["--timeout", "0.05"]);
    let (st, kind, _) = err(&post(&t, "/v1/convert?to=hvx", &[], &huge));
    assert_eq!((st, kind.as_str()), (503, "timeout"));
    let statuses: Vec<(u16, String)> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..24)
            .map(|_| {
                let big = &big;
                let s = &s;
                sc.spawn(move || {
                    let r = post(s, "/v1/convert?to=hvx", &[], big);
                    let kind = if r.status == 200 {
                        String::new()
                    } else {
                        err(&r).1
                    };
                    (r.status, kind)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let answered = |s: &(u16, String)| s.0 == 200 || s.1 == "conversion";
    assert!(statuses.iter().any(answered), "{statuses:?}");
    assert!(
        statuses.iter().any(|s| *s == (503, "busy".to_string())),
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| answered(s) || s.1 == "busy"),
        "{statuses:?}"
    );
    // Still serving (once the worker is back at the queue: a client
    // retries after Retry-After).
    let served = (0..50).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(20));
        post(&s, "/v1/convert?to=vsphere", &[], &web()).status == 200
    });
    assert!(served);
}

#[test]
fn refuses_to_start_without_a_token_or_off_loopback() {
    let o = common::bin()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("HVXFORM_TOKEN")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("bearer token"), "{}", stderr(&o));
    let o = common::bin()
        .args(["serve", "--listen", "0.0.0.0:0"])
        .env("HVXFORM_TOKEN", common::TOKEN)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("loopback"), "{}", stderr(&o));
    let o = common::bin()
        .args(["serve", "--session", "store.yaml"])
        .env("HVXFORM_TOKEN", common::TOKEN)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("PostgreSQL"), "{}", stderr(&o));
    for (args, says) in [
        (&["--max-connections", "0"][..], "at least 1"),
        (&["--max-connections", "999999999999"][..], "ulimit -n"),
        (&["--idle-timeout", "0"][..], "--idle-timeout must be"),
        (&["--idle-timeout", "inf"][..], "--idle-timeout must be"),
    ] {
        let o = common::bin()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env("HVXFORM_TOKEN", common::TOKEN)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
    }
}

/// Clients that connect and send nothing, send a head or a body a byte at a
/// time, or hang up mid-body hold no connection for long, and the health
/// checks still answer: before, a thousand idle connections took every
/// file descriptor and /healthz was never answered, a body that never
/// ended held its request for ever, and a client hanging up was counted as
/// a body too large (413).
#[test]
fn idle_slow_and_vanishing_clients_hold_nothing() {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let s = Server::start(&[
        "--idle-timeout",
        "1",
        "--timeout",
        "2",
        "--max-connections",
        "40",
    ]);
    // Five times the connections the server holds, each sending nothing.
    let idle: Vec<std::net::TcpStream> = (0..200)
        .map(|_| std::net::TcpStream::connect(&s.addr).unwrap())
        .collect();
    let t = Instant::now();
    let mut c = std::net::TcpStream::connect(&s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    c.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply:?}");
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    // An idle connection is closed by the server (end of stream, not our
    // read timeout).
    let mut first = &idle[0];
    first
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(first.read(&mut buf).unwrap(), 0);
    drop(idle);
    // A head sent a byte at a time is cut off after the idle timeout.
    let mut slow = std::net::TcpStream::connect(&s.addr).unwrap();
    let t = Instant::now();
    let cut = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1234567890\r\n"
        .iter()
        .any(|b| {
            std::thread::sleep(Duration::from_millis(100));
            slow.write_all(&[*b]).is_err()
        });
    assert!(
        cut,
        "a head trickled in over {:?} was still read",
        t.elapsed()
    );
    let send = |body: &[u8], declared: usize| {
        let mut c = std::net::TcpStream::connect(&s.addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let head = format!(
            "POST /v1/convert?to=hvx HTTP/1.1\r\nHost: x\r\nContent-Length: {declared}\r\n{}: {}\r\n\r\n",
            AUTH.0, AUTH.1
        );
        c.write_all(head.as_bytes()).unwrap();
        c.write_all(body).unwrap();
        c
    };
    // A body that stops coming: 408 after --timeout.
    let mut c = send(b"<domain", 1000);
    let mut reply = String::new();
    let _ = c.read_to_string(&mut reply);
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply:?}");
    assert!(reply.contains("\"body_timeout\""), "{reply:?}");
    // A client that hangs up mid-body is no 413 (and no 408).
    drop(send(b"<domain", 1000));
    let deadline = Instant::now() + Duration::from_secs(20);
    let metrics = loop {
        let m = get(&s, "/metrics").body;
        if m.contains("endpoint=\"convert\",status=\"400\"") || Instant::now() > deadline {
            break m;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        metrics.contains("hvxform_http_requests_total{endpoint=\"convert\",status=\"400\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("hvxform_http_requests_total{endpoint=\"convert\",status=\"408\"} 1"),
        "{metrics}"
    );
    assert!(!metrics.contains("status=\"413\""), "{metrics}");
    assert!(metrics.contains("hvxform_connections_open "), "{metrics}");
    // And it still converts.
    assert_eq!(post(&s, "/v1/convert?to=vsphere", &[], &web()).status, 200);
}

#[test]
fn cli_round_trip_and_export_import_through_postgres() {
    let (Some(a), Some(b)) = (pg_database("cli_a"), pg_database("cli_b")) else {
        return;
    };
    let dir = temp_dir("pg-cli");
    let there = dir.join("there");
    let back = dir.join("back");
    let ok = |args: &[&str]| {
        let o = run(args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        o
    };
    // kvm -> vsphere -> kvm with the tables in PostgreSQL: the datastore
    // path comes back from the table.
    ok(&[
        "transform",
        "samples/kvm/web.xml",
        "--to",
        "vsphere",
        "-o",
        there.to_str().unwrap(),
        "--session",
        &a,
    ]);
    ok(&[
        "transform",
        there.join("web.vsphere.xml").to_str().unwrap(),
        "--to",
        "kvm",
        "-o",
        back.to_str().unwrap(),
        "--session",
        &a,
    ]);
    let kvm = std::fs::read_to_string(back.join("web.vsphere.kvm.xml")).unwrap();
    assert!(kvm.contains("/var/lib/libvirt/images/web.qcow2"), "{kvm}");
    // export -> import into another database -> export: the same file.
    let y1 = dir.join("a.yaml");
    let y2 = dir.join("b.yaml");
    ok(&["session", "export", &a, "-o", y1.to_str().unwrap()]);
    let o = ok(&["session", "import", y1.to_str().unwrap(), &b]);
    assert!(stderr(&o).contains("2 new pair(s)"), "{}", stderr(&o));
    ok(&["session", "export", &b, "-o", y2.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(&y1).unwrap(),
        std::fs::read_to_string(&y2).unwrap()
    );
    let shown = common::stdout(&ok(&[
        "session",
        "show",
        y2.to_str().unwrap(),
        "--format",
        "json",
    ]));
    assert!(shown.contains("datastore1"), "{shown}");
    // A conflicting import changes nothing.
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "version: 1\ntables:\n  zzz:\n    left: string\n    right: string\n    entries:\n      - [a, b]\n  datastores:\n    left: string\n    right: string\n    entries:\n      - [/var/lib/libvirt/images, elsewhere]\n",
    )
    .unwrap();
    let o = run(&["session", "import", bad.to_str().unwrap(), &b]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("already paired with `datastore1`"),
        "{}",
        stderr(&o)
    );
    let y3 = dir.join("c.yaml");
    ok(&["session", "export", &b, "-o", y3.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(&y3).unwrap(),
        std::fs::read_to_string(&y2).unwrap()
    );
    // Unreachable databases and wrong URLs: exit 2, the password not shown.
    let o = run(&[
        "transform",
        "samples/kvm/web.xml",
        "--to",
        "vsphere",
        "--session",
        "postgres://u:hunter2@127.0.0.1:1/x",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cannot connect") && !stderr(&o).contains("hunter2"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn commands_translate_as_the_cli_translates_them() {
    let s = Server::start(&[]);
    let read = |p: &str| std::fs::read_to_string(common::root().join(p)).unwrap();
    // Direct: the body is the command.
    let r = post(
        &s,
        "/v1/command?to=kvm&param=domain=web&name=power-on.xml",
        &[],
        read("samples/commands/power-on.xml").as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let cli = run(&[
        "command",
        "samples/commands/power-on.xml",
        "--to",
        "kvm",
        "--param",
        "domain=web",
    ]);
    assert_eq!(r.json()["output"].as_str().unwrap(), common::stdout(&cli));
    assert_eq!(r.json()["source"], "vsphere");
    // With the VM's configuration: a JSON body.
    let body = serde_json::json!({
        "command": read("samples/commands/remove-nic.xml"),
        "contexts": [{"name": "proof.context.xml", "content": read("samples/commands/proof.context.xml")}],
    });
    let r = post(
        &s,
        "/v1/command?to=kvm&name=remove-nic.xml",
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let cli = run(&[
        "command",
        "samples/commands/remove-nic.xml",
        "--to",
        "kvm",
        "--context",
        "samples/commands/proof.context.xml",
    ]);
    assert_eq!(r.json()["output"].as_str().unwrap(), common::stdout(&cli));
    assert_eq!(r.json()["paths"][0]["direct"], false, "{}", r.body);
    // ... as a virsh script, plain text.
    let r = post(
        &s,
        "/v1/command?to=kvm&param=domain=web&script=qemu:///system",
        &[("Accept", "text/plain")],
        read("samples/commands/cpu-memory.xml").as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("virsh -c qemu:///system"), "{}", r.body);
    // Without the configuration it needs: 422, the CLI's message.
    let r = post(
        &s,
        "/v1/command?to=kvm",
        &[],
        read("samples/commands/remove-nic.xml").as_bytes(),
    );
    let (st, _, msg) = err(&r);
    let cli = run(&["command", "samples/commands/remove-nic.xml", "--to", "kvm"]);
    assert_eq!(st, 422);
    assert!(
        stderr(&cli).contains(
            msg.lines()
                .next()
                .unwrap()
                .split("command.xml")
                .last()
                .unwrap()
        ),
        "{msg} / {}",
        stderr(&cli)
    );
    // Bad bodies and targets.
    let r = post(
        &s,
        "/v1/command?to=kvm",
        &[("Content-Type", "application/json")],
        b"{\"command\": 1}",
    );
    assert_eq!(err(&r).0, 400);
    let r = post(
        &s,
        "/v1/command?to=ovf",
        &[],
        read("samples/commands/power-on.xml").as_bytes(),
    );
    assert!(err(&r).2.contains("not implemented"), "{}", r.body);
    let r = post(
        &s,
        "/v1/command?to=kvm&name=c.xml",
        &[],
        b"<PowerOnVM_Task xmlns='urn:vim25'>",
    );
    let (st, _, msg) = err(&r);
    assert_eq!(st, 400);
    assert!(msg.starts_with("c.xml:1:"), "{msg}");
}

#[test]
fn sigterm_finishes_the_requests_in_flight() {
    use std::io::{Read, Write};
    let mut s = Server::start(&["--workers", "1"]);
    // A request held in flight: its body sent in two halves, the second
    // after the SIGTERM (a conversion alone ends too soon to be seen).
    let body = web();
    let (first, rest) = body.split_at(body.len() / 2);
    let mut conn = std::net::TcpStream::connect(&s.addr).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let head = format!(
        "POST /v1/convert?to=hvx HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n{}: {}\r\nConnection: close\r\n\r\n",
        s.addr,
        body.len(),
        AUTH.0,
        AUTH.1
    );
    conn.write_all(head.as_bytes()).unwrap();
    conn.write_all(first).unwrap();
    conn.flush().unwrap();
    // In flight: it and the metrics request itself.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !get(&s, "/metrics")
        .body
        .contains("hvxform_requests_in_flight 2")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the request never arrived"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let pid = s.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    std::thread::sleep(std::time::Duration::from_millis(100));
    conn.write_all(rest).unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("urn:hvxform:hvx:1"), "{reply}");
    let st = s.child.wait().unwrap();
    assert_eq!(st.code(), Some(0));
    // And it accepts nothing more.
    assert!(s.client().send("GET", "/healthz", &[], b"").is_err());
}

#[test]
fn hostile_documents_get_located_errors() {
    let s = Server::start(&[]);
    let deep = format!(
        "<domain>{}{}</domain>",
        "<a>".repeat(5000),
        "</a>".repeat(5000)
    );
    let (st, _, msg) = err(&post(
        &s,
        "/v1/convert?to=vsphere&name=deep.xml",
        &[],
        deep.as_bytes(),
    ));
    assert_eq!(st, 400);
    assert!(
        msg.starts_with("deep.xml:1:") && msg.contains("nested deeper"),
        "{msg}"
    );
    let (st, _, msg) = err(&post(
        &s,
        "/v1/convert?to=vsphere&name=b.xml",
        &[],
        b"\xff\xfe<\x00",
    ));
    assert_eq!(st, 400, "{msg}");
    let (st, _, msg) = err(&post(
        &s,
        "/v1/convert?to=vsphere&name=n.xml",
        &[],
        b"<notavm/>",
    ));
    assert_eq!(st, 400);
    assert!(msg.starts_with("n.xml"), "{msg}");
    // The way out is named in this API's words: the `from` query parameter,
    // not the command line's --from.
    assert!(msg.contains("from="), "{msg}");
    assert!(!msg.contains("--"), "{msg}");
    // Still up.
    assert_eq!(post(&s, "/v1/convert?to=vsphere", &[], &web()).status, 200);
}

/// One HTTPS request with rustls, trusting `ca` (DER) only.
fn https(
    addr: &str,
    ca: &[u8],
    path: &str,
    auth: bool,
    body: &[u8],
) -> Result<(u16, String), String> {
    use std::io::{Read, Write};
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(ca.to_vec()))
        .unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let tcp = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let method = if body.is_empty() { "GET" } else { "POST" };
    let auth = if auth {
        format!("{}: {}\r\n", AUTH.0, AUTH.1)
    } else {
        String::new()
    };
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n{auth}\r\n",
        body.len()
    );
    tls.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    tls.write_all(body).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or(text.clone())?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

#[test]
fn tls_with_a_certificate_on_any_address() {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let dir = temp_dir("serve-tls");
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    let s = Server::spawn(&[
        "--tls-cert",
        c.to_str().unwrap(),
        "--tls-key",
        k.to_str().unwrap(),
    ]);
    let ca = cert.der().to_vec();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while https(&s.addr, &ca, "/healthz", false, b"").is_err() {
        assert!(std::time::Instant::now() < deadline, "no TLS server");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (st, body) = https(&s.addr, &ca, "/v1/convert?to=vsphere", true, &web()).unwrap();
    assert_eq!(st, 200, "{body}");
    assert!(body.contains("VirtualMachineConfigSpec"));
    assert_eq!(https(&s.addr, &ca, "/metrics", false, b"").unwrap().0, 401);
    // Plain HTTP on the TLS port gets no answer.
    assert!(s.client().send("GET", "/healthz", &[], b"").is_err());
    // A client that does not trust the certificate is refused.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    assert!(https(&s.addr, other.cert.der(), "/healthz", false, b"").is_err());
    // A key that does not match, or no certificate: it does not start.
    let o = common::bin()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            k.to_str().unwrap(),
            "--tls-key",
            k.to_str().unwrap(),
        ])
        .env("HVXFORM_TOKEN", common::TOKEN)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("cert.pem") || stderr(&o).contains("no certificate"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_database_keeps_tables_one_to_one_and_its_schema_versioned() {
    let Some(url) = pg_database("schema") else {
        return;
    };
    // Two processes migrating at once apply each migration once.
    std::thread::scope(|sc| {
        let hs: Vec<_> = (0..4)
            .map(|_| sc.spawn(|| run(&["session", "show", &url])))
            .collect();
        for h in hs {
            let o = h.join().unwrap();
            assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        }
    });
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let versions: Vec<i32> = db
        .query("SELECT version FROM hvx_schema ORDER BY version", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, [1]);
    // The constraints, not hvxform, keep each side unique.
    db.batch_execute(
        "INSERT INTO hvx_tables VALUES ('t', 'string', 'string');
         INSERT INTO hvx_pairs (tbl, left_value, right_value) VALUES ('t', 'a', 'x')",
    )
    .unwrap();
    for (l, r) in [("a", "y"), ("b", "x")] {
        let e = db
            .execute(
                "INSERT INTO hvx_pairs (tbl, left_value, right_value) VALUES ('t', $1, $2)",
                &[&l, &r],
            )
            .unwrap_err();
        assert_eq!(
            e.code(),
            Some(&postgres::error::SqlState::UNIQUE_VIOLATION),
            "{l} {r}"
        );
    }
    // A database a newer hvxform made is refused, not misread.
    db.batch_execute("INSERT INTO hvx_schema (version) VALUES (99)")
        .unwrap();
    let o = run(&["session", "export", &url]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("newer than this hvxform"),
        "{}",
        stderr(&o)
    );
}
