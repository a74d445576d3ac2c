use super::*;
use write::write_tree;

const DEFINE: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="1" PROTOCOLVERSION="1.0"><SIMPLEREQ>
<METHODCALL NAME="DefineSystem"><LOCALINSTANCEPATH><LOCALNAMESPACEPATH><NAMESPACE NAME="root"/><NAMESPACE NAME="virtualization"/><NAMESPACE NAME="v2"/></LOCALNAMESPACEPATH>
<INSTANCENAME CLASSNAME="Msvm_VirtualSystemManagementService"><KEYBINDING NAME="Name"><KEYVALUE VALUETYPE="string">vmms</KEYVALUE></KEYBINDING></INSTANCENAME></LOCALINSTANCEPATH>
<PARAMVALUE NAME="SystemSettings" PARAMTYPE="string" EmbeddedObject="instance"><VALUE>&lt;INSTANCE CLASSNAME=&quot;Msvm_VirtualSystemSettingData&quot;&gt;
 &lt;PROPERTY NAME=&quot;ElementName&quot; TYPE=&quot;string&quot;&gt;&lt;VALUE&gt;a &amp;amp; b &amp;lt;c&amp;gt;&lt;/VALUE&gt;&lt;/PROPERTY&gt;
 &lt;PROPERTY.ARRAY NAME=&quot;Notes&quot; TYPE=&quot;string&quot;&gt;&lt;VALUE.ARRAY&gt;&lt;VALUE&gt;x&lt;/VALUE&gt;&lt;VALUE&gt;y&lt;/VALUE&gt;&lt;/VALUE.ARRAY&gt;&lt;/PROPERTY.ARRAY&gt;
 &lt;PROPERTY NAME=&quot;Caption&quot; TYPE=&quot;string&quot;&gt;&lt;/PROPERTY&gt;
&lt;/INSTANCE&gt;
</VALUE></PARAMVALUE>
<PARAMVALUE NAME="ResourceSettings" PARAMTYPE="string" EmbeddedObject="instance"><VALUE.ARRAY><VALUE>&lt;INSTANCE CLASSNAME=&quot;Msvm_ProcessorSettingData&quot;&gt;
 &lt;PROPERTY NAME=&quot;ResourceType&quot; TYPE=&quot;uint16&quot;&gt;&lt;VALUE&gt;3&lt;/VALUE&gt;&lt;/PROPERTY&gt;
 &lt;PROPERTY NAME=&quot;VirtualQuantity&quot; TYPE=&quot;uint64&quot;&gt;&lt;VALUE&gt;2&lt;/VALUE&gt;&lt;/PROPERTY&gt;
&lt;/INSTANCE&gt;
</VALUE></VALUE.ARRAY></PARAMVALUE>
</METHODCALL></SIMPLEREQ></MESSAGE></CIM>"#;

#[test]
fn define_system_unpacks_embedded_instances() {
    assert!(looks_like_cim(DEFINE));
    let c = read("d.xml", DEFINE).unwrap();
    let doc = roxmltree::Document::parse(&c).unwrap();
    let root = doc.root_element();
    assert!(root.has_tag_name((NS, "hyperv")));
    assert_eq!(root.attribute("form"), Some("DefineSystem"));
    let insts: Vec<_> = root.children().filter(|n| n.is_element()).collect();
    assert_eq!(insts.len(), 2);
    assert_eq!(insts[0].attribute("class"), Some(VSSD));
    let name = insts[0]
        .children()
        .find(|n| n.has_tag_name("ElementName"))
        .unwrap();
    // Escaped twice in the file (embedded text inside a VALUE): once here.
    assert_eq!(name.text(), Some("a & b <c>"));
    // A property without a VALUE is NULL and left out.
    assert!(!c.contains("Caption"), "{c}");
    assert!(c.contains(r#"<Notes type="string" array="true">"#), "{c}");
    assert!(
        c.contains(r#"<VirtualQuantity type="uint64">2</VirtualQuantity>"#),
        "{c}"
    );
}

#[test]
fn write_then_read_is_the_same_canonical_form() {
    let c = read("d.xml", DEFINE).unwrap();
    let cim = write(&c).unwrap();
    // Hostile characters are escaped once inside the instance and once more
    // as the VALUE's text.
    assert!(cim.contains("a &amp;amp; b &amp;lt;c&amp;gt;"), "{cim}");
    assert!(roxmltree::Document::parse(&cim).is_ok());
    assert_eq!(read("again.xml", &cim).unwrap(), c);
}

#[test]
fn a_tpm_is_a_second_call() {
    let c = read("d.xml", DEFINE).unwrap();
    let with_tpm = c.replace(
        "</hyperv>",
        r#"<instance class="Msvm_SecuritySettingData"><TpmEnabled type="boolean">TRUE</TpmEnabled></instance></hyperv>"#,
    );
    let cim = write(&with_tpm).unwrap();
    assert!(cim.contains("<MULTIREQ>"), "{cim}");
    assert!(cim.contains(r#"NAME="ModifySecuritySettings""#), "{cim}");
    let back = read("t.xml", &cim).unwrap();
    assert!(
        back.contains("<instance class=\"Msvm_SecuritySettingData\">\n    <TpmEnabled type=\"boolean\">TRUE</TpmEnabled>"),
        "{back}"
    );
    assert_eq!(write(&back).unwrap(), cim);
}

#[test]
fn instances_as_wmi_prints_them() {
    let text = concat!(
        r#"<INSTANCE CLASSNAME="Msvm_VirtualSystemSettingData"><PROPERTY NAME="__PATH" CLASSORIGIN="___SYSTEM" TYPE="string"><VALUE>\\h\root</VALUE></PROPERTY>"#,
        r#"<PROPERTY NAME="ElementName" TYPE="string"><VALUE>vm</VALUE></PROPERTY></INSTANCE>"#,
        "\n",
        r#"<INSTANCE CLASSNAME="Msvm_MemorySettingData"><PROPERTY NAME="ResourceType" TYPE="uint16"><VALUE>4</VALUE></PROPERTY></INSTANCE>"#
    );
    let c = read("i.xml", text).unwrap();
    assert!(c.contains(r#"form="instances""#), "{c}");
    assert_eq!(c.matches("<instance ").count(), 2, "{c}");
    assert!(
        c.contains(r#"<__PATH type="string">\\h\root</__PATH>"#),
        "{c}"
    );
    // One instance alone is a well-formed document too.
    let one = read("one.xml", text.split('\n').nth(1).unwrap()).unwrap();
    assert_eq!(one.matches("<instance ").count(), 1);
}

#[test]
fn bad_input_is_located() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "RequestStateChange",
            r#"<CIM><MESSAGE><SIMPLEREQ>
<METHODCALL NAME="RequestStateChange"><LOCALINSTANCEPATH/></METHODCALL></SIMPLEREQ></MESSAGE></CIM>"#,
            "x.xml:2:1: <METHODCALL NAME=\"RequestStateChange\"> is not a VM definition",
        ),
        (
            "no resource type value",
            r#"<INSTANCE CLASSNAME="Msvm_ProcessorSettingData">
  <PROPERTY NAME="ResourceType" TYPE="uint16"><VALUE>three</VALUE></PROPERTY></INSTANCE>"#,
            "x.xml:1:1: Msvm_ProcessorSettingData.ResourceType: `three` is not a uint16 integer",
        ),
        (
            "second instance",
            "<INSTANCE CLASSNAME=\"Msvm_VirtualSystemSettingData\"></INSTANCE>\n  <INSTANCE><PROPERTY/></INSTANCE>",
            "x.xml:2:3: <INSTANCE> without a CLASSNAME",
        ),
        (
            "wrapped, first line",
            "<INSTANCE CLASSNAME=\"Msvm_VirtualSystemSettingData\"></INSTANCE><INSTANCE CLASSNAME=\"Msvm_SecuritySettingData\"><X/></INSTANCE>",
            "x.xml:1:64: Msvm_SecuritySettingData: unexpected <X> in an instance",
        ),
        (
            "malformed",
            "<INSTANCE CLASSNAME=\"Msvm_VirtualSystemSettingData\">\n<PROPERTY></INSTANCE>",
            "x.xml:2:",
        ),
        (
            "unknown type",
            r#"<INSTANCE CLASSNAME="Msvm_SecuritySettingData"><PROPERTY NAME="P" TYPE="uint128"><VALUE>1</VALUE></PROPERTY></INSTANCE>"#,
            "unknown CIM type `uint128`",
        ),
        (
            "wrong class for SystemSettings",
            &DEFINE.replace("Msvm_VirtualSystemSettingData", "Msvm_Foo"),
            "x.xml:5:80: SystemSettings cannot hold an instance of `Msvm_Foo`",
        ),
        (
            "embedded not XML",
            &DEFINE.replace(
                "&lt;/INSTANCE&gt;\n</VALUE></VALUE.ARRAY>",
                "</VALUE></VALUE.ARRAY>",
            ),
            "x.xml:11:95: the embedded instance of ResourceSettings is not usable XML (at its 4:1: malformed XML: the document ends before its root element is closed",
        ),
        (
            "unknown class",
            "<INSTANCE CLASSNAME=\"Msvm_VirtualSystemSettingData\"/>\n<INSTANCE CLASSNAME=\"Msvm_Error\"/>",
            "x.xml:2:1: `Msvm_Error` is not a class of a Hyper-V VM's settings",
        ),
        (
            "no ResourceType",
            r#"<INSTANCE CLASSNAME="Msvm_ProcessorSettingData"><PROPERTY NAME="VirtualQuantity" TYPE="uint64"><VALUE>2</VALUE></PROPERTY></INSTANCE>"#,
            "x.xml:1:1: Msvm_ProcessorSettingData without a ResourceType",
        ),
        (
            "short MAC",
            r#"<INSTANCE CLASSNAME="Msvm_SyntheticEthernetPortSettingData"><PROPERTY NAME="ResourceType" TYPE="uint16"><VALUE>10</VALUE></PROPERTY><PROPERTY NAME="Address" TYPE="string"><VALUE>00155D0A1B</VALUE></PROPERTY></INSTANCE>"#,
            "Msvm_SyntheticEthernetPortSettingData.Address: `00155D0A1B` is not a MAC address as Hyper-V writes it (12 hexadecimal digits, found 10 characters)",
        ),
        (
            "unknown parameter",
            &DEFINE.replace("\"ResourceSettings\"", "\"Resources\""),
            "DefineSystem has no parameter `Resources`",
        ),
    ];
    for (what, text, want) in cases {
        let e = read("x.xml", text).unwrap_err();
        assert!(e.contains(want), "{what}: {e}");
    }
}

#[test]
fn the_writer_refuses_what_hyperv_cannot_take() {
    let base = |body: &str| format!(r#"<hyperv xmlns="{NS}">{body}</hyperv>"#);
    let vssd = r#"<instance class="Msvm_VirtualSystemSettingData"><ElementName type="string">v</ElementName></instance>"#;
    let e = write(&base("")).unwrap_err();
    assert!(
        e.contains("exactly one Msvm_VirtualSystemSettingData"),
        "{e}"
    );
    let e = write(&base(&format!(
        r#"{vssd}<instance class="Msvm_ProcessorSettingData"><VirtualQuantity type="uint64">2</VirtualQuantity></instance>"#
    )))
    .unwrap_err();
    assert!(e.contains("has no ResourceType"), "{e}");
    let e = write(&base(&format!(
        r#"{vssd}<instance class="Msvm_ProcessorSettingData"><ResourceType type="uint16">-3</ResourceType></instance>"#
    )))
    .unwrap_err();
    assert!(e.contains("out of range for uint16"), "{e}");
    let e = write(r#"<vm xmlns="urn:hvxform:hvx:1"/>"#).unwrap_err();
    assert!(e.contains("not the Hyper-V canonical form"), "{e}");
}

#[test]
fn values_are_checked_against_their_type() {
    assert!(check_value("uint64", "18446744073709551615").is_ok());
    assert!(check_value("uint64", "18446744073709551616").is_err());
    assert!(check_value("sint8", "-128").is_ok());
    assert!(check_value("boolean", "True").is_ok());
    assert!(check_value("boolean", "1").is_err());
    assert!(check_value("real64", "1.5").is_ok());
    assert!(check_value("string", "anything <&>").is_ok());
}

#[test]
fn hostile_embedded_and_carried_content_is_refused_quickly() {
    // 5,000 levels inside an embedded instance: refused by the depth limit,
    // placed at the VALUE that holds it.
    let deep = format!("{}{}", "&lt;a&gt;".repeat(5000), "&lt;/a&gt;".repeat(5000));
    let text = DEFINE.replace(
        "&lt;/INSTANCE&gt;\n</VALUE></PARAMVALUE>",
        &format!("{deep}&lt;/INSTANCE&gt;\n</VALUE></PARAMVALUE>"),
    );
    let e = read("x.xml", &text).unwrap_err();
    assert!(e.contains("nested deeper than 1024"), "{e}");
    assert!(e.starts_with("x.xml:5:80:"), "{e}");
    // The same inside the hub content the Notes carry.
    let hub = format!(
        "hvxform:hub=&amp;lt;hub xmlns=&amp;quot;{NS}&amp;quot;&amp;gt;{}{}&amp;lt;/hub&amp;gt;",
        "&amp;lt;a&amp;gt;".repeat(3000),
        "&amp;lt;/a&amp;gt;".repeat(3000)
    );
    let text = DEFINE.replace(
        "&lt;VALUE&gt;x&lt;/VALUE&gt;",
        &format!("&lt;VALUE&gt;{hub}&lt;/VALUE&gt;"),
    );
    let e = read("x.xml", &text).unwrap_err();
    assert!(e.contains("nested deeper than 1024"), "{e}");
}

#[test]
fn values_are_whole_and_single() {
    // A comment inside a VALUE does not cut it short.
    let text = r#"<INSTANCE CLASSNAME="Msvm_VirtualSystemSettingData"><PROPERTY NAME="ElementName" TYPE="string"><VALUE>a<!--c-->b</VALUE></PROPERTY></INSTANCE>"#;
    assert!(read("v.xml", text).unwrap().contains(">ab</ElementName>"));
    let two = text.replace(
        "<VALUE>a<!--c-->b</VALUE>",
        "<VALUE>a</VALUE><VALUE>b</VALUE>",
    );
    let e = read("v.xml", &two).unwrap_err();
    assert!(e.contains("more than one <VALUE>"), "{e}");
    let el = text.replace("a<!--c-->b", "a<b/>");
    let e = read("v.xml", &el).unwrap_err();
    assert!(e.contains("unexpected <b> inside a <VALUE>"), "{e}");
}

#[test]
fn the_writer_refuses_a_property_written_twice() {
    let e = write(&format!(
        r#"<hyperv xmlns="{NS}"><instance class="Msvm_VirtualSystemSettingData"><ElementName type="string">a</ElementName><ElementName type="string">b</ElementName></instance></hyperv>"#
    ))
    .unwrap_err();
    assert!(e.contains("property `ElementName` is written twice"), "{e}");
}

#[test]
fn a_configuration_file_gets_the_namespace_on_its_root() {
    let text =
        "<!-- <configuration> in a comment -->\n<configuration>\n  <properties/>\n</configuration>";
    let t = read_config(text).unwrap();
    assert!(
        t.contains(&format!("\n<configuration xmlns=\"{NS}\">")),
        "{t}"
    );
    assert!(
        t.starts_with("<!-- <configuration> in a comment -->"),
        "{t}"
    );
    // A root of another namespace is not a Hyper-V file.
    assert!(read_config("<configuration xmlns=\"urn:x\"><properties/></configuration>").is_none());
}

/// The canonical forms the writer sees: the mapping's compact output for
/// every sample of every platform, and the reader's (indented) form of every
/// Hyper-V document those make.
fn canonical_forms() -> Vec<(String, String)> {
    use crate::engine::{Convert, Mappings};
    use crate::exec::{self, RunOptions};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let mappings = Mappings::new(None);
    let store = crate::session::MemoryStore::default();
    let conv = Convert::new(&mappings, &store);
    let hvx = crate::platform::by_name("hvx").unwrap();
    let to_hyperv = mappings.program("hvx-to-hyperv.hvx").unwrap();
    let compact = RunOptions {
        compact: true,
        ..RunOptions::default()
    };
    let mut out = Vec::new();
    // Every platform's samples (samples/commands holds commands, not VMs).
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .filter(|d| d.file_name() != "commands")
        .collect();
    dirs.sort_by_key(|d| d.path());
    for dir in dirs {
        let mut files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        files.sort_by_key(|f| f.path());
        for f in files {
            let name = f.path().display().to_string();
            let text = std::fs::read_to_string(f.path()).unwrap();
            let (hubs, _) = conv.convert(&name, &text, None, &[hvx]).unwrap();
            for hub in hubs {
                let doc = crate::tree::Document::parse(&hub.xml).unwrap();
                let o = exec::run(&to_hyperv, &doc, &[], &store, &compact).unwrap();
                for d in o.documents {
                    let cim = write_tree(&d.xml).unwrap();
                    out.push((format!("{name} (reader)"), read("r.xml", &cim).unwrap()));
                    out.push((format!("{name} (mapping)"), d.xml));
                }
            }
        }
    }
    out
}

#[test]
fn the_fast_path_writes_what_the_tree_walk_writes() {
    let forms = canonical_forms();
    assert!(forms.len() >= 30, "{} canonical forms", forms.len());
    let with_carried = forms
        .iter()
        .filter(|(_, c)| c.contains("<carried>"))
        .count();
    assert!(with_carried >= 10, "{with_carried} with carried content");
    for (name, c) in &forms {
        // What a mapping writes takes the fast path (the reader's form
        // declares the hub's prefix on each carried element: not always).
        if name.ends_with("(mapping)") {
            assert!(fast::pack(c).is_some(), "{name} left the fast path:\n{c}");
        }
        assert_eq!(write(c).unwrap(), write_tree(c).unwrap(), "{name}");
    }
}

#[test]
fn what_the_fast_path_does_not_take_goes_to_the_tree_walk() {
    let vssd = |props: &str| {
        format!(
            r#"<hyperv xmlns="{NS}"><instance class="{VSSD}"><ElementName type="string">v</ElementName>{props}</instance></hyperv>"#
        )
    };
    let carried = |notes: &str| {
        format!(
            r#"<hyperv xmlns="{NS}" xmlns:hvx="{}"><instance class="{VSSD}">{notes}</instance><carried><hvx:clock offset="utc"/></carried></hyperv>"#,
            crate::platform::HVX_NS
        )
    };
    // A string's escaped text is copied as it is.
    let amp = vssd(r#"<Caption type="string">a &amp; b</Caption>"#);
    assert!(fast::pack(&amp).is_some());
    assert_eq!(write(&amp).unwrap(), write_tree(&amp).unwrap());
    // Accepted by both, but outside the scanner's subset: the same bytes.
    let fine = [
        vssd(r#"<Caption type="string"><!-- c -->x</Caption>"#),
        vssd(r#"<Caption type="string" a="1" b="2" c="3" d="4">x</Caption>"#),
        vssd(r#"<Version type="uint16">&#52;2</Version>"#),
        vssd(r#"<Caption type='string'>x</Caption>"#),
        vssd(r#"<Caption type="string">&#65;</Caption>"#),
        vssd(r#"<Caption type="string" x="&#65;">y</Caption>"#),
        format!(
            r#"<hyperv xmlns="{NS}" xmlns:x="urn:x"><instance class="{VSSD}"/><carried><x:a/></carried></hyperv>"#
        ),
        format!(
            r#"<hyperv xmlns="{NS}" xmlns:hvx="{hvx}"><instance class="{VSSD}"/><carried><hvx:a xmlns:hvx="{hvx}"/></carried></hyperv>"#,
            hvx = crate::platform::HVX_NS
        ),
    ];
    for c in &fine {
        assert!(fast::pack(c).is_none(), "{c}");
        let cim = write(c).unwrap();
        assert_eq!(cim, write_tree(c).unwrap());
    }
    // The fast path keeps the carried content as the tree walk copies it.
    let c = carried(r#"<Notes type="string" array="true"><value>n</value></Notes>"#);
    assert!(fast::pack(&c).is_some());
    assert_eq!(write(&c).unwrap(), write_tree(&c).unwrap());
    assert!(
        write(&c).unwrap().contains(r#"hvxform:hub=&amp;lt;hub xmlns="urn:hvxform:hyperv:1" xmlns:hvx="urn:hvxform:hvx:1"&amp;gt;&amp;lt;hvx:clock offset="utc"/&amp;gt;"#),
        "{}",
        write(&c).unwrap()
    );
    // Refused: the tree walk names what is wrong.
    let refused = [
        (
            vssd(r#"<Version type="uint16">70000</Version>"#),
            "out of range for uint16",
        ),
        (
            vssd(r#"<Version type="uint17">1</Version>"#),
            "unknown CIM type `uint17`",
        ),
        (
            vssd(r#"<Caption type="string">a</Caption><Caption type="string">b</Caption>"#),
            "written twice",
        ),
        (
            carried(r#"<Notes type="string">n</Notes>"#),
            "property `Notes` is single-valued here",
        ),
    ];
    // Not well-formed: the fast path does not copy what it cannot vouch for.
    let broken = [
        vssd(r#"<Caption type="string">a &bogus; b</Caption>"#),
        vssd(r#"<Caption type="string" x="<">y</Caption>"#),
        vssd(r#"<Caption type="string">y</Title>"#),
        carried(r#"<Notes type="string" array="true"/>"#).replace("/></carried>", "></carried>"),
        carried(r#"<Notes type="string" array="true"/>"#)
            .replace("offset=\"utc\"", "offset=\"&#0;\""),
    ];
    for c in &broken {
        assert!(fast::pack(c).is_none(), "{c}");
        assert!(write(c).unwrap_err().contains("not XML"), "{c}");
    }
    for (c, want) in &refused {
        assert!(fast::pack(c).is_none(), "{c}");
        let e = write(c).unwrap_err();
        assert!(e.contains(want), "{e}");
    }
}

/// `read` with the embedded instances decoded before parsing, and without:
/// the same canonical form, or the same error.
fn read_both_ways(name: &str, text: &str) -> Result<String, String> {
    let first = read::read_with(name, text, true);
    let plain = read::read_with(name, text, false);
    assert_eq!(first, plain, "{name}: decoding first changed what is read");
    first
}

#[test]
fn embedded_instances_decoded_first_read_as_the_parser_reads_them() {
    // Requests: the samples, and every sample of every platform written as
    // one (carried hub content and all).
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut requests: Vec<(String, String)> = vec![("define".into(), DEFINE.into())];
    for f in std::fs::read_dir(root.join("samples/hyperv"))
        .unwrap()
        .flatten()
    {
        let text = std::fs::read_to_string(f.path()).unwrap();
        requests.push((f.path().display().to_string(), text));
    }
    for (name, c) in canonical_forms() {
        requests.push((name, write_tree(&c).unwrap()));
    }
    assert!(requests.len() >= 40, "{} requests", requests.len());
    for (name, text) in &requests {
        // (A sample may be instances as WMI prints them: nothing embedded.)
        assert!(
            read::Embedded::find(text).is_some() || !text.contains("<CIM"),
            "{name}: not decoded first"
        );
        read_both_ways(name, text).unwrap();
    }
    // Instances as WMI prints them (nothing embedded) read as before.
    for f in std::fs::read_dir(root.join("tests/corpus/hyperv-wmi-cim-nova"))
        .unwrap()
        .flatten()
        .filter(|f| f.path().extension().is_some_and(|e| e == "xml"))
    {
        let text = std::fs::read_to_string(f.path()).unwrap();
        let _ = read_both_ways(&f.path().display().to_string(), &text);
    }
}

#[test]
fn damaged_embedded_instances_read_as_the_parser_reads_them() {
    // Embedded instances read without a parser (`mini`) must read as the
    // parsed ones do, or be left to the parser: requests damaged inside
    // their embedded instances, thousands of ways, read both ways alike.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let base = std::fs::read_to_string(root.join("samples/hyperv/web-gen2.xml")).unwrap();
    // Where the embedded instances are (their escaped text).
    let mut spans = Vec::new();
    let mut at = 0;
    while let Some(i) = base[at..].find("<VALUE>&lt;INSTANCE") {
        let start = at + i + "<VALUE>".len();
        let end = start + base[start..].find("</VALUE>").unwrap();
        spans.push((start, end));
        at = end;
    }
    assert!(spans.len() >= 10, "{} embedded instances", spans.len());
    // Undamaged, every one is read without a parser.
    for &(start, end) in &spans {
        let inst = read::decode(&base[start..end]).unwrap();
        assert!(super::mini::scan(&inst).is_some(), "{inst}");
    }
    // What goes in: markup and references of both levels, characters XML
    // refuses or normalises, and plain text.
    let pieces = [
        "&lt;", "&gt;", "&amp;", "&quot;", "&apos;", "&amp;lt;", "&amp;amp;", "&amp;#10;",
        "&amp;#13;", "&amp;#xFFFE;", "&amp;#0;", "&amp;bogus;", "&#13;", "&#9;", "&#10;", "&#1;",
        "&#xEF;", "\"", "'", " ", "\t", "\n", "/", "=", "x", "é", "]]&gt;", "\u{FFFE}",
        "\u{85}", "&lt;/VALUE&gt;", "&lt;VALUE&gt;", "&lt;VALUE.NULL/&gt;",
        "&lt;VALUE.NULL&gt; &lt;/VALUE.NULL&gt;", "&lt;!-- c --&gt;", "&lt;![CDATA[c]]&gt;",
        "&lt;QUALIFIER NAME=&quot;q&quot; TYPE=&quot;string&quot;/&gt;", "&lt;?pi?&gt;",
        " NAME=&quot;a&quot;", " X=&quot;a&quot;", " xmlns=&quot;u&quot;", " a:b=&quot;c&quot;",
        "&lt;PROPERTY NAME=&quot;Caption&quot; TYPE=&quot;string&quot;&gt;&lt;VALUE&gt;c&lt;/VALUE&gt;&lt;/PROPERTY&gt;",
        "&lt;/INSTANCE&gt;&lt;INSTANCE&gt;", "&lt;/PROPERTY&gt;", "&lt;INSTANCE&gt;",
    ];
    let mut next = crate::testing::picker(0x9E37_79B9_7F4A_7C15);
    let (mut read, mut refused) = (0, 0);
    for _ in 0..1500 {
        let mut text = base.clone();
        let (start, end) = spans[next(spans.len())];
        let mut i = start + next(end - start);
        while !text.is_char_boundary(i) {
            i += 1;
        }
        match next(3) {
            0 => text.insert_str(i, pieces[next(pieces.len())]),
            1 => {
                let mut j = (i + 1 + next(8)).min(end);
                while !text.is_char_boundary(j) {
                    j += 1;
                }
                text.replace_range(i..j, "");
            }
            _ => {
                let mut j = (i + 1 + next(4)).min(end);
                while !text.is_char_boundary(j) {
                    j += 1;
                }
                text.replace_range(i..j, pieces[next(pieces.len())]);
            }
        }
        match read_both_ways("damaged.xml", &text) {
            Ok(_) => read += 1,
            Err(_) => refused += 1,
        }
    }
    // Both outcomes are exercised: damage the reader takes, and damage it refuses.
    assert!(
        read > 200 && refused > 500,
        "{read} read, {refused} refused"
    );
}

#[test]
fn what_decoding_first_does_not_take_is_read_as_before() {
    let c = read("d.xml", DEFINE).unwrap();
    let request = write_tree(&c).unwrap();
    let edit = |from: &str, to: &str| DEFINE.replacen(from, to, 1);
    let value = |v: &str| edit("a &amp;amp; b", v);
    let cases: Vec<(&str, String, bool)> = vec![
        // Character references are decoded; ones XML refuses are the
        // parser's to report.
        ("references", value("&#65;&#x42;&#10;&#9;"), true),
        ("a NUL reference", value("&#0;"), false),
        ("a signed reference", value("&#+49;"), false),
        ("a signed hexadecimal reference", value("&#x+31;"), false),
        ("an empty reference", value("&#;"), false),
        ("an unknown entity", value("&nbsp;"), false),
        ("an entity cut short", value("&amp"), false),
        ("a carriage return", value("a\r\nb"), false),
        // Text a parser refuses stays for the parser to refuse.
        ("`]]>` in a value", value("]]&gt;]]>"), false),
        // Markup that holds a `<VALUE>` that is not one is stepped over.
        (
            "a comment",
            edit("<SIMPLEREQ>", "<SIMPLEREQ><!-- <VALUE>&lt;INSTANCE --><!-- -->"),
            true,
        ),
        (
            "a comment after a value",
            edit("</VALUE></PARAMVALUE>", "<!-- x --></VALUE></PARAMVALUE>"),
            true,
        ),
        (
            "a comment not closed",
            edit("<SIMPLEREQ>", "<SIMPLEREQ><!-- x"),
            false,
        ),
        (
            "CDATA in a value",
            edit("&lt;/INSTANCE&gt;\n</VALUE>", "&lt;/INSTANCE&gt;<![CDATA[<VALUE>&lt;INSTANCE</VALUE>]]></VALUE>"),
            true,
        ),
        (
            "a processing instruction",
            edit("<SIMPLEREQ>", "<SIMPLEREQ><?pi <VALUE>&lt;INSTANCE</VALUE> ?>"),
            true,
        ),
        ("a DOCTYPE", format!("<!DOCTYPE CIM>{DEFINE}"), false),
        ("blanks before the instance", DEFINE.replace("<VALUE>&lt;INSTANCE", "<VALUE>\n  &lt;INSTANCE"), true),
        ("a value not closed", edit("</VALUE></PARAMVALUE>", "</VALUEX></PARAMVALUE>"), true),
        (
            "an instance holding an embedded one",
            edit("&lt;PROPERTY NAME=&quot;Caption&quot; TYPE=&quot;string&quot;&gt;&lt;/PROPERTY&gt;", "&lt;PROPERTY NAME=&quot;Caption&quot; TYPE=&quot;string&quot;&gt;&lt;VALUE&gt;&amp;lt;INSTANCE/&amp;gt;&lt;/VALUE&gt;&lt;/PROPERTY&gt;"),
            true,
        ),
    ];
    for (what, text, decoded) in &cases {
        assert_ne!(text, DEFINE, "{what}: the case changed nothing");
        assert_eq!(
            read::Embedded::find(text).is_some(),
            *decoded,
            "{what}: decoded first or not"
        );
        let _ = read_both_ways(what, text);
    }
    // A response whose instance has a property holding an embedded
    // instance: its value is text to the reader, decoded either way.
    let rsp = format!(
        "<CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\"><MESSAGE ID=\"1\" PROTOCOLVERSION=\"1.0\"><SIMPLERSP><IMETHODRESPONSE NAME=\"EnumerateInstances\"><IRETURNVALUE><INSTANCE CLASSNAME=\"{VSSD}\"><PROPERTY NAME=\"ElementName\" TYPE=\"string\"><VALUE>&lt;INSTANCE CLASSNAME=&quot;x&quot;/&gt;</VALUE></PROPERTY></INSTANCE></IRETURNVALUE></IMETHODRESPONSE></SIMPLERSP></MESSAGE></CIM>"
    );
    assert!(read::Embedded::find(&rsp).is_some());
    let r = read_both_ways("response", &rsp).unwrap();
    assert!(r.contains("&lt;INSTANCE CLASSNAME=\"x\"/&gt;"), "{r}");
    // Cut anywhere, a request is refused the same way.
    for end in (0..request.len()).step_by(61) {
        if request.is_char_boundary(end) {
            let _ = read_both_ways(&format!("cut at {end}"), &request[..end]);
        }
    }
}

/// The one-pass decoder of an embedded value takes and decodes exactly
/// what the check of its text and the decoder did one after the other,
/// over 30,000 texts of the pieces either refuses or decodes.
#[test]
fn decode_text_is_text_ok_then_decode() {
    use super::read::{decode, decode_text};
    const PIECES: &[&str] = &[
        "a",
        "&lt;",
        "&gt;",
        "&amp;",
        "&quot;",
        "&apos;",
        "&#13;",
        "&#x9;",
        "&#x1F;",
        "&#+49;",
        "&#;",
        "&bogus;",
        "&",
        ";",
        "]",
        "]]>",
        ">",
        "\r",
        "\t",
        "\n",
        "\u{1}",
        "\u{7f}",
        "é",
        "\u{FFFE}",
        "\u{FFFF}",
        "\u{FFFD}",
        "\"",
        "'",
        " ",
        "&#x10FFFF;",
        "&#xD800;",
        "&lt;INSTANCE CLASSNAME=&quot;x&quot;&gt;",
    ];
    let mut next = crate::testing::picker(0x2545_F491_4F6C_DD1D);
    let (mut taken, mut refused) = (0, 0);
    for _ in 0..30_000 {
        let len = next(8);
        let s: String = (0..len).map(|_| PIECES[next(PIECES.len())]).collect();
        let want = if super::mini::text_ok(&s) {
            decode(&s)
        } else {
            None
        };
        assert_eq!(decode_text(&s), want, "{s:?}");
        if want.is_some() {
            taken += 1;
        } else {
            refused += 1;
        }
    }
    assert!(
        taken > 1000 && refused > 1000,
        "{taken} taken, {refused} refused"
    );
}
