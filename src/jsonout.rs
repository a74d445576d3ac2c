//! JSON output documents: a document declared `json` is built with the same
//! statements as any other, then written as JSON by one convention (book:
//! Language › Output documents › JSON documents):
//!
//! - the root element stands for the document: its content is the JSON value;
//! - an element with child elements is an object, one member per child, in
//!   order; a name written twice in one object is an error;
//! - an element whose children are all `<item>` is an array of their values
//!   (EC2's own XML writes lists the same way);
//! - an element of text only is a string, or a number or a boolean when the
//!   value written was an integer or a boolean (`<MinCount> = 1;`); an empty
//!   element is an empty string;
//! - names are local names (namespaces are XML's, not JSON's); attributes
//!   and text beside child elements have no JSON form and are errors;
//! - `type` in [`TYPE_NS`] says what an element is when its content cannot:
//!   `array` (of its `<item>`s, `[]` when it has none), `object` (`{}` when
//!   empty) or `string`. The executor writes `int` and `bool` itself for
//!   typed values. The attribute does not reach the output.
//!
//! Members keep the order they were written in. The JSON is written as the
//! tree is checked, in one pass; strings are escaped as serde_json escapes
//! them (a unit test compares the two).

type Node<'a> = crate::tree::Node<'a, 'a>;

/// Namespace of the attribute that carries a value's type.
pub const TYPE_NS: &str = "urn:hvxform:json:1";
/// Its local name and prefix.
pub const TYPE_ATTR: &str = "type";
pub const TYPE_PREFIX: &str = "hvxjson";

/// The JSON text of a JSON document, written as XML.
pub fn from_xml(xml: &str) -> Result<String, String> {
    let doc = crate::tree::Document::parse(xml).map_err(|e| format!("internal: {e}"))?;
    from_tree(&doc)
}

/// The JSON text of a JSON document the executor built as a tree.
pub fn from_tree(doc: &crate::tree::Document) -> Result<String, String> {
    let root = doc
        .root_element()
        .ok_or_else(|| "internal: no root element".to_string())?;
    let mut s = String::with_capacity(1024);
    write(root, &mut s, 0)?;
    s.push('\n');
    Ok(s)
}

fn path(n: Node) -> String {
    let mut parts: Vec<&str> = n
        .ancestors()
        .filter(|a| a.is_element())
        .map(|a| a.tag_name().name())
        .collect();
    parts.reverse();
    format!("/{}", parts.join("/"))
}

fn pad(out: &mut String, depth: usize) {
    out.push('\n');
    for _ in 0..depth {
        out.push_str("  ");
    }
}

/// A JSON string literal, escaped as serde_json escapes it: `"`, `\\` and
/// the control characters; everything else as it is.
fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    let mut from = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0C => "\\f",
            0..=0x1F => "",
            _ => continue,
        };
        out.push_str(&s[from..i]);
        if esc.is_empty() {
            out.push_str(&format!("\\u{b:04x}"));
        } else {
            out.push_str(esc);
        }
        from = i + 1;
    }
    out.push_str(&s[from..]);
    out.push('"');
}

/// Checks `n` and writes its JSON value.
fn write(n: Node, out: &mut String, depth: usize) -> Result<(), String> {
    let mut ty = None;
    for a in n.attributes() {
        if a.namespace() != Some(TYPE_NS) {
            return Err(format!(
                "{}: attribute `{}` has no JSON form (JSON documents are elements and text)",
                path(n),
                a.name()
            ));
        }
        if a.name() == TYPE_ATTR {
            ty = Some(a.value());
        }
    }
    match ty {
        None | Some("int" | "bool" | "string" | "array" | "object") => {}
        Some(t) => {
            return Err(format!(
                "{}: json:type `{t}` is not one of array, object, string",
                path(n)
            ))
        }
    }
    let kids = || n.children().filter(|c| c.is_element());
    if kids().next().is_none() {
        let mut texts = n.children().filter_map(|c| c.text());
        let one = texts.next().unwrap_or("");
        let joined;
        let text = match texts.next() {
            None => one,
            Some(two) => {
                joined = [one, two].into_iter().chain(texts).collect::<String>();
                &joined
            }
        };
        if matches!(ty, Some("array" | "object")) && !text.trim().is_empty() {
            return Err(format!(
                "{}: text `{text}` in an {}",
                path(n),
                ty.unwrap_or("")
            ));
        }
        match ty {
            Some("int") => {
                let v = text
                    .parse::<i64>()
                    .map_err(|_| format!("{}: `{text}` is not an integer", path(n)))?;
                let _ = std::fmt::Write::write_fmt(out, format_args!("{v}"));
            }
            Some("bool") => out.push_str(if text == "true" { "true" } else { "false" }),
            Some("array") => out.push_str("[]"),
            Some("object") => out.push_str("{}"),
            _ => push_json_str(out, text),
        }
        return Ok(());
    }
    if ty == Some("string") {
        return Err(format!("{}: a string cannot hold elements", path(n)));
    }
    if let Some(t) = n
        .children()
        .filter_map(|c| c.text().filter(|_| c.is_text()))
        .find(|t| !t.trim().is_empty())
    {
        return Err(format!(
            "{}: text `{}` beside elements has no JSON form",
            path(n),
            t.trim()
        ));
    }
    let array = ty == Some("array")
        || ty != Some("object") && kids().all(|k| k.tag_name().name() == "item");
    out.push(if array { '[' } else { '{' });
    for (i, k) in kids().enumerate() {
        if i > 0 {
            out.push(',');
        }
        pad(out, depth + 1);
        if !array {
            let name = k.tag_name().name();
            if name == "item" && ty != Some("object") {
                return Err(format!(
                    "{}: `item` beside other members: a list is an element of `item`s only",
                    path(k)
                ));
            }
            // Members are few: the earlier ones are compared directly.
            if kids().take(i).any(|e| e.tag_name().name() == name) {
                return Err(format!(
                    "{}: member `{name}` written twice (a list is an element of `item`s)",
                    path(k)
                ));
            }
            push_json_str(out, name);
            out.push_str(": ");
        }
        write(k, out, depth + 1)?;
    }
    pad(out, depth);
    out.push(if array { ']' } else { '}' });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(attr: &str) -> String {
        format!(r#" xmlns:{TYPE_PREFIX}="{TYPE_NS}" {TYPE_PREFIX}:{TYPE_ATTR}="{attr}""#)
    }

    #[test]
    fn objects_arrays_and_typed_values() {
        let xml = format!(
            r#"<r><Name>a &amp; "b" &lt;c&gt;</Name><Count{}>3</Count><On{}>true</On><Off{}>false</Off><Empty/><List><item><K>1</K></item><item><K>2</K></item></List><One><item>x</item></One><Num>007</Num></r>"#,
            t("int"),
            t("bool"),
            t("bool")
        );
        let j: serde_json::Value = serde_json::from_str(&from_xml(&xml).unwrap()).unwrap();
        assert_eq!(
            j,
            serde_json::json!({
                "Name": "a & \"b\" <c>",
                "Count": 3,
                "On": true,
                "Off": false,
                "Empty": "",
                "List": [{"K": "1"}, {"K": "2"}],
                "One": ["x"],
                "Num": "007"
            })
        );
        // Members keep the order they were written in.
        let s = from_xml(&xml).unwrap();
        assert!(s.find("\"Name\"").unwrap() < s.find("\"Count\"").unwrap());
        assert!(s.find("\"Count\"").unwrap() < s.find("\"List\"").unwrap());
    }

    #[test]
    fn what_json_cannot_hold_is_an_error() {
        for (xml, want) in [
            ("<r><a>1</a><a>2</a></r>", "/r/a: member `a` written twice"),
            (
                r#"<r><a x="1">2</a></r>"#,
                "/r/a: attribute `x` has no JSON form",
            ),
            ("<r>t<a>1</a></r>", "/r: text `t` beside elements"),
            (
                "<r><item>1</item><a>2</a></r>",
                "`item` beside other members",
            ),
        ] {
            let e = from_xml(xml).unwrap_err();
            assert!(e.contains(want), "{xml}: {e}");
        }
        let e = from_xml(&format!("<r><n{}>x</n></r>", t("int"))).unwrap_err();
        assert!(e.contains("`x` is not an integer"), "{e}");
        let e = from_xml(&format!("<r><n{}>x</n></r>", t("list"))).unwrap_err();
        assert!(e.contains("json:type `list` is not one of"), "{e}");
        let e = from_xml(&format!("<r><n{}><a/></n></r>", t("string"))).unwrap_err();
        assert!(e.contains("a string cannot hold elements"), "{e}");
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let hostile =
            "q\" b\\ nl\n cr\r tab\t bs\u{8} ff\u{c} nul\u{0} us\u{1f} del\u{7f} é 😀 </ '";
        let mut out = String::new();
        push_json_str(&mut out, hostile);
        assert_eq!(out, serde_json::to_string(hostile).unwrap());
        let back: String = serde_json::from_str(&out).unwrap();
        assert_eq!(back, hostile);
    }

    #[test]
    fn an_empty_array_or_object_in_an_object_keeps_its_place() {
        let xml = format!("<r><a{}/><b>1</b><c{}/></r>", t("array"), t("object"));
        let s = from_xml(&xml).unwrap();
        assert_eq!(s, "{\n  \"a\": [],\n  \"b\": \"1\",\n  \"c\": {}\n}\n");
    }

    #[test]
    fn json_type_says_what_content_cannot() {
        let xml = format!(
            "<r><None{}/><Empty{}/><Text{}/><Obj{}><item>1</item></Obj></r>",
            t("array"),
            t("object"),
            t("string"),
            t("object")
        );
        let j: serde_json::Value = serde_json::from_str(&from_xml(&xml).unwrap()).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"None": [], "Empty": {}, "Text": "", "Obj": {"item": "1"}})
        );
    }
}
