//! Inclusive Canonical XML 1.0 (W3C REC-xml-c14n-20010315, "without comments") over a
//! `roxmltree` tree, restricted to what a RIM may contain.
//!
//! The caller has already rejected comments, processing instructions, DTDs and `xml:*`
//! attributes (see `super::check_restricted`), so the only node kinds left are elements and text.
//! Without `xml:*` attributes C14N 1.0 and C14N 1.1 give identical output: 1.1 only changes how
//! `xml:id`/`xml:base` are inherited into a document subset. That is why the signed
//! `xml-c14n11` algorithm is implemented by this 1.0 canonicalizer.
//!
//! Rules implemented (C14N 1.0 §2.3 and §4): no XML declaration; empty elements as a start/end tag
//! pair; namespace declarations rendered on an element only where they differ from those
//! rendered on its nearest output ancestor, sorted by prefix with the default namespace first;
//! attributes sorted by (namespace URI, local name), unqualified ones first; `& < > \r` escaped in
//! text and `& < " \t \n \r` in attribute values; all whitespace in text kept as is.

use std::collections::BTreeMap;

use roxmltree::{Node, NodeId};

/// The prefix → URI bindings rendered on an element (`None` = the default namespace).
type Rendered<'a> = BTreeMap<Option<&'a str>, &'a str>;

/// A tree that cannot be canonicalized faithfully by this restricted implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum C14nError {
    /// A node kind that the caller should have rejected (comment, PI).
    UnexpectedNode,
    /// An element or attribute name could not be located in the source text.
    QName,
}

/// Canonicalizes the subtree rooted at `apex` (an element), leaving out the subtree rooted at
/// `exclude` (the enveloped signature). Namespaces in scope at `apex` but declared on its
/// ancestors are rendered on `apex`, as C14N requires for a document subset.
pub(crate) fn canonicalize(
    apex: Node<'_, '_>,
    exclude: Option<NodeId>,
) -> Result<Vec<u8>, C14nError> {
    let mut out = Vec::with_capacity(apex.range().len());
    element(apex, &Rendered::new(), exclude, &mut out)?;
    Ok(out)
}

fn element<'a>(
    node: Node<'a, '_>,
    parent: &Rendered<'a>,
    exclude: Option<NodeId>,
    out: &mut Vec<u8>,
) -> Result<(), C14nError> {
    let input = node.document().input_text();
    let name = element_qname(input, node)?;

    // Namespace axis of this element (xml prefix excluded, it is never rendered).
    let mut rendered = parent.clone();
    let mut decls: Vec<(Option<&'a str>, &'a str)> = Vec::new();
    let mut has_default = false;
    for ns in node.namespaces() {
        if ns.name() == Some("xml") {
            continue;
        }
        if ns.name().is_none() {
            has_default = true;
        }
        let uri = ns.uri();
        if ns.name().is_none() && uri.is_empty() {
            // xmlns="" is output only to undo a non-empty default on the output parent.
            if parent.get(&None).is_some_and(|u| !u.is_empty()) {
                decls.push((None, ""));
                rendered.insert(None, "");
            }
            continue;
        }
        if parent.get(&ns.name()) != Some(&uri) {
            decls.push((ns.name(), uri));
            rendered.insert(ns.name(), uri);
        }
    }
    if !has_default && parent.get(&None).is_some_and(|u| !u.is_empty()) {
        // Not reachable in well-formed XML (a default namespace is inherited), kept for safety.
        decls.push((None, ""));
        rendered.insert(None, "");
    }
    // `None` sorts before `Some`, so the default namespace comes first.
    decls.sort();

    let mut attrs = Vec::new();
    for a in node.attributes() {
        let qname = input.get(a.range_qname()).ok_or(C14nError::QName)?;
        attrs.push((a.namespace().unwrap_or(""), a.name(), qname, a.value()));
    }
    attrs.sort_by(|x, y| (x.0, x.1).cmp(&(y.0, y.1)));

    out.push(b'<');
    out.extend_from_slice(name.as_bytes());
    for (prefix, uri) in decls {
        match prefix {
            None => out.extend_from_slice(b" xmlns=\""),
            Some(p) => {
                out.extend_from_slice(b" xmlns:");
                out.extend_from_slice(p.as_bytes());
                out.extend_from_slice(b"=\"");
            }
        }
        escape_attr(uri, out);
        out.push(b'"');
    }
    for (_, _, qname, value) in attrs {
        out.push(b' ');
        out.extend_from_slice(qname.as_bytes());
        out.extend_from_slice(b"=\"");
        escape_attr(value, out);
        out.push(b'"');
    }
    out.push(b'>');

    for child in node.children() {
        if Some(child.id()) == exclude {
            continue;
        }
        if child.is_element() {
            element(child, &rendered, exclude, out)?;
        } else if child.is_text() {
            escape_text(child.text().unwrap_or(""), out);
        } else {
            return Err(C14nError::UnexpectedNode);
        }
    }

    out.extend_from_slice(b"</");
    out.extend_from_slice(name.as_bytes());
    out.push(b'>');
    Ok(())
}

/// The element's qualified name as written in the source: `roxmltree` keeps the namespace URI but
/// not the prefix, and C14N must reproduce the prefix (the RIMs bind one URI to both the default
/// namespace and `ns0`, so the prefix cannot be recovered from the URI).
fn element_qname<'i>(input: &'i str, node: Node<'_, '_>) -> Result<&'i str, C14nError> {
    let tag = input.get(node.range()).ok_or(C14nError::QName)?;
    let rest = tag.strip_prefix('<').ok_or(C14nError::QName)?;
    let end = rest
        .find(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>')
        .ok_or(C14nError::QName)?;
    let qname = rest.get(..end).ok_or(C14nError::QName)?;
    // Cross-check against the parsed local name.
    let local = qname.rsplit(':').next().unwrap_or(qname);
    if local != node.tag_name().name() {
        return Err(C14nError::QName);
    }
    Ok(qname)
}

fn escape_text(s: &str, out: &mut Vec<u8>) {
    for c in s.chars() {
        match c {
            '&' => out.extend_from_slice(b"&amp;"),
            '<' => out.extend_from_slice(b"&lt;"),
            '>' => out.extend_from_slice(b"&gt;"),
            '\r' => out.extend_from_slice(b"&#xD;"),
            c => push_char(c, out),
        }
    }
}

fn escape_attr(s: &str, out: &mut Vec<u8>) {
    for c in s.chars() {
        match c {
            '&' => out.extend_from_slice(b"&amp;"),
            '<' => out.extend_from_slice(b"&lt;"),
            '"' => out.extend_from_slice(b"&quot;"),
            '\t' => out.extend_from_slice(b"&#x9;"),
            '\n' => out.extend_from_slice(b"&#xA;"),
            '\r' => out.extend_from_slice(b"&#xD;"),
            c => push_char(c, out),
        }
    }
}

fn push_char(c: char, out: &mut Vec<u8>) {
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn c14n(xml: &str) -> String {
        let doc = roxmltree::Document::parse(xml).unwrap();
        String::from_utf8(canonicalize(doc.root_element(), None).unwrap()).unwrap()
    }

    #[test]
    fn sorts_attributes_and_namespaces() {
        assert_eq!(
            c14n(r#"<a xmlns:z="urn:z" xmlns="urn:d" xmlns:b="urn:b" z:k="1" b="2" b:a="3"/>"#),
            r#"<a xmlns="urn:d" xmlns:b="urn:b" xmlns:z="urn:z" b="2" b:a="3" z:k="1"></a>"#
        );
    }

    #[test]
    fn redundant_declarations_dropped_and_prefixes_kept() {
        assert_eq!(
            c14n(
                r#"<a xmlns="urn:d" xmlns:p="urn:d"><p:b xmlns:p="urn:d"><c xmlns="urn:e"/></p:b></a>"#
            ),
            r#"<a xmlns="urn:d" xmlns:p="urn:d"><p:b><c xmlns="urn:e"></c></p:b></a>"#
        );
    }

    #[test]
    fn escapes_and_whitespace() {
        assert_eq!(
            c14n("<a x='&lt;&amp;&quot;&#9;&#10;&#13;>'>\n &amp;&lt;&gt;&#13; </a>"),
            "<a x=\"&lt;&amp;&quot;&#x9;&#xA;&#xD;>\">\n &amp;&lt;&gt;&#xD; </a>"
        );
    }

    #[test]
    fn undeclared_default_namespace() {
        assert_eq!(
            c14n(r#"<a xmlns="urn:d"><b xmlns=""><c/></b></a>"#),
            r#"<a xmlns="urn:d"><b xmlns=""><c></c></b></a>"#
        );
    }

    #[test]
    fn subset_apex_renders_inherited_namespaces() {
        let doc = roxmltree::Document::parse(
            r#"<a xmlns="urn:d" xmlns:q="urn:q"><s:b xmlns:s="urn:s"><s:c/></s:b></a>"#,
        )
        .unwrap();
        let b = doc.root_element().first_element_child().unwrap();
        assert_eq!(
            String::from_utf8(canonicalize(b, None).unwrap()).unwrap(),
            r#"<s:b xmlns="urn:d" xmlns:q="urn:q" xmlns:s="urn:s"><s:c></s:c></s:b>"#
        );
    }
}
