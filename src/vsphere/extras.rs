//! The extras of an entity, read in the inventory's one retrieval when configured: custom
//! attributes (`customValue`, named through `CustomFieldsManager.field`), extra property
//! paths, and a VM's guest NIC addresses (`guest.net`). Pure functions over the retrieved
//! objects; which of them become tags or fields is the collector's business.

use std::collections::{BTreeSet, HashMap};

use super::property::ObjectContent;
use super::types::{EntityKind, ExtraSpec, Extras, NicAddresses, PropertyValue, TriggeredAlarm};
use super::values::Value;
use super::xml::Node;

/// The object type holding the custom attribute definitions.
pub(crate) const CUSTOM_FIELDS_MANAGER: &str = "CustomFieldsManager";

/// The kind of entity objects of type `ty` are (a vApp is a resource pool, as in vSphere's
/// type hierarchy); `None` for folders and a standalone host's ComputeResource.
pub(crate) fn kind_of_type(ty: &str) -> Option<EntityKind> {
    match ty {
        "VirtualApp" => Some(EntityKind::ResourcePool),
        t => EntityKind::from_vim_type(t),
    }
}

/// The property paths `spec` adds to those of `kind`, without the ones in `base`.
pub(crate) fn extra_paths<'a>(
    spec: &'a ExtraSpec,
    kind: EntityKind,
    base: &[&str],
) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    if spec.custom_attributes {
        out.push("customValue");
    }
    if spec.guest_net && kind == EntityKind::Vm {
        out.push("guest.net");
    }
    if spec.alarms {
        out.push("triggeredAlarmState");
    }
    out.extend(spec.properties_of(kind).iter().map(String::as_str));
    let mut seen: BTreeSet<&str> = base.iter().copied().collect();
    out.retain(|p| seen.insert(p));
    out
}

/// Custom attribute names by key, from the `field` property of the CustomFieldsManager.
pub(crate) fn custom_field_names(objects: &[ObjectContent]) -> HashMap<i32, String> {
    objects
        .iter()
        .filter(|o| o.obj.ty == CUSTOM_FIELDS_MANAGER)
        .filter_map(|o| o.prop("field"))
        .flat_map(|field| field.children.iter())
        .filter_map(|def| {
            let key = def.text_at(&["key"])?.trim().parse().ok()?;
            let name = def.text_at(&["name"])?.trim();
            (!name.is_empty()).then(|| (key, name.to_string()))
        })
        .collect()
}

/// The extras `spec` asks for, of one entity of `kind`.
pub(crate) fn extras_of(
    o: &ObjectContent,
    kind: EntityKind,
    spec: &ExtraSpec,
    names: &HashMap<i32, String>,
) -> Extras {
    let mut out = Extras::default();
    if spec.custom_attributes {
        if let Some(values) = o.prop("customValue") {
            out.attributes = custom_values(values, names);
        }
    }
    if spec.guest_net && kind == EntityKind::Vm {
        if let Some(net) = o.prop("guest.net") {
            out.nics = guest_nics(net);
        }
    }
    if spec.alarms {
        if let Some(states) = o.prop("triggeredAlarmState") {
            out.alarms = alarm_states(states);
        }
    }
    out.properties = spec
        .properties_of(kind)
        .iter()
        .filter_map(|path| Some((path.clone(), value_of(o.value(path)?)?)))
        .collect();
    out
}

/// The configured properties whose value is not a single value (a data object, an array):
/// they cannot be a tag or a field, and are left out. (type, path), for one log line each.
pub(crate) fn complex_properties<'a>(
    objects: &'a [ObjectContent],
    spec: &ExtraSpec,
) -> BTreeSet<(&'a str, String)> {
    let mut out = BTreeSet::new();
    for o in objects {
        let Some(kind) = kind_of_type(&o.obj.ty) else {
            continue;
        };
        for path in spec.properties_of(kind) {
            if o.prop(path).is_some() {
                out.insert((o.obj.ty.as_str(), path.clone()));
            }
        }
    }
    out
}

/// The `AlarmState`s of a `triggeredAlarmState` (an `ArrayOfAlarmState`), named by their
/// alarm's moid until the names are read. A state without an alarm or a status is skipped.
pub(crate) fn alarm_states(states: &Node) -> Vec<TriggeredAlarm> {
    states
        .children
        .iter()
        .filter_map(|s| {
            let alarm = s.text_at(&["alarm"])?.trim();
            let status = s.text_at(&["overallStatus"])?.trim();
            if alarm.is_empty() || status.is_empty() {
                return None;
            }
            Some(TriggeredAlarm {
                alarm: alarm.to_string(),
                name: alarm.to_string(),
                status: status.to_string(),
                acknowledged: s.text_at(&["acknowledged"]).map(str::trim) == Some("true"),
            })
        })
        .collect()
}

/// (name, value) of each `CustomFieldStringValue` whose key has a definition; empty values
/// are left out (InfluxDB refuses an empty tag value).
fn custom_values(values: &Node, names: &HashMap<i32, String>) -> Vec<(String, String)> {
    values
        .children
        .iter()
        .filter(|v| v.xsi_type().is_none_or(|t| t == "CustomFieldStringValue"))
        .filter_map(|v| {
            let key: i32 = v.text_at(&["key"])?.trim().parse().ok()?;
            let value = v.text_at(&["value"])?;
            if value.is_empty() {
                return None;
            }
            match names.get(&key) {
                Some(name) => Some((name.clone(), value.to_string())),
                None => {
                    tracing::debug!(key, "custom attribute without a definition: skipped");
                    None
                }
            }
        })
        .collect()
}

/// Telegraf's reading of `guest.net`: NICs backed by a device (`deviceConfigId` not -1),
/// their `ipConfig.ipAddress` entries classified as IPv4 or IPv6, each `preferred` address
/// put in front of those seen before it.
pub(crate) fn guest_nics(net: &Node) -> Vec<NicAddresses> {
    let mut out = Vec::new();
    for nic in &net.children {
        let Some(device) = nic
            .text_at(&["deviceConfigId"])
            .and_then(|d| d.trim().parse::<i32>().ok())
            .filter(|d| *d != -1)
        else {
            continue;
        };
        let mut n = NicAddresses {
            instance: device.to_string(),
            ..NicAddresses::default()
        };
        let Some(config) = nic.child("ipConfig") else {
            continue;
        };
        for ip in config.children_named("ipAddress") {
            let Some(addr) = ip.text_at(&["ipAddress"]).map(str::trim) else {
                continue;
            };
            let list = if is_ipv4(addr) {
                &mut n.ipv4
            } else if is_ipv6(addr) {
                &mut n.ipv6
            } else {
                continue;
            };
            if ip.text_at(&["state"]).map(str::trim) == Some("preferred") {
                list.insert(0, addr.to_string());
            } else {
                list.push(addr.to_string());
            }
        }
        if !n.ipv4.is_empty() || !n.ipv6.is_empty() {
            out.push(n);
        }
    }
    out
}

/// Telegraf's IPv4 test: four dot-separated groups of 1–3 digits.
pub(crate) fn is_ipv4(s: &str) -> bool {
    let groups: Vec<&str> = s.split('.').collect();
    groups.len() == 4
        && groups
            .iter()
            .all(|g| (1..=3).contains(&g.len()) && g.bytes().all(|b| b.is_ascii_digit()))
}

/// Telegraf's IPv6 test: 1–7 groups of 0–4 hex digits each followed by `:`, then a last
/// group of 1–4 hex digits. No zone (`%eth0`), no embedded IPv4 (`::ffff:1.2.3.4`).
pub(crate) fn is_ipv6(s: &str) -> bool {
    let groups: Vec<&str> = s.split(':').collect();
    let hex = |g: &&str| g.len() <= 4 && g.bytes().all(|b| b.is_ascii_hexdigit());
    (2..=8).contains(&groups.len())
        && groups.iter().all(hex)
        && groups.last().is_some_and(|g| !g.is_empty())
}

/// A single value, typed by its `xsi:type`; `None` for an empty or complex one.
fn value_of(v: &Value) -> Option<PropertyValue> {
    match v {
        Value::Leaf(l) => typed(&l.text, l.xsi.as_deref()),
        Value::Tree(_) => None,
    }
}

/// A trimmed text typed by its `xsi:type`; `None` when empty.
fn typed(text: &str, xsi: Option<&str>) -> Option<PropertyValue> {
    if text.is_empty() {
        return None;
    }
    Some(match xsi {
        Some("int" | "long" | "short" | "byte") => PropertyValue::Int(text.parse().ok()?),
        Some("double" | "float") => PropertyValue::Float(text.parse().ok()?),
        Some("boolean") => PropertyValue::Bool(text == "true" || text == "1"),
        _ => PropertyValue::Text(text.to_string()),
    })
}

#[cfg(test)]
mod tests;
