use super::*;

/// A page as vCenter and the simulator write them, with what the reader must read as the
/// tree does: MoRefs, strings, enums, an empty array, a data object, an array, CDATA, text
/// around a child, a second `name`/`val`/`obj`, an `obj` without a type, unknown elements.
fn page(objects: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><token>t-1</token>{objects}</returnval></RetrievePropertiesExResponse></soapenv:Body></soapenv:Envelope>"#
    )
}

const OBJECTS: &str = r#"<objects><obj type="VirtualMachine">vm-1</obj><propSet><name>name</name><val xsi:type="xsd:string"> vm &amp; one </val></propSet><propSet><name>parent</name><val type="Folder" xsi:type="ManagedObjectReference">group-v1</val></propSet><propSet><name>runtime.powerState</name><val xsi:type="VirtualMachinePowerState">poweredOn</val></propSet><propSet><name>customValue</name><val xsi:type="ArrayOfCustomFieldValue"/></propSet><propSet><name>guest.net</name><val xsi:type="ArrayOfGuestNicInfo">a<GuestNicInfo><deviceConfigId>4000</deviceConfigId><ipConfig><ipAddress><ipAddress>10.0.0.1</ipAddress></ipAddress></ipConfig></GuestNicInfo>b<GuestNicInfo/></val></propSet><propSet><val xsi:type="xsd:int">7</val><name>config.x</name><val>second</val><name>ignored</name></propSet><propSet><name>nameless</name></propSet><propSet><name>cdata</name><val><![CDATA[c<d]]></val></propSet><missingSet><path>x</path><fault><fault xsi:type="NoPermission"/></fault></missingSet></objects><objects><obj>vm-untyped</obj><propSet><name>name</name><val>dropped</val></propSet></objects><objects/><objects><junk a="1"><obj type="Folder">inner</obj></junk><obj type="Folder">group-v1<x>y</x>!</obj><obj type="Folder">second</obj><propSet><name>name<b>c</b>d</name><val type="HostSystem">host-1</val></propSet></objects>"#;

#[test]
fn reads_a_page_as_the_tree_does() {
    let doc = page(OBJECTS);
    assert!(reader_agrees(doc.as_bytes()));
    let (rest, objects) = read_objects(doc.as_bytes(), (4, "objects"));
    let rest = rest.unwrap();
    assert_eq!(
        rest.text_at(&["Body", "RetrievePropertiesExResponse", "returnval", "token"]),
        Some("t-1")
    );
    assert_eq!(objects.len(), 2, "{objects:#?}");
    let vm = &objects[0];
    assert_eq!(vm.obj, MoRef::new("VirtualMachine", "vm-1"));
    assert_eq!(vm.text("name"), Some("vm & one"));
    assert_eq!(vm.moref("parent"), Some(MoRef::new("Folder", "group-v1")));
    assert_eq!(vm.text("runtime.powerState"), Some("poweredOn"));
    assert!(vm.value("customValue").is_some() && vm.prop("customValue").is_none());
    let net = vm.prop("guest.net").unwrap();
    assert_eq!(net.children.len(), 2);
    assert_eq!(net.text, "ab");
    assert_eq!(net.xsi_type(), Some("ArrayOfGuestNicInfo"));
    match vm.value("config.x") {
        Some(Value::Leaf(l)) => assert_eq!((&*l.text, l.xsi.as_deref()), ("7", Some("int"))),
        v => panic!("{v:?}"),
    }
    assert!(vm.value("nameless").is_none() && vm.value("ignored").is_none());
    assert_eq!(vm.text("cdata"), Some("c<d"));
    let folder = &objects[1];
    assert_eq!(folder.obj, MoRef::new("Folder", "group-v1!"));
    assert_eq!(
        folder.moref("named"),
        Some(MoRef::new("HostSystem", "host-1"))
    );
}

/// The page reader through the stream, whatever the read size, reads what the whole
/// document gives.
#[tokio::test]
async fn reads_a_stream_in_any_chunks() {
    let doc = page(OBJECTS);
    let (_, whole) = read_objects(doc.as_bytes(), (4, "objects"));
    for chunk in [1, 5, 64, doc.len()] {
        let input = tokio::io::BufReader::with_capacity(chunk, doc.as_bytes());
        let mut names = Interner::default();
        let mut got = Vec::new();
        let rest = crate::vsphere::xml::parse_stream_with(
            input,
            (4, "objects"),
            ObjectReader::new(&mut names, |o| got.push(o)),
        )
        .await
        .unwrap();
        assert!(rest.is_ok());
        assert_eq!(got, whole, "chunk {chunk}");
    }
}

/// A page cut anywhere is a truncation, as the tree says; a bad entity or attribute inside
/// an object, even in an element the reader skips, is malformed, as the tree says.
#[test]
fn fails_where_the_tree_fails() {
    let doc = page(OBJECTS);
    for cut in (0..doc.len()).step_by(7) {
        assert!(reader_agrees(&doc.as_bytes()[..cut]), "cut at {cut}");
        let (rest, _) = read_objects(&doc.as_bytes()[..cut], (4, "objects"));
        assert!(rest.is_err(), "cut at {cut}");
    }
    for bad in [
        r#"<objects><obj type="A">a</obj><x>&bogus;</x></objects>"#,
        r#"<objects><obj type="A">a</obj><x a="1" a="2"/></objects>"#,
        r#"<objects><obj type="A">a</obj><x a="&bogus;"/></objects>"#,
        r#"<objects><obj type="A">a</obj></x></objects>"#,
        r#"<objects><obj type="A" type="B">a</obj></objects>"#,
        r#"<objects><obj type="A">a</obj><propSet><name>n</name><val a="&bad;">v</val></propSet></objects>"#,
    ] {
        let doc = page(bad);
        assert!(reader_agrees(doc.as_bytes()), "{bad}");
        let (rest, _) = read_objects(doc.as_bytes(), (4, "objects"));
        assert!(rest.is_err(), "{bad}");
    }
}

/// The limits of the tree hold inside the objects too.
#[test]
fn deep_or_wide_objects_are_errors() {
    let deep = page(&format!(
        r#"<objects><obj type="A">a</obj><propSet><name>n</name><val>{}{}</val></propSet></objects>"#,
        "<a>".repeat(400),
        "</a>".repeat(400)
    ));
    let (rest, _) = read_objects(deep.as_bytes(), (4, "objects"));
    assert!(rest.unwrap_err().contains("nested deeper"));
    assert!(reader_agrees(deep.as_bytes()));
}
