//! The tags and fields an entity gets beyond Telegraf's fixed set, chosen by configuration:
//! custom attributes (`custom_attribute_include` / `_exclude`), extra properties
//! (`<kind>_property_include`: text and booleans become tags, numbers fields), a VM's NIC
//! addresses (`ip_addresses`: `ipv4` / `ipv6` tags on its `net` series) and vSphere tags
//! (`tag_categories_include` / `_exclude`: `<category>=<tag>`, read by
//! [`super::vsphere_tags`]).
//!
//! Discovery reads only what is asked for ([`ExtraTags::spec`]): with nothing configured,
//! not one extra property is retrieved and the lines are exactly Telegraf's default ones.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

use super::wildcard::Wildcard;
use crate::config::{CollectConfig, IpFamily};
use crate::sink::line;
use crate::vsphere::{Entity, EntityKind, ExtraSpec, PropertyValue};

/// What the configuration asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtraTags {
    /// Custom attribute names to write (wildcards); empty: none, and none is read.
    pub attribute_include: Vec<String>,
    /// Custom attribute names not to write, even if included.
    pub attribute_exclude: Vec<String>,
    /// Write a VM's IPv4 / IPv6 NIC addresses on its `net` series.
    pub ipv4: bool,
    pub ipv6: bool,
    /// Extra property paths per kind.
    pub properties: HashMap<EntityKind, Vec<String>>,
    /// vSphere tag category names to write (wildcards); empty: none, and the tagging
    /// service is not asked anything.
    pub category_include: Vec<String>,
    /// Category names not to write, even if included.
    pub category_exclude: Vec<String>,
    /// Read the triggered alarms (`vsphere_alarm` points, see [`super::alarms`]).
    pub alarms: bool,
}

impl ExtraTags {
    /// The `[collect]` keys: `custom_attribute_include` / `_exclude`, `ip_addresses` and the
    /// `<kind>_property_include` of the kinds that are collected.
    pub fn from_config(c: &CollectConfig) -> ExtraTags {
        ExtraTags {
            attribute_include: c.custom_attribute_include.clone(),
            attribute_exclude: c.custom_attribute_exclude.clone(),
            ipv4: c.ip_addresses.contains(&IpFamily::Ipv4),
            ipv6: c.ip_addresses.contains(&IpFamily::Ipv6),
            properties: c
                .kinds
                .enabled()
                .map(|k| (k, c.kind(k).property_include.clone()))
                .filter(|(_, paths)| !paths.is_empty())
                .collect(),
            category_include: c.tag_categories_include.clone(),
            category_exclude: c.tag_categories_exclude.clone(),
            alarms: c.alarms,
        }
    }

    /// Whether vSphere tags are read at all (some category is included).
    pub fn vsphere_tags(&self) -> bool {
        !self.category_include.is_empty()
    }

    /// Whether the vSphere tag category `name` is written: included and not excluded.
    pub fn category_selected(&self, name: &str) -> bool {
        let any = |patterns: &[String]| patterns.iter().any(|p| Wildcard::name(p).matches(name));
        any(&self.category_include) && !any(&self.category_exclude)
    }

    /// What discovery must read for these tags.
    pub fn spec(&self) -> ExtraSpec {
        ExtraSpec {
            custom_attributes: !self.attribute_include.is_empty(),
            guest_net: self.ipv4 || self.ipv6,
            properties: self
                .properties
                .iter()
                .filter(|(_, paths)| !paths.is_empty())
                .map(|(k, paths)| (*k, paths.clone()))
                .collect(),
            alarms: self.alarms,
        }
    }

    /// Whether the custom attribute `name` is written: included and not excluded.
    pub fn attribute_selected(&self, name: &str) -> bool {
        let any = |patterns: &[String]| patterns.iter().any(|p| Wildcard::name(p).matches(name));
        any(&self.attribute_include) && !any(&self.attribute_exclude)
    }
}

/// Tag keys the encoder writes itself: an extra tag (a custom attribute, a property or a vSphere tag category)
/// of the same name is not written, so that no series loses its identity (`moid`,
/// `vcenter` …) or gets an instance tag twice.
pub const RESERVED_TAGS: &[&str] = &[
    "adapter",
    "clustername",
    "cpu",
    "dcname",
    "disk",
    "dsname",
    "esxhostname",
    "guest",
    "guesthostname",
    "instance",
    "interface",
    "ipv4",
    "ipv6",
    "lun",
    "module",
    "moid",
    "path",
    "resource",
    "rpname",
    "source",
    "uuid",
    "vcenter",
    "vmname",
];

/// The extra (key, value) tags of `e`: its text and boolean properties (booleans as
/// `true` / `false`: a state to filter and group by, like `runtime.powerState`), then its
/// selected custom attributes, each under its own name, then its vSphere tags under their
/// category's name, except the [`shadowed_categories`]. Unsorted; a key may repeat (the
/// writer keeps the first).
pub fn extra_tags<'a>(e: &'a Entity, x: &ExtraTags) -> Vec<(&'a str, Cow<'a, str>)> {
    let mut out = Vec::new();
    for (path, v) in &e.extras.properties {
        match v {
            PropertyValue::Text(t) => out.push((path.as_str(), Cow::Borrowed(t.as_str()))),
            PropertyValue::Bool(b) => out.push((path.as_str(), Cow::Owned(b.to_string()))),
            PropertyValue::Int(_) | PropertyValue::Float(_) => {}
        }
    }
    for (name, value) in &e.extras.attributes {
        if x.attribute_selected(name) {
            out.push((name.as_str(), Cow::Borrowed(value.as_str())));
        }
    }
    let taken: HashSet<&str> = out.iter().map(|(k, _)| *k).collect();
    for (category, value) in &e.extras.vsphere_tags {
        if !RESERVED_TAGS.contains(&category.as_str()) && !taken.contains(category.as_str()) {
            out.push((category.as_str(), Cow::Borrowed(value.as_str())));
        }
    }
    out
}

/// The vSphere tag categories of `e` that are not written because a tag of that name is
/// written already: one vcollect writes itself ([`RESERVED_TAGS`]: `vcenter`, `moid` …), or
/// a custom attribute or property of the entity. Skipping the category keeps every series'
/// identity; the collector logs the names.
pub fn shadowed_categories<'a>(e: &'a Entity, x: &ExtraTags) -> Vec<&'a str> {
    if e.extras.vsphere_tags.is_empty() {
        return Vec::new();
    }
    let mut taken: HashSet<&str> = RESERVED_TAGS.iter().copied().collect();
    for (path, v) in &e.extras.properties {
        if matches!(v, PropertyValue::Text(_) | PropertyValue::Bool(_)) {
            taken.insert(path);
        }
    }
    for (name, _) in &e.extras.attributes {
        if x.attribute_selected(name) {
            taken.insert(name);
        }
    }
    e.extras
        .vsphere_tags
        .iter()
        .map(|(c, _)| c.as_str())
        .filter(|c| taken.contains(c))
        .collect()
}

/// `(category, value)` tags of one object from its `(category, tag)` pairs: several tags of
/// one category joined, sorted, with [`CATEGORY_JOIN`], under the category's name.
pub fn join_categories(pairs: &[(String, String)]) -> Vec<(String, String)> {
    let mut by_category: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (c, t) in pairs {
        by_category.entry(c).or_default().push(t);
    }
    by_category
        .into_iter()
        .map(|(c, mut tags)| {
            tags.sort_unstable();
            tags.dedup();
            (c.to_string(), tags.join(CATEGORY_JOIN))
        })
        .collect()
}

/// The separator of several tags of one category on one object (a comma, as Telegraf joins
/// a NIC's addresses; escaped as `\,` in line protocol, read back as `,`).
pub const CATEGORY_JOIN: &str = ",";

/// Appends the numeric properties of `e` as fields (`,<path>=<value>`): integers with the
/// `i` suffix, floats as floats, so that each keeps one type in InfluxDB.
pub fn extra_fields(e: &Entity, out: &mut Vec<u8>) {
    for (path, v) in &e.extras.properties {
        let start = out.len();
        out.push(b',');
        line::escape_key(path, out);
        out.push(b'=');
        match v {
            PropertyValue::Int(n) => line::write_i64(*n, out),
            PropertyValue::Float(f) if f.is_finite() => line::write_f64(*f, out),
            _ => out.truncate(start),
        }
    }
}

/// Per `net` instance (NIC device key) of a VM, the escaped `,ipv4=…,ipv6=…` tags to add
/// after its `interface` tag: the configured families, addresses joined by commas as
/// Telegraf writes them.
pub fn nic_tags(e: &Entity, x: &ExtraTags) -> Vec<(String, Vec<u8>)> {
    if e.kind != EntityKind::Vm {
        return Vec::new();
    }
    let mut out = Vec::new();
    for nic in &e.extras.nics {
        let mut tags = Vec::new();
        for (key, on, addrs) in [("ipv4", x.ipv4, &nic.ipv4), ("ipv6", x.ipv6, &nic.ipv6)] {
            if on && !addrs.is_empty() {
                tags.extend_from_slice(b",");
                tags.extend_from_slice(key.as_bytes());
                tags.push(b'=');
                line::escape_tag_value(&addrs.join(","), &mut tags);
            }
        }
        if !tags.is_empty() {
            out.push((nic.instance.clone(), tags));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vsphere::{Extras, NicAddresses};

    fn vm(extras: Extras) -> Entity {
        Entity {
            extras,
            ..Entity::new(EntityKind::Vm, "vm-1", "web")
        }
    }

    #[test]
    fn wildcards() {
        for (p, n) in [
            ("*", "anything"),
            ("*", ""),
            ("owner", "owner"),
            ("own*", "owner"),
            ("*ner", "owner"),
            ("o?ner", "owner"),
            ("*c*t*", "cost center"),
            ("a*b*c", "aXbYbZc"),
        ] {
            assert!(Wildcard::name(p).matches(n), "{p} should match {n}");
        }
        for (p, n) in [
            ("owner", "Owner"),
            ("own", "owner"),
            ("?", ""),
            ("a*b", "ab c"),
            ("", "x"),
        ] {
            assert!(!Wildcard::name(p).matches(n), "{p} should not match {n}");
        }
    }

    #[test]
    fn nothing_configured_reads_nothing() {
        let x = ExtraTags::default();
        assert_eq!(x.spec(), ExtraSpec::default());
        assert!(!x.attribute_selected("owner"));
        // An empty property list of a kind is no reason to read anything either.
        let x = ExtraTags {
            properties: [(EntityKind::Vm, vec![])].into(),
            ..ExtraTags::default()
        };
        assert_eq!(x.spec(), ExtraSpec::default());
    }

    #[test]
    fn attributes_are_included_then_excluded() {
        let x = ExtraTags {
            attribute_include: vec!["*".into()],
            attribute_exclude: vec!["secret*".into()],
            ..ExtraTags::default()
        };
        assert!(x.spec().custom_attributes);
        assert!(!x.spec().guest_net);
        assert!(x.attribute_selected("owner"));
        assert!(!x.attribute_selected("secret"));
        let e = vm(Extras {
            attributes: vec![
                ("owner".into(), "team-a".into()),
                ("secret".into(), "s3cret".into()),
            ],
            properties: vec![
                (
                    "runtime.powerState".into(),
                    PropertyValue::Text("poweredOn".into()),
                ),
                ("config.template".into(), PropertyValue::Bool(false)),
                (
                    "summary.quickStats.uptimeSeconds".into(),
                    PropertyValue::Int(42),
                ),
            ],
            nics: vec![],
            vsphere_tags: vec![],
            alarms: vec![],
        });
        let tags: Vec<(&str, String)> = extra_tags(&e, &x)
            .into_iter()
            .map(|(k, v)| (k, v.into_owned()))
            .collect();
        assert_eq!(
            tags,
            vec![
                ("runtime.powerState", "poweredOn".to_string()),
                ("config.template", "false".to_string()),
                ("owner", "team-a".to_string()),
            ]
        );
        let mut fields = Vec::new();
        extra_fields(&e, &mut fields);
        assert_eq!(fields, b",summary.quickStats.uptimeSeconds=42i");
    }

    #[test]
    fn numbers_keep_their_type_and_non_finite_floats_are_dropped() {
        let e = vm(Extras {
            properties: vec![
                ("a b".into(), PropertyValue::Float(0.5)),
                ("nan".into(), PropertyValue::Float(f64::NAN)),
                ("n".into(), PropertyValue::Int(-3)),
            ],
            ..Extras::default()
        });
        let mut fields = Vec::new();
        extra_fields(&e, &mut fields);
        assert_eq!(fields, b",a\\ b=0.5,n=-3i");
    }

    #[test]
    fn nic_tags_carry_the_configured_families() {
        let e = vm(Extras {
            nics: vec![
                NicAddresses {
                    instance: "4000".into(),
                    ipv4: vec!["10.0.0.1".into(), "10.0.0.9".into()],
                    ipv6: vec!["2001:db8::1".into()],
                },
                NicAddresses {
                    instance: "4001".into(),
                    ipv4: vec![],
                    ipv6: vec!["fe80::1".into()],
                },
            ],
            ..Extras::default()
        });
        let both = ExtraTags {
            ipv4: true,
            ipv6: true,
            ..ExtraTags::default()
        };
        assert!(both.spec().guest_net);
        assert_eq!(
            nic_tags(&e, &both),
            vec![
                (
                    "4000".to_string(),
                    b",ipv4=10.0.0.1\\,10.0.0.9,ipv6=2001:db8::1".to_vec()
                ),
                ("4001".to_string(), b",ipv6=fe80::1".to_vec()),
            ]
        );
        let v4 = ExtraTags {
            ipv4: true,
            ..ExtraTags::default()
        };
        assert_eq!(
            nic_tags(&e, &v4),
            vec![("4000".to_string(), b",ipv4=10.0.0.1\\,10.0.0.9".to_vec())]
        );
        let mut host = e.clone();
        host.kind = EntityKind::Host;
        assert!(nic_tags(&host, &both).is_empty());
    }

    #[test]
    fn vsphere_tags_are_selected_by_category_joined_and_never_shadow_a_tag() {
        let x = ExtraTags {
            category_include: vec!["*".into()],
            category_exclude: vec!["secret*".into()],
            attribute_include: vec!["owner".into()],
            ..ExtraTags::default()
        };
        assert!(x.vsphere_tags() && !ExtraTags::default().vsphere_tags());
        assert!(x.category_selected("env") && !x.category_selected("secret-x"));
        let p = |c: &str, t: &str| (c.to_string(), t.to_string());
        let joined = join_categories(&[p("env", "prod"), p("app", "web"), p("app", "db")]);
        assert_eq!(joined, vec![p("app", "db,web"), p("env", "prod")]);
        let e = vm(Extras {
            attributes: vec![p("owner", "team-a")],
            vsphere_tags: vec![
                p("app", "db,web"),
                p("moid", "forged"),
                p("owner", "tagged"),
                p("vcenter", "x"),
            ],
            ..Extras::default()
        });
        let tags: Vec<(&str, String)> = extra_tags(&e, &x)
            .into_iter()
            .map(|(k, v)| (k, v.into_owned()))
            .collect();
        assert_eq!(
            tags,
            vec![
                ("owner", "team-a".to_string()),
                ("app", "db,web".to_string())
            ]
        );
        assert_eq!(shadowed_categories(&e, &x), ["moid", "owner", "vcenter"]);
        let line = crate::collect::encode::EntityLine::with_extras("vc1", &e, &x);
        let text = String::from_utf8(line.tags).unwrap();
        assert!(text.starts_with(",app=db\\,web,moid=vm-1,"), "{text}");
    }
}
