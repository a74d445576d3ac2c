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
//! Members keep the order they were written in; serde_json writes every
//! string (its escaping is the only one).

/// A JSON value whose objects keep their members' order.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    String(String),
    Number(i64),
    Bool(bool),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

impl Value {
    fn write(&self, out: &mut String, depth: usize) {
        let pad = |out: &mut String, d: usize| {
            out.push('\n');
            for _ in 0..d {
                out.push_str("  ");
            }
        };
        match self {
            Value::String(s) => out.push_str(&serde_json::to_string(s).expect("strings serialise")),
            Value::Number(n) => out.push_str(&n.to_string()),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Array(v) if v.is_empty() => out.push_str("[]"),
            Value::Array(v) => {
                out.push('[');
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    pad(out, depth + 1);
                    x.write(out, depth + 1);
                }
                pad(out, depth);
                out.push(']');
            }
            Value::Object(m) if m.is_empty() => out.push_str("{}"),
            Value::Object(m) => {
                out.push('{');
                for (i, (k, x)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    pad(out, depth + 1);
                    out.push_str(&serde_json::to_string(k).expect("strings serialise"));
                    out.push_str(": ");
                    x.write(out, depth + 1);
                }
                pad(out, depth);
                out.push('}');
            }
        }
    }
}

type Node<'a> = crate::tree::Node<'a, 'a>;

/// Namespace of the attribute that carries a value's type.
pub const TYPE_NS: &str = "urn:hvxform:json:1";
/// Its local name and prefix.
pub const TYPE_ATTR: &str = "type";
pub const TYPE_PREFIX: &str = "hvxjson";

/// The JSON text of a JSON document, written as XML by the executor.
pub fn from_xml(xml: &str) -> Result<String, String> {
    let doc = crate::tree::Document::parse(xml).map_err(|e| format!("internal: {e}"))?;
    from_tree(&doc)
}

/// The JSON text of a JSON document the executor built as a tree.
pub fn from_tree(doc: &crate::tree::Document) -> Result<String, String> {
    let root = doc
        .root_element()
        .ok_or_else(|| "internal: no root element".to_string())?;
    let v = value(root)?;
    let mut s = String::with_capacity(1024);
    v.write(&mut s, 0);
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

fn value(n: Node) -> Result<Value, String> {
    for a in n.attributes() {
        if a.namespace() != Some(TYPE_NS) {
            return Err(format!(
                "{}: attribute `{}` has no JSON form (JSON documents are elements and text)",
                path(n),
                a.name()
            ));
        }
    }
    let kids: Vec<_> = n.children().filter(|c| c.is_element()).collect();
    let ty = n
        .attributes()
        .find(|a| a.namespace() == Some(TYPE_NS) && a.name() == TYPE_ATTR)
        .map(|a| a.value());
    match ty {
        None | Some("int" | "bool" | "string" | "array" | "object") => {}
        Some(t) => {
            return Err(format!(
                "{}: json:type `{t}` is not one of array, object, string",
                path(n)
            ))
        }
    }
    if kids.is_empty() {
        let text: String = n.children().filter_map(|c| c.text()).collect();
        if matches!(ty, Some("array" | "object")) && !text.trim().is_empty() {
            return Err(format!(
                "{}: text `{text}` in an {}",
                path(n),
                ty.unwrap_or("")
            ));
        }
        return Ok(match ty {
            Some("int") => Value::Number(
                text.parse::<i64>()
                    .map_err(|_| format!("{}: `{text}` is not an integer", path(n)))?,
            ),
            Some("bool") => Value::Bool(text == "true"),
            Some("array") => Value::Array(Vec::new()),
            Some("object") => Value::Object(Vec::new()),
            _ => Value::String(text),
        });
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
    if ty == Some("array")
        || ty != Some("object") && kids.iter().all(|k| k.tag_name().name() == "item")
    {
        return kids
            .iter()
            .map(|k| value(*k))
            .collect::<Result<_, _>>()
            .map(Value::Array);
    }
    let mut m: Vec<(String, Value)> = Vec::with_capacity(kids.len());
    for k in kids {
        let name = k.tag_name().name();
        if name == "item" && ty != Some("object") {
            return Err(format!(
                "{}: `item` beside other members: a list is an element of `item`s only",
                path(k)
            ));
        }
        if m.iter().any(|(n, _)| n == name) {
            return Err(format!(
                "{}: member `{name}` written twice (a list is an element of `item`s)",
                path(k)
            ));
        }
        m.push((name.to_string(), value(k)?));
    }
    Ok(Value::Object(m))
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
