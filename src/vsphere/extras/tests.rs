use super::*;
use crate::vsphere::soap::MoRef;
use crate::vsphere::xml;

/// A `<val>` as the simulator sends it (its prefix for the XML Schema instance namespace
/// is not `xsi`).
fn val(inner: &str) -> Node {
    xml::parse(
        format!(r#"<val xmlns:X="http://www.w3.org/2001/XMLSchema-instance" {inner}</val>"#)
            .as_bytes(),
    )
    .unwrap()
}

fn object(ty: &str, id: &str, props: Vec<(&str, Node)>) -> ObjectContent {
    ObjectContent::from_nodes(MoRef::new(ty, id), props)
}

fn fields_manager() -> ObjectContent {
    object(
        CUSTOM_FIELDS_MANAGER,
        "CustomFieldsManager",
        vec![(
            "field",
            val(
                r#"X:type="ArrayOfCustomFieldDef"><CustomFieldDef><key>0</key><name>owner</name><type>string</type><managedObjectType>VirtualMachine</managedObjectType></CustomFieldDef><CustomFieldDef><key>1</key><name>cost center</name></CustomFieldDef><CustomFieldDef><key>x</key><name>bad key</name></CustomFieldDef>"#,
            ),
        )],
    )
}

fn spec(kind: EntityKind, props: &[&str]) -> ExtraSpec {
    ExtraSpec {
        custom_attributes: true,
        guest_net: true,
        properties: [(kind, props.iter().map(|p| p.to_string()).collect())].into(),
        alarms: false,
    }
}

#[test]
fn custom_attributes_are_named_through_their_definitions() {
    let names = custom_field_names(&[fields_manager()]);
    assert_eq!(names.len(), 2);
    let vm = object(
        "VirtualMachine",
        "vm-1",
        vec![(
            "customValue",
            val(
                r#"X:type="ArrayOfCustomFieldValue"><CustomFieldValue X:type="CustomFieldStringValue"><key>1</key><value>cc 42</value></CustomFieldValue><CustomFieldValue X:type="CustomFieldStringValue"><key>0</key><value></value></CustomFieldValue><CustomFieldValue X:type="CustomFieldStringValue"><key>7</key><value>no definition</value></CustomFieldValue>"#,
            ),
        )],
    );
    let e = extras_of(&vm, EntityKind::Vm, &spec(EntityKind::Vm, &[]), &names);
    // The empty value and the value without a definition are left out.
    assert_eq!(
        e.attributes,
        vec![("cost center".to_string(), "cc 42".to_string())]
    );
    // Not asked for: not read, even when present.
    let off = ExtraSpec::default();
    assert_eq!(
        extras_of(&vm, EntityKind::Vm, &off, &names),
        Extras::default()
    );
}

#[test]
fn guest_nics_follow_telegraf() {
    let net = val(
        r#"X:type="ArrayOfGuestNicInfo"><GuestNicInfo><ipAddress>ignored: ipConfig is read</ipAddress><deviceConfigId>4000</deviceConfigId><ipConfig><ipAddress><ipAddress>fe80::250:56ff:fe00:1</ipAddress><state>unknown</state></ipAddress><ipAddress><ipAddress>10.0.0.1</ipAddress><state>preferred</state></ipAddress><ipAddress><ipAddress>2001:db8::1</ipAddress><state>preferred</state></ipAddress><ipAddress><ipAddress>10.0.0.9</ipAddress></ipAddress><ipAddress><ipAddress>fe80::1%eth0</ipAddress></ipAddress></ipConfig></GuestNicInfo><GuestNicInfo><deviceConfigId>-1</deviceConfigId><ipConfig><ipAddress><ipAddress>192.168.0.1</ipAddress></ipAddress></ipConfig></GuestNicInfo><GuestNicInfo><deviceConfigId>4001</deviceConfigId><ipAddress>10.1.1.1</ipAddress></GuestNicInfo>"#,
    );
    let nics = guest_nics(&net);
    assert_eq!(
        nics,
        vec![NicAddresses {
            instance: "4000".into(),
            ipv4: vec!["10.0.0.1".into(), "10.0.0.9".into()],
            ipv6: vec!["2001:db8::1".into(), "fe80::250:56ff:fe00:1".into()],
        }]
    );
}

#[test]
fn address_families_as_telegraf_tells_them_apart() {
    for a in ["10.0.0.1", "0.0.0.0", "999.1.1.1"] {
        assert!(is_ipv4(a) && !is_ipv6(a), "{a}");
    }
    for a in ["fe80::1", "2001:db8::1", "::1", "1:2:3:4:5:6:7:8"] {
        assert!(is_ipv6(a) && !is_ipv4(a), "{a}");
    }
    for a in [
        "",
        "10.0.0",
        "10.0.0.1.1",
        "a.b.c.d",
        "::",
        "fe80::1%eth0",
        "::ffff:10.0.0.1",
        "12345::1",
        "1:2:3:4:5:6:7:8:9",
        "fe80::",
    ] {
        assert!(!is_ipv4(a) && !is_ipv6(a), "{a}");
    }
}

#[test]
fn property_values_are_typed_by_xsi_type() {
    let v = |inner: &str| {
        let value = crate::vsphere::values::Value::from_node(val(inner), &mut Default::default());
        value_of(&value)
    };
    assert_eq!(
        v(r#"X:type="VirtualMachinePowerState">poweredOn"#),
        Some(PropertyValue::Text("poweredOn".into()))
    );
    assert_eq!(
        v(r#"X:type="xsd:boolean">false"#),
        Some(PropertyValue::Bool(false))
    );
    assert_eq!(v(r#"X:type="xsd:int">-12"#), Some(PropertyValue::Int(-12)));
    assert_eq!(
        v(r#"X:type="xsd:long">8589934592"#),
        Some(PropertyValue::Int(8589934592))
    );
    assert_eq!(
        v(r#"X:type="xsd:double">0.5"#),
        Some(PropertyValue::Float(0.5))
    );
    assert_eq!(v(r#"X:type="xsd:int">many"#), None);
    assert_eq!(v(r#"X:type="xsd:string">  "#), None);
    assert_eq!(
        v(r#"X:type="ArrayOfString"><string>a</string>"#),
        None,
        "an array is not a single value"
    );
}

#[test]
fn properties_come_in_configuration_order_and_complex_ones_are_reported() {
    let host = object(
        "HostSystem",
        "host-1",
        vec![
            (
                "summary.runtime.inMaintenanceMode",
                val(r#"X:type="xsd:boolean">true"#),
            ),
            (
                "summary.overallStatus",
                val(r#"X:type="ManagedEntityStatus">green"#),
            ),
            (
                "summary.hardware",
                val(r#"X:type="HostHardwareSummary"><vendor>v</vendor>"#),
            ),
        ],
    );
    let s = spec(
        EntityKind::Host,
        &[
            "summary.overallStatus",
            "summary.hardware",
            "summary.runtime.inMaintenanceMode",
            "unset.path",
        ],
    );
    let e = extras_of(&host, EntityKind::Host, &s, &HashMap::new());
    assert_eq!(
        e.properties,
        vec![
            (
                "summary.overallStatus".to_string(),
                PropertyValue::Text("green".into())
            ),
            (
                "summary.runtime.inMaintenanceMode".to_string(),
                PropertyValue::Bool(true)
            ),
        ]
    );
    assert!(e.nics.is_empty(), "guest.net is read for VMs only");
    let complex = complex_properties(std::slice::from_ref(&host), &s);
    assert_eq!(
        complex.into_iter().collect::<Vec<_>>(),
        vec![("HostSystem", "summary.hardware".to_string())]
    );
}

#[test]
fn extra_paths_skip_what_is_read_anyway() {
    let s = spec(
        EntityKind::Vm,
        &["runtime.powerState", "summary.overallStatus"],
    );
    assert_eq!(
        extra_paths(&s, EntityKind::Vm, &["name", "runtime.powerState"]),
        vec!["customValue", "guest.net", "summary.overallStatus"]
    );
    assert_eq!(
        extra_paths(&s, EntityKind::Host, &["name"]),
        vec!["customValue"]
    );
    assert!(extra_paths(&ExtraSpec::default(), EntityKind::Vm, &[]).is_empty());
}

#[test]
fn triggered_alarm_states_are_read_with_their_status() {
    let states = val(
        r#"X:type="ArrayOfAlarmState"><AlarmState><key>alarm-101.host-21</key><entity type="HostSystem">host-21</entity><alarm type="Alarm">alarm-101</alarm><overallStatus>red</overallStatus><time>2026-12-06T11:00:00Z</time><acknowledged>false</acknowledged></AlarmState><AlarmState><key>k</key><entity type="HostSystem">host-21</entity><alarm type="Alarm">alarm-7</alarm><overallStatus>yellow</overallStatus><acknowledged>true</acknowledged></AlarmState><AlarmState><key>no-status</key><alarm type="Alarm">alarm-8</alarm></AlarmState>"#,
    );
    let got = alarm_states(&states);
    let a = |alarm: &str, status: &str, acknowledged| TriggeredAlarm {
        alarm: alarm.into(),
        name: alarm.into(),
        status: status.into(),
        acknowledged,
    };
    assert_eq!(
        got,
        vec![a("alarm-101", "red", false), a("alarm-7", "yellow", true)]
    );
    let spec = ExtraSpec {
        alarms: true,
        ..ExtraSpec::default()
    };
    assert_eq!(
        extra_paths(&spec, EntityKind::Datastore, &[]),
        ["triggeredAlarmState"]
    );
    let o = object(
        "HostSystem",
        "host-21",
        vec![("triggeredAlarmState", states)],
    );
    let e = extras_of(&o, EntityKind::Host, &spec, &HashMap::new());
    assert_eq!(e.alarms.len(), 2);
}
