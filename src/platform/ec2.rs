//! Amazon EC2: a `DescribeInstancesResponse` is read and written as it is
//! (book: Platforms › Amazon EC2). One thing is normalised on reading: AWS
//! writes the API namespace with a final `/`, and responses without it exist
//! (seen from SDK mocks and older tools); the root's declaration is given
//! AWS's spelling, so the response a VM came from is carried, and written
//! back, in the namespace AWS and botocore use.

/// EC2's API namespace, as AWS writes it.
pub const NS: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";
/// The same without the final `/`.
pub const NS_BARE: &str = "http://ec2.amazonaws.com/doc/2016-11-15";

/// The response with its root's bare namespace declaration given the final
/// `/`, or `None` when it needs nothing (or is not a response).
pub fn normalise(text: &str) -> Option<String> {
    // The root's start tag only: the same name further on is another
    // document's (a comment, or a response carried in a CDATA section).
    if crate::platform::text::first_element(text)? != "DescribeInstancesResponse" {
        return None;
    }
    let start = crate::platform::text::first_element_offset(text)?;
    let tag_end = start + text[start..].find('>')?;
    let decl = format!("xmlns=\"{NS_BARE}\"");
    let at = start + text[start..tag_end].find(&decl)?;
    let mut out = String::with_capacity(text.len() + 1);
    out.push_str(&text[..at + decl.len() - 1]);
    out.push('/');
    out.push_str(&text[at + decl.len() - 1..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_inside_another_document_is_left_as_it_is() {
        // A response carried in a CDATA section of a libvirt domain: the
        // domain is not a response, and the carried bytes stay exact.
        let domain = format!(
            "<domain type=\"kvm\"><metadata><hvxc:carry xmlns:hvxc=\"urn:hvxform:carry:1\"><![CDATA[hvx-carry/1 ec2\n<DescribeInstancesResponse xmlns=\"{NS_BARE}\"></DescribeInstancesResponse>]]></hvxc:carry></metadata></domain>"
        );
        assert_eq!(normalise(&domain), None);
        // A response whose root comes after a declaration and a comment.
        let r = format!(
            "<?xml version=\"1.0\"?>\n<!-- x -->\n<DescribeInstancesResponse xmlns=\"{NS_BARE}\"/>"
        );
        assert!(normalise(&r).unwrap().contains(&format!("xmlns=\"{NS}\"")));
    }

    #[test]
    fn the_bare_namespace_gets_its_slash_on_the_root_only() {
        let bare = format!(
            "<?xml version=\"1.0\"?>\n<!-- <DescribeInstancesResponse> -->\n<DescribeInstancesResponse xmlns=\"{NS_BARE}\"><requestId>x</requestId></DescribeInstancesResponse>"
        );
        // The comment's `<DescribeInstancesResponse>` is passed over: the
        // root's declaration is the one given its `/`.
        let t = normalise(&bare).unwrap();
        assert!(t.contains("<!-- <DescribeInstancesResponse> -->"), "{t}");
        assert!(
            t.contains(&format!("<DescribeInstancesResponse xmlns=\"{NS}\">")),
            "{t}"
        );
        assert_eq!(t.len(), bare.len() + 1);
        assert_eq!(normalise(&t), None);
        let doc = roxmltree::Document::parse(&t).unwrap();
        assert_eq!(doc.root_element().tag_name().namespace(), Some(NS));
    }
}
