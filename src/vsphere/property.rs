//! The PropertyCollector: `RetrievePropertiesEx` and its paging with
//! `ContinueRetrievePropertiesEx`. A real vCenter answers large retrievals in pages of at most
//! `maxObjects` objects plus a token; every page must be fetched or the inventory is partial.

use std::fmt::Write as _;

use super::client::Client;
use super::error::Error;
use super::soap::{MoRef, ServiceContent};
use super::values::{object_content, Interner, ObjectReader};
use super::xml::{self, Node};

/// Objects per page we ask for: large enough for few round trips, small enough that one page
/// stays a few megabytes.
pub(crate) const PAGE_SIZE: u32 = 1000;

pub(crate) use super::values::ObjectContent;

/// Splits a `RetrieveResult` (the `returnval`) read by the tree parser into its objects and
/// its paging token (the fuzz target's reference for the page reader).
pub(crate) fn parse_result(rv: &Node, out: &mut Vec<ObjectContent>) -> Option<String> {
    let mut names = Interner::default();
    out.extend(
        rv.children_named("objects")
            .cloned()
            .filter_map(|o| object_content(o, &mut names)),
    );
    token(rv)
}

/// A page's paging token, if there are more pages.
fn token(rv: &Node) -> Option<String> {
    rv.child("token")
        .map(|t| t.text.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// Where a page's objects are in its answer: `Envelope/Body/<Method>Response/returnval/objects`.
const OBJECTS: (usize, &str) = (4, "objects");

/// A `PropertySpec`: the properties of one type.
pub(crate) fn prop_spec(out: &mut String, ty: &str, paths: &[&str]) {
    let _ = write!(out, "<propSet><type>{}</type>", xml::escape(ty));
    for p in paths {
        let _ = write!(out, "<pathSet>{}</pathSet>", xml::escape(p));
    }
    out.push_str("</propSet>");
}

/// An `ObjectSpec` for everything in a ContainerView (the view itself skipped).
pub(crate) fn view_object_spec(out: &mut String, view: &MoRef) {
    out.push_str("<objectSet>");
    view.write(out, "obj");
    out.push_str(
        r#"<skip>true</skip><selectSet xsi:type="TraversalSpec"><name>traverseView</name><type>ContainerView</type><path>view</path><skip>false</skip></selectSet></objectSet>"#,
    );
}

/// An `ObjectSpec` for one object.
pub(crate) fn object_spec(out: &mut String, obj: &MoRef) {
    out.push_str("<objectSet>");
    obj.write(out, "obj");
    out.push_str("<skip>false</skip></objectSet>");
}

impl Client {
    /// Retrieves every object matching `spec_set` (the inner XML of one `PropertyFilterSpec`),
    /// following paging tokens to the end.
    pub(crate) async fn retrieve_all<F>(&self, spec_set: F) -> Result<Vec<ObjectContent>, Error>
    where
        F: Fn(&ServiceContent) -> String,
    {
        let mut out = Vec::new();
        let mut names = Interner::default();
        // No returnval at all means "nothing matched".
        let mut token = self
            .page(&mut out, &mut names, "RetrievePropertiesEx", |sc| {
                let mut b = String::from(r#"<RetrievePropertiesEx xmlns="urn:vim25">"#);
                sc.property_collector.write(&mut b, "_this");
                b.push_str("<specSet>");
                b.push_str(&spec_set(sc));
                let _ = write!(
                    b,
                    "</specSet><options><maxObjects>{PAGE_SIZE}</maxObjects></options></RetrievePropertiesEx>"
                );
                b
            })
            .await?;
        let mut pages = 1;
        while let Some(t) = token.take() {
            token = self
                .page(&mut out, &mut names, "ContinueRetrievePropertiesEx", |sc| {
                    let mut b = String::from(r#"<ContinueRetrievePropertiesEx xmlns="urn:vim25">"#);
                    sc.property_collector.write(&mut b, "_this");
                    let _ = write!(
                        b,
                        "<token>{}</token></ContinueRetrievePropertiesEx>",
                        xml::escape(&t)
                    );
                    b
                })
                .await?;
            pages += 1;
        }
        tracing::debug!(vcenter = %self.name(), objects = out.len(), pages, "retrieved properties");
        Ok(out)
    }

    /// One page: its objects appended to `out` as they are read (the page is never held
    /// whole, nor its objects' element tree: see [`ObjectReader`]); returns the token of the
    /// next page.
    async fn page<F>(
        &self,
        out: &mut Vec<ObjectContent>,
        names: &mut Interner,
        method: &'static str,
        build: F,
    ) -> Result<Option<String>, Error>
    where
        F: Fn(&ServiceContent) -> String,
    {
        let resp = self.send(method, build).await?;
        let t = &self.inner.transport;
        let rest = t
            .read_answer_split(
                method,
                resp,
                OBJECTS,
                ObjectReader::new(names, |o| out.push(o)),
            )
            .await?;
        Ok(rest.child("returnval").and_then(token))
    }
}
