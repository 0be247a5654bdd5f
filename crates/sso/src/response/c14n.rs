//! Exclusive XML canonicalisation 1.0 without comments
//! (<http://www.w3.org/2001/10/xml-exc-c14n#>), over a roxmltree element.
//!
//! roxmltree has already done the parser's share of C14N: line ends are normalised to `\n`,
//! attribute values are normalised, character and entity references are replaced, CDATA
//! sections are merged into text. What is left is re-serialisation:
//!
//! - elements as start and end tags (never `<e/>`), with the prefixes of the source;
//! - a namespace declaration is written on an element only when the element or one of its
//!   attributes visibly uses the prefix (or the prefix is in the `InclusiveNamespaces`
//!   PrefixList and in scope), and the nearest output ancestor has not already written the same
//!   binding; declarations inherited from ancestors outside the canonicalised subtree count as
//!   in scope; the default namespace is undeclared with `xmlns=""` when an unprefixed element
//!   has no default namespace but its output parent declared one;
//! - namespace declarations sorted by prefix (the default first), then attributes sorted by
//!   namespace URI (none first) and local name;
//! - `xml:*` attributes of ancestors are not imported (exclusive C14N);
//! - text escaped as `&amp; &lt; &gt; &#xD;`, attribute values as
//!   `&amp; &lt; &quot; &#x9; &#xA; &#xD;`;
//! - comments dropped; processing instructions inside the subtree kept;
//! - one excluded subtree (the enveloped `ds:Signature`) left out entirely.

use std::collections::HashMap;

use roxmltree::{Attribute, Node, NodeId};

const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";

/// Canonicalises the subtree rooted at the element `node` with exclusive C14N 1.0 without
/// comments, leaving out the subtree of `exclude` (the enveloped signature, if any).
///
/// `inclusive_prefixes` is the `InclusiveNamespaces` PrefixList (`#default` for the default
/// namespace): those prefixes are treated as by inclusive C14N (written where in scope and not
/// already written by the output parent). Passing a non-element node yields an empty string.
pub fn canonicalize(node: Node, inclusive_prefixes: &[&str], exclude: Option<NodeId>) -> String {
    let mut out = String::new();
    if !node.is_element() {
        return out;
    }
    let input = node.document().input_text();
    // Namespace bindings written on the open output elements, per prefix ("" for the default
    // namespace), innermost last; `pushed` lists the prefixes written, element by element, and
    // `marks` its length at each open element, to take its declarations back when it closes.
    let mut rendered: Rendered = HashMap::new();
    let mut pushed: Vec<&str> = Vec::new();
    let mut marks: Vec<usize> = Vec::new();
    // An explicit stack (node, closing?) rather than recursion: the depth is the document's.
    let mut stack: Vec<(Node, bool)> = vec![(node, false)];
    while let Some((n, closing)) = stack.pop() {
        if closing {
            out.push_str("</");
            out.push_str(element_qname(n, input));
            out.push('>');
            let mark = marks.pop().unwrap_or(0);
            for prefix in pushed.drain(mark..) {
                if let Some(uris) = rendered.get_mut(prefix) {
                    uris.pop();
                }
            }
            continue;
        }
        if Some(n.id()) == exclude {
            continue;
        }
        if n.is_element() {
            marks.push(pushed.len());
            open_element(
                n,
                input,
                inclusive_prefixes,
                &mut rendered,
                &mut pushed,
                &mut out,
            );
            stack.push((n, true));
            stack.extend(n.children().rev().map(|c| (c, false)));
        } else if n.is_text() {
            escape_text(n.text().unwrap_or(""), &mut out);
        } else if let Some(pi) = n.pi() {
            out.push_str("<?");
            out.push_str(pi.target);
            if let Some(value) = pi.value {
                out.push(' ');
                out.push_str(value);
            }
            out.push_str("?>");
        }
        // Comments: dropped (the without-comments variant).
    }
    out
}

type Rendered<'a> = HashMap<&'a str, Vec<&'a str>>;

fn open_element<'a>(
    n: Node<'a, 'a>,
    input: &'a str,
    inclusive_prefixes: &[&'a str],
    rendered: &mut Rendered<'a>,
    pushed: &mut Vec<&'a str>,
    out: &mut String,
) {
    let qname = element_qname(n, input);
    let declarations = declarations(n, qname, input, inclusive_prefixes, rendered);
    let mut attributes: Vec<Attribute> = n.attributes().collect();
    attributes.sort_by(|a, b| {
        (a.namespace().unwrap_or(""), a.name()).cmp(&(b.namespace().unwrap_or(""), b.name()))
    });

    out.push('<');
    out.push_str(qname);
    for (p, uri) in &declarations {
        if p.is_empty() {
            out.push_str(" xmlns=\"");
        } else {
            out.push_str(" xmlns:");
            out.push_str(p);
            out.push_str("=\"");
        }
        escape_attribute(uri, out);
        out.push('"');
    }
    for (p, uri) in &declarations {
        rendered.entry(p).or_default().push(uri);
        pushed.push(p);
    }
    for a in &attributes {
        write_attribute(n, a, input, out);
    }
    out.push('>');
}

/// The namespace declarations exclusive C14N renders on `n`: the prefixes it visibly uses (and
/// the inclusive ones in scope) whose binding differs from the one in effect in the output.
/// Sorted by prefix, the default first.
fn declarations<'a>(
    n: Node<'a, 'a>,
    qname: &'a str,
    input: &'a str,
    inclusive_prefixes: &[&'a str],
    rendered: &Rendered<'a>,
) -> Vec<(&'a str, &'a str)> {
    let element_prefix = prefix_of(qname);
    // The prefixes this element needs declared, in no particular order.
    let mut needed: Vec<&str> = vec![element_prefix];
    for a in n.attributes() {
        if a.namespace().is_some() {
            let p = attribute_prefix(n, &a, input);
            if p != "xml" && !p.is_empty() {
                needed.push(p);
            }
        }
    }
    for p in inclusive_prefixes {
        let p = if *p == "#default" { "" } else { p };
        if p != "xml" && in_scope(n, p).is_some() {
            needed.push(p);
        }
    }
    needed.sort_unstable();
    needed.dedup();

    let mut declarations: Vec<(&str, &str)> = Vec::new();
    for p in needed {
        if p == "xml" {
            continue;
        }
        let in_effect = rendered.get(p).and_then(|uris| uris.last()).copied();
        if p.is_empty() {
            let uri = in_scope(n, "").unwrap_or("");
            if in_effect.unwrap_or("") != uri {
                declarations.push(("", uri));
            }
        } else if let Some(uri) = in_scope(n, p)
            && in_effect != Some(uri)
        {
            declarations.push((p, uri));
        }
    }
    declarations
}

/// ` prefix:name="value"` of one attribute, escaped.
fn write_attribute<'a>(n: Node<'a, 'a>, a: &Attribute<'a, 'a>, input: &'a str, out: &mut String) {
    out.push(' ');
    match a.namespace() {
        None => out.push_str(a.name()),
        Some(ns) => {
            let p = if ns == NS_XML {
                "xml"
            } else {
                attribute_prefix(n, a, input)
            };
            out.push_str(p);
            out.push(':');
            out.push_str(a.name());
        }
    }
    out.push_str("=\"");
    escape_attribute(a.value(), out);
    out.push('"');
}

/// The element's qualified name as written in the source (`saml:Assertion`).
fn element_qname<'a>(n: Node<'a, 'a>, input: &'a str) -> &'a str {
    let start = n.range().start + 1;
    let rest = input.get(start..).unwrap_or("");
    let end = rest
        .find(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>')
        .unwrap_or(rest.len());
    &rest[..end]
}

fn prefix_of(qname: &str) -> &str {
    qname.split_once(':').map_or("", |(p, _)| p)
}

/// The prefix an attribute was written with (namespaced attributes always have one).
fn attribute_prefix<'a>(n: Node<'a, 'a>, a: &Attribute<'a, 'a>, input: &'a str) -> &'a str {
    if a.namespace() == Some(NS_XML) {
        return "xml";
    }
    if let Some(qname) = input.get(a.range_qname())
        && let Some((p, local)) = qname.split_once(':')
        && local == a.name()
        && a.namespace().is_some()
        && in_scope(n, p) == a.namespace()
    {
        return p;
    }
    // The source range could not be used (a name longer than roxmltree records): any prefix
    // bound to the same namespace renders the same canonical namespace node set.
    a.namespace()
        .and_then(|ns| {
            n.namespaces()
                .find(|d| d.uri() == ns && d.name().is_some())
                .and_then(|d| d.name())
        })
        .unwrap_or("")
}

/// The namespace URI bound to `prefix` ("" for the default namespace) on `n`, if any; an
/// undeclared default namespace (`xmlns=""`) is `Some("")`.
fn in_scope<'a>(n: Node<'a, 'a>, prefix: &str) -> Option<&'a str> {
    let wanted = if prefix.is_empty() {
        None
    } else {
        Some(prefix)
    };
    n.namespaces().find(|d| d.name() == wanted).map(|d| d.uri())
}

fn escape_text(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

fn escape_attribute(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roxmltree::Document;

    fn c14n(xml: &str) -> String {
        let doc = Document::parse(xml).unwrap();
        canonicalize(doc.root_element(), &[], None)
    }

    fn c14n_of(xml: &str, id: &str, prefixes: &[&str]) -> String {
        let doc = Document::parse(xml).unwrap();
        let node = doc
            .descendants()
            .find(|n| n.attribute("ID") == Some(id))
            .unwrap();
        canonicalize(node, prefixes, None)
    }

    #[test]
    fn empty_elements_become_start_and_end_tags() {
        assert_eq!(c14n("<a><b/><c></c></a>"), "<a><b></b><c></c></a>");
    }

    #[test]
    fn attributes_sorted_by_namespace_then_local_name() {
        let xml = r#"<e xmlns:z="urn:a" xmlns:a="urn:z" b="1" a:x="2" z:y="3" a="4" z:a="5"/>"#;
        // No-namespace attributes first (a, b), then urn:a (z:a, z:y), then urn:z (a:x).
        assert_eq!(
            c14n(xml),
            r#"<e xmlns:a="urn:z" xmlns:z="urn:a" a="4" b="1" z:a="5" z:y="3" a:x="2"></e>"#
        );
    }

    #[test]
    fn only_visibly_utilised_namespaces_are_written() {
        let xml = r#"<p:e xmlns:p="urn:p" xmlns:unused="urn:u" xmlns="urn:d"><p:f/></p:e>"#;
        assert_eq!(c14n(xml), r#"<p:e xmlns:p="urn:p"><p:f></p:f></p:e>"#);
    }

    #[test]
    fn namespaces_inherited_from_outside_the_subtree_are_written_on_the_apex() {
        let xml = r#"<r xmlns:saml="urn:a" xmlns:x="urn:x" xmlns="urn:d"><saml:A ID="1" x:k="v"><saml:I>t</saml:I><B/></saml:A></r>"#;
        assert_eq!(
            c14n_of(xml, "1", &[]),
            r#"<saml:A xmlns:saml="urn:a" xmlns:x="urn:x" ID="1" x:k="v"><saml:I>t</saml:I><B xmlns="urn:d"></B></saml:A>"#
        );
    }

    #[test]
    fn redundant_declarations_are_not_repeated_but_changed_ones_are() {
        let xml = r#"<a:e xmlns:a="urn:1"><a:f xmlns:a="urn:1"><a:g xmlns:a="urn:2"/></a:f></a:e>"#;
        assert_eq!(
            c14n(xml),
            r#"<a:e xmlns:a="urn:1"><a:f><a:g xmlns:a="urn:2"></a:g></a:f></a:e>"#
        );
    }

    #[test]
    fn a_declaration_used_only_deeper_is_written_where_used_and_again_in_siblings() {
        let xml = r#"<e xmlns:p="urn:p"><f><p:g/></f><p:h/></e>"#;
        assert_eq!(
            c14n(xml),
            r#"<e><f><p:g xmlns:p="urn:p"></p:g></f><p:h xmlns:p="urn:p"></p:h></e>"#
        );
    }

    #[test]
    fn default_namespace_is_undeclared_with_empty_xmlns() {
        let xml = r#"<e xmlns="urn:d"><f xmlns=""><g/></f></e>"#;
        assert_eq!(c14n(xml), r#"<e xmlns="urn:d"><f xmlns=""><g></g></f></e>"#);
        // No default namespace anywhere: nothing written.
        assert_eq!(c14n(r#"<e><f xmlns=""/></e>"#), "<e><f></f></e>");
    }

    #[test]
    fn default_namespace_not_written_for_prefixed_element() {
        let xml = r#"<p:e xmlns:p="urn:p" xmlns="urn:d"><f/></p:e>"#;
        assert_eq!(
            c14n(xml),
            r#"<p:e xmlns:p="urn:p"><f xmlns="urn:d"></f></p:e>"#
        );
    }

    #[test]
    fn unprefixed_attributes_do_not_use_the_default_namespace() {
        let xml = r#"<p:e xmlns:p="urn:p" xmlns="urn:d" a="1"/>"#;
        assert_eq!(c14n(xml), r#"<p:e xmlns:p="urn:p" a="1"></p:e>"#);
    }

    #[test]
    fn inclusive_prefixes_are_written_when_in_scope() {
        let xml = r#"<r xmlns:xs="urn:xs" xmlns:xsi="urn:xsi" xmlns="urn:d"><a:A xmlns:a="urn:a" ID="1"><a:V xsi:type="xs:string">v</a:V></a:A></r>"#;
        assert_eq!(
            c14n_of(xml, "1", &["xs", "nope"]),
            r#"<a:A xmlns:a="urn:a" xmlns:xs="urn:xs" ID="1"><a:V xmlns:xsi="urn:xsi" xsi:type="xs:string">v</a:V></a:A>"#
        );
        assert_eq!(
            c14n_of(xml, "1", &["#default", "xs", "xsi"]),
            r#"<a:A xmlns="urn:d" xmlns:a="urn:a" xmlns:xs="urn:xs" xmlns:xsi="urn:xsi" ID="1"><a:V xsi:type="xs:string">v</a:V></a:A>"#
        );
    }

    #[test]
    fn xml_attributes_are_kept_but_not_imported_from_ancestors() {
        let xml = r#"<r xml:lang="en"><e ID="1" xml:lang="fr" b="x"><f/></e></r>"#;
        assert_eq!(
            c14n_of(xml, "1", &[]),
            r#"<e ID="1" b="x" xml:lang="fr"><f></f></e>"#
        );
        let xml = r#"<r xml:lang="en"><e ID="1"/></r>"#;
        assert_eq!(c14n_of(xml, "1", &[]), r#"<e ID="1"></e>"#);
    }

    #[test]
    fn text_is_escaped() {
        let xml = "<e>a &amp; b &lt; c &gt; d \" ' &#13; &#x9;\u{e9}</e>";
        assert_eq!(
            c14n(xml),
            "<e>a &amp; b &lt; c &gt; d \" ' &#xD; \t\u{e9}</e>"
        );
        assert_eq!(c14n("<e><![CDATA[<x>&]]></e>"), "<e>&lt;x&gt;&amp;</e>");
    }

    #[test]
    fn attribute_values_are_escaped() {
        let xml = "<e a=\"&amp;&lt;&gt;&quot;'&#9;&#10;&#13;\" b='\"'/>";
        assert_eq!(
            c14n(xml),
            "<e a=\"&amp;&lt;>&quot;'&#x9;&#xA;&#xD;\" b=\"&quot;\"></e>"
        );
    }

    #[test]
    fn literal_whitespace_in_attributes_is_normalised_by_the_parser() {
        let xml = "<e a=\"x\ty\nz\r\nw\"/>";
        assert_eq!(c14n(xml), "<e a=\"x y z w\"></e>");
    }

    #[test]
    fn line_ends_are_normalised_and_whitespace_kept() {
        let xml = "<e>\r\n  <f> a\r\nb\rc </f>\n</e>";
        assert_eq!(c14n(xml), "<e>\n  <f> a\nb\nc </f>\n</e>");
    }

    #[test]
    fn comments_are_dropped_and_text_around_them_joined() {
        let xml = "<e><!-- x --><n>user@evil.com<!---->.example.com</n></e>";
        assert_eq!(c14n(xml), "<e><n>user@evil.com.example.com</n></e>");
    }

    #[test]
    fn processing_instructions_inside_are_kept() {
        assert_eq!(
            c14n("<e><?pi  data?><?empty?></e>"),
            "<e><?pi data?><?empty?></e>"
        );
    }

    #[test]
    fn the_excluded_subtree_is_left_out() {
        let xml = r#"<a:e xmlns:a="urn:a" xmlns:ds="urn:ds"><a:i>x</a:i><ds:Signature><ds:X/></ds:Signature><a:j/></a:e>"#;
        let doc = Document::parse(xml).unwrap();
        let sig = doc
            .descendants()
            .find(|n| n.tag_name().name() == "Signature")
            .unwrap();
        assert_eq!(
            canonicalize(doc.root_element(), &[], Some(sig.id())),
            r#"<a:e xmlns:a="urn:a"><a:i>x</a:i><a:j></a:j></a:e>"#
        );
    }

    #[test]
    fn two_prefixes_for_one_namespace_keep_their_own_prefix() {
        let xml = r#"<s:e xmlns:s="urn:a" xmlns:t="urn:a"><t:f s:x="1"/></s:e>"#;
        assert_eq!(
            c14n(xml),
            r#"<s:e xmlns:s="urn:a"><t:f xmlns:t="urn:a" s:x="1"></t:f></s:e>"#
        );
    }

    #[test]
    fn non_elements_give_nothing() {
        let doc = Document::parse("<e/>").unwrap();
        assert_eq!(canonicalize(doc.root(), &[], None), "");
    }
}
