//! Inventory: every VM and host, with the names the output tags need.
//!
//! One recursive ContainerView on the root folder holds the VMs and hosts **and** their
//! ancestors (compute resources, folders, datacenters), their resource pools and the
//! datastores, so one paged retrieval gives every tag Telegraf writes (`rpname`, `dsname`,
//! `guesthostname` …) and the parent chains are walked in memory: no call per entity or per
//! ancestor.

use std::collections::HashMap;

use super::client::Client;
use super::error::Error;
use super::extras::{self, CUSTOM_FIELDS_MANAGER};
use super::paths::{inventory_paths, path_properties};
use super::property::{object_spec, prop_spec, view_object_spec, ObjectContent};
use super::selection::view_types;
use super::soap::MoRef;
use super::types::{Discovery, Entity, EntityKind, ExtraSpec};

const VM_PATHS: &[&str] = &[
    "name",
    "runtime.powerState",
    "runtime.connectionState",
    "runtime.host",
    "config.uuid",
    "config.guestId",
    "guest.guestId",
    "guest.hostName",
    "resourcePool",
    "summary.config.memorySizeMB",
    "summary.config.memoryReservation",
];
const HOST_PATHS: &[&str] = &["name", "runtime.connectionState", "parent"];
const ANCESTOR_PATHS: &[&str] = &["name", "parent"];
/// `info.url` is what Telegraf maps `datastore.*` instances through (its `lun2ds`).
const DATASTORE_PATHS: &[&str] = &["name", "info.url", "parent"];

/// The longest parent chain we follow (guards against a cycle in bad data).
const MAX_DEPTH: usize = 64;

impl Client {
    /// All VMs and hosts. Robust to a restarted vCenter: an expired session is renewed by
    /// the call layer, and a view that vanished (`ManagedObjectNotFound`) is recreated once.
    pub async fn inventory(&self) -> Result<Vec<Entity>, Error> {
        Ok(self.discover().await?.entities)
    }

    /// Every entity of every kind, and the datastore names `datastore.*` instances map to.
    pub async fn discover(&self) -> Result<Discovery, Error> {
        self.discover_kinds(&EntityKind::ALL, &ExtraSpec::default())
            .await
    }

    /// Every kind, with the extras `spec` asks for.
    pub async fn discover_with(&self, spec: &ExtraSpec) -> Result<Discovery, Error> {
        self.discover_kinds(&EntityKind::ALL, spec).await
    }

    /// The entities of `kinds`, reading only the types and properties those kinds need
    /// (none at all, and no call, for no kind), with the extras `spec` asks for read in the
    /// same retrieval.
    pub async fn discover_kinds(
        &self,
        kinds: &[EntityKind],
        spec: &ExtraSpec,
    ) -> Result<Discovery, Error> {
        let types = view_types(kinds);
        if types.is_empty() {
            return Ok(Discovery::default());
        }
        let generation = self.session_generation();
        let found = match self.discover_once(&types, spec).await {
            Err(e) if e.is_stale_view() || self.session_generation() != generation => {
                tracing::warn!(vcenter = %self.name(), error = %e, "inventory view lost: retrying with a new view");
                self.discover_once(&types, spec).await
            }
            r => r,
        };
        let mut found = found.map_err(|e| self.explain_property_fault(e, spec))?;
        if spec.alarms {
            self.name_alarms(&mut found.entities).await;
        }
        // Objects read only for tags or paths (a VM's host, the datastores `dsname` maps
        // through) are not entities of a kind that was not asked for.
        found.entities.retain(|e| kinds.contains(&e.kind));
        let moids: std::collections::HashSet<&str> =
            found.entities.iter().map(|e| e.moid.as_str()).collect();
        found.paths.retain(|m, _| moids.contains(m.as_str()));
        Ok(found)
    }

    /// vCenter refuses the whole retrieval when one path is not a property of its type: say
    /// which configuration keys hold the paths.
    fn explain_property_fault(&self, e: Error, spec: &ExtraSpec) -> Error {
        match e {
            Error::Fault { fault, message, .. }
                if fault == "InvalidProperty" && !spec.properties.is_empty() =>
            {
                Error::Config {
                    vcenter: self.name().to_string(),
                    detail: format!(
                        "inventory: vCenter refused a property path (InvalidProperty: {message}): \
                         check the paths of collect.<kind>_property_include"
                    ),
                }
            }
            e => e,
        }
    }

    async fn discover_once(&self, types: &[&str], spec: &ExtraSpec) -> Result<Discovery, Error> {
        let started = std::time::Instant::now();
        let answer = self
            .invoke("CreateContainerView", |sc| {
                let mut b = String::from(r#"<CreateContainerView xmlns="urn:vim25">"#);
                sc.view_manager.write(&mut b, "_this");
                sc.root_folder.write(&mut b, "container");
                for t in types {
                    b.push_str("<type>");
                    b.push_str(t);
                    b.push_str("</type>");
                }
                b.push_str("<recursive>true</recursive></CreateContainerView>");
                b
            })
            .await?;
        let view = answer
            .child("returnval")
            .and_then(MoRef::from_node)
            .ok_or_else(|| {
                self.inner
                    .transport
                    .malformed("CreateContainerView", "no view in the answer")
            })?;
        let paths: Vec<(&str, Vec<&str>)> =
            types.iter().map(|t| (*t, properties(t, spec))).collect();
        let result = self
            .retrieve_all(|sc| {
                let mut s = String::new();
                for (t, p) in &paths {
                    prop_spec(&mut s, t, p);
                }
                let fields = sc.custom_fields_manager.as_ref();
                let fields = fields.filter(|_| spec.custom_attributes);
                if fields.is_some() {
                    prop_spec(&mut s, CUSTOM_FIELDS_MANAGER, &["field"]);
                }
                view_object_spec(&mut s, &view);
                if let Some(f) = fields {
                    object_spec(&mut s, f);
                }
                s
            })
            .await;
        self.destroy_view(&view).await;
        let objects = result?;
        let mut entities = resolve(&objects);
        attach_extras(&mut entities, &objects, spec);
        for (ty, path) in extras::complex_properties(&objects, spec) {
            tracing::warn!(vcenter = %self.name(), r#type = ty, property = %path, "property is not a single value (a data object or an array): not written");
        }
        let datastores = datastore_luns(&objects);
        let paths = inventory_paths(&objects);
        tracing::info!(
            vcenter = %self.name(),
            objects = objects.len(),
            vms = entities.iter().filter(|e| e.kind == EntityKind::Vm).count(),
            hosts = entities.iter().filter(|e| e.kind == EntityKind::Host).count(),
            datastores = datastores.len(),
            duration_ms = started.elapsed().as_millis() as u64,
            "inventory discovered"
        );
        Ok(Discovery {
            entities,
            datastores,
            paths,
        })
    }

    /// Views live as long as the session; destroy ours so that a long-running collector does
    /// not pile them up. Best effort.
    async fn destroy_view(&self, view: &MoRef) {
        let r = self
            .invoke("DestroyView", |_| {
                let mut b = String::from(r#"<DestroyView xmlns="urn:vim25">"#);
                view.write(&mut b, "_this");
                b.push_str("</DestroyView>");
                b
            })
            .await;
        if let Err(e) = r {
            tracing::debug!(vcenter = %self.name(), error = %e, "DestroyView failed");
        }
    }
}

/// The properties read for objects of type `ty`: its own (tags), what its inventory paths
/// need, and the extras `spec` asks for the kind of entity the type is.
fn properties<'a>(ty: &str, spec: &'a ExtraSpec) -> Vec<&'a str> {
    let own: &'static [&'static str] = match ty {
        "VirtualMachine" => VM_PATHS,
        "HostSystem" => HOST_PATHS,
        "Datastore" => DATASTORE_PATHS,
        _ => ANCESTOR_PATHS,
    };
    let mut all = own.to_vec();
    for p in path_properties(ty) {
        if !all.contains(p) {
            all.push(p);
        }
    }
    if let Some(kind) = extras::kind_of_type(ty) {
        for p in extras::extra_paths(spec, kind, own) {
            if !all.contains(&p) {
                all.push(p);
            }
        }
    }
    all
}

/// Fills in each entity's extras from its object in the same retrieval. Nothing to do (and
/// nothing was read) when `spec` asks for none.
fn attach_extras(entities: &mut [Entity], objects: &[ObjectContent], spec: &ExtraSpec) {
    if *spec == ExtraSpec::default() {
        return;
    }
    let names = extras::custom_field_names(objects);
    let by_id: HashMap<&str, &ObjectContent> =
        objects.iter().map(|o| (o.obj.value.as_str(), o)).collect();
    for e in entities {
        if let Some(o) = by_id.get(e.moid.as_str()) {
            e.extras = extras::extras_of(o, e.kind, spec, &names);
        }
    }
}

/// Strips Telegraf's trailing `Guest` (`otherGuest` → `other`, `ubuntu64Guest` → `ubuntu64`).
pub(crate) fn guest_name(id: &str) -> String {
    id.strip_suffix("Guest").unwrap_or(id).to_string()
}

/// The LUN id Telegraf takes from a datastore's `info.url`: the last path segment, a
/// trailing `/` allowed (its regex `.*/([^/]+)/?$`).
pub(crate) fn lun_of_url(url: &str) -> Option<&str> {
    let trimmed = url.strip_suffix('/').unwrap_or(url);
    let (_, last) = trimmed.rsplit_once('/')?;
    (!last.is_empty()).then_some(last)
}

/// Datastore name by LUN id, for the `dsname` tag of `datastore.*` counters.
pub(crate) fn datastore_luns(objects: &[ObjectContent]) -> HashMap<String, String> {
    objects
        .iter()
        .filter(|o| o.obj.ty == "Datastore")
        .filter_map(|o| {
            let lun = lun_of_url(o.text("info.url")?)?;
            Some((lun.to_string(), o.text("name")?.to_string()))
        })
        .collect()
}

/// A VM with Telegraf's tags. As in Telegraf's populateTags, `guest`, `guesthostname`,
/// `esxhostname` and `clustername` are written only when the VM's host is known.
fn vm_entity(
    o: &ObjectContent,
    host: Option<&Placement>,
    by_id: &HashMap<&str, &ObjectContent>,
) -> Entity {
    let none = Placement::default();
    let p = host.unwrap_or(&none);
    // Telegraf: "unknown" when the VM has no config, else guest.guestId if set, else
    // config.guestId, each without the `Guest` suffix.
    let has_config = o.value("config.guestId").is_some() || o.value("config.uuid").is_some();
    let guest = if has_config {
        o.text("guest.guestId")
            .or_else(|| o.text("config.guestId"))
            .map(guest_name)
    } else {
        Some("unknown".to_string())
    };
    // Telegraf falls back to "Resources" (the root pool's name) for a pool it did not find.
    let rpname = o.moref("resourcePool").map(|rp| {
        by_id
            .get(rp.value.as_str())
            .and_then(|p| p.text("name"))
            .unwrap_or("Resources")
            .to_string()
    });
    let number = |path: &str| {
        o.text(path)
            .and_then(|t| t.parse::<i64>().ok())
            .filter(|n| *n != 0)
    };
    Entity {
        kind: EntityKind::Vm,
        moid: o.obj.value.clone(),
        name: o
            .text("name")
            .map_or_else(|| o.obj.value.clone(), str::to_string),
        dcname: p.dc.clone(),
        clustername: p.cluster.clone(),
        esxhostname: p.host_name.clone(),
        uuid: o.text("config.uuid").map(str::to_string),
        guest: guest.filter(|_| host.is_some()),
        guesthostname: o
            .text("guest.hostName")
            .filter(|_| host.is_some())
            .map(str::to_string),
        rpname,
        memory_size_mb: number("summary.config.memorySizeMB"),
        memory_reservation: number("summary.config.memoryReservation"),
        active: vm_collectable(o),
        extras: Default::default(),
    }
}

/// A VM has realtime statistics when it runs on a host vCenter is connected to: powered on,
/// and its `runtime.connectionState` (which follows its host's: `disconnected` while the
/// host is disconnected or not responding) `connected` or not reported. vCenter cannot
/// fetch the statistics of the others: asked, it fails the whole call (`HostNotConnected`).
fn vm_collectable(o: &ObjectContent) -> bool {
    o.text("runtime.powerState") == Some("poweredOn")
        && o.text("runtime.connectionState")
            .is_none_or(|c| c == "connected")
}

/// Where a host sits: its cluster (if its parent is a ClusterComputeResource) and datacenter.
#[derive(Default)]
struct Placement {
    host_name: Option<String>,
    cluster: Option<String>,
    dc: Option<String>,
}

/// Builds the entities from one retrieval of the view: hosts and VMs, names resolved
/// through the parent chain held in the same retrieval.
pub(crate) fn resolve(objects: &[ObjectContent]) -> Vec<Entity> {
    let by_id: HashMap<&str, &ObjectContent> =
        objects.iter().map(|o| (o.obj.value.as_str(), o)).collect();

    let datacenter_of = |start: Option<MoRef>| -> Option<String> {
        let mut cur = start;
        for _ in 0..MAX_DEPTH {
            let m = cur?;
            let o = by_id.get(m.value.as_str())?;
            if o.obj.ty == "Datacenter" {
                return o.text("name").map(str::to_string);
            }
            cur = o.moref("parent");
        }
        None
    };

    let mut hosts: HashMap<&str, Placement> = HashMap::new();
    let mut out = Vec::new();
    for o in objects.iter().filter(|o| o.obj.ty == "HostSystem") {
        let parent = o.moref("parent");
        let cluster = parent
            .as_ref()
            .and_then(|p| by_id.get(p.value.as_str()))
            .filter(|p| p.obj.ty == "ClusterComputeResource")
            .and_then(|p| p.text("name"))
            .map(str::to_string);
        let p = Placement {
            host_name: o.text("name").map(str::to_string),
            cluster,
            dc: datacenter_of(parent),
        };
        let name = p.host_name.clone().unwrap_or_else(|| o.obj.value.clone());
        out.push(Entity {
            dcname: p.dc.clone(),
            clustername: p.cluster.clone(),
            esxhostname: p.host_name.clone(),
            active: o.text("runtime.connectionState") == Some("connected"),
            ..Entity::new(EntityKind::Host, o.obj.value.clone(), name)
        });
        hosts.insert(o.obj.value.as_str(), p);
    }
    for o in objects.iter().filter(|o| o.obj.ty == "VirtualMachine") {
        let host = o
            .moref("runtime.host")
            .and_then(|h| hosts.get(h.value.as_str()));
        out.push(vm_entity(o, host, &by_id));
    }
    out.extend(
        objects
            .iter()
            .filter_map(|o| historical_entity(o, &by_id, &datacenter_of)),
    );
    out
}

/// A cluster, datastore, datacenter or resource pool (a vApp counts as a pool, as in
/// vSphere's type hierarchy) with Telegraf's tags: its datacenter, and for a pool whose
/// parent is a cluster (a cluster's root pool, `Resources`) that cluster, as Telegraf's
/// populateTags sets `clustername` only from a pool's direct parent.
fn historical_entity(
    o: &ObjectContent,
    by_id: &HashMap<&str, &ObjectContent>,
    datacenter_of: &dyn Fn(Option<MoRef>) -> Option<String>,
) -> Option<Entity> {
    let kind = match o.obj.ty.as_str() {
        "VirtualApp" => EntityKind::ResourcePool,
        t => EntityKind::from_vim_type(t).filter(|k| !k.is_realtime())?,
    };
    let name = o
        .text("name")
        .map_or_else(|| o.obj.value.clone(), str::to_string);
    let dcname = match kind {
        EntityKind::Datacenter => Some(name.clone()),
        _ => datacenter_of(o.moref("parent")),
    };
    let clustername = match kind {
        EntityKind::ResourcePool => o
            .moref("parent")
            .and_then(|p| by_id.get(p.value.as_str()).copied())
            .filter(|p| p.obj.ty == "ClusterComputeResource")
            .and_then(|p| p.text("name"))
            .map(str::to_string),
        _ => None,
    };
    Some(Entity {
        dcname,
        clustername,
        ..Entity::new(kind, o.obj.value.clone(), name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vsphere::xml::Node;

    fn val(text: &str, ty: Option<&str>) -> Node {
        Node {
            name: "val".into(),
            attrs: ty
                .map(|t| vec![("type".to_string(), t.to_string())])
                .unwrap_or_default(),
            text: text.into(),
            children: vec![],
        }
    }

    fn obj(ty: &str, id: &str, props: &[(&str, &str, Option<&str>)]) -> ObjectContent {
        ObjectContent::from_nodes(
            MoRef::new(ty, id),
            props.iter().map(|(n, v, t)| (*n, val(v, *t))),
        )
    }

    #[test]
    fn names_resolve_through_parents() {
        let objects = vec![
            obj(
                "Datacenter",
                "dc-1",
                &[
                    ("name", "DC0", None),
                    ("parent", "group-d1", Some("Folder")),
                ],
            ),
            obj(
                "Folder",
                "group-h4",
                &[
                    ("name", "host", None),
                    ("parent", "dc-1", Some("Datacenter")),
                ],
            ),
            obj(
                "Folder",
                "f-9",
                &[
                    ("name", "sub", None),
                    ("parent", "group-h4", Some("Folder")),
                ],
            ),
            obj(
                "ClusterComputeResource",
                "domain-c1",
                &[("name", "C0", None), ("parent", "f-9", Some("Folder"))],
            ),
            obj(
                "ComputeResource",
                "domain-s1",
                &[
                    ("name", "esx9", None),
                    ("parent", "group-h4", Some("Folder")),
                ],
            ),
            obj(
                "HostSystem",
                "host-1",
                &[
                    ("name", "esx1", None),
                    ("runtime.connectionState", "connected", None),
                    ("parent", "domain-c1", Some("ClusterComputeResource")),
                ],
            ),
            obj(
                "HostSystem",
                "host-9",
                &[
                    ("name", "esx9", None),
                    ("runtime.connectionState", "disconnected", None),
                    ("parent", "domain-s1", Some("ComputeResource")),
                ],
            ),
            obj(
                "VirtualMachine",
                "vm-1",
                &[
                    ("name", "web 1", None),
                    ("runtime.powerState", "poweredOn", None),
                    ("runtime.host", "host-1", Some("HostSystem")),
                    ("config.guestId", "otherGuest", None),
                    ("guest.guestId", "ubuntu64Guest", None),
                    ("config.uuid", "u-1", None),
                ],
            ),
            obj(
                "VirtualMachine",
                "vm-2",
                &[
                    ("name", "db", None),
                    ("runtime.powerState", "poweredOff", None),
                    ("runtime.host", "host-9", Some("HostSystem")),
                    ("config.guestId", "windows9Guest", None),
                ],
            ),
            obj(
                "VirtualMachine",
                "vm-3",
                &[
                    ("name", "on a lost host", None),
                    ("runtime.powerState", "poweredOn", None),
                    ("runtime.connectionState", "disconnected", None),
                    ("runtime.host", "host-9", Some("HostSystem")),
                ],
            ),
        ];
        let e = resolve(&objects);
        // Two hosts, three VMs, the datacenter and the cluster (a standalone host's
        // ComputeResource is not a cluster).
        assert_eq!(e.len(), 7);
        let c = e.iter().find(|e| e.moid == "domain-c1").unwrap();
        assert_eq!(
            (c.kind, c.name.as_str(), c.dcname.as_deref()),
            (EntityKind::Cluster, "C0", Some("DC0"))
        );
        let dc = e.iter().find(|e| e.moid == "dc-1").unwrap();
        assert_eq!(
            (dc.kind, dc.dcname.as_deref()),
            (EntityKind::Datacenter, Some("DC0"))
        );
        let h1 = e.iter().find(|e| e.moid == "host-1").unwrap();
        assert_eq!(
            (h1.dcname.as_deref(), h1.clustername.as_deref(), h1.active),
            (Some("DC0"), Some("C0"), true)
        );
        let h9 = e.iter().find(|e| e.moid == "host-9").unwrap();
        assert_eq!(
            (h9.clustername.as_deref(), h9.dcname.as_deref(), h9.active),
            (None, Some("DC0"), false)
        );
        let v1 = e.iter().find(|e| e.moid == "vm-1").unwrap();
        assert_eq!(v1.esxhostname.as_deref(), Some("esx1"));
        assert_eq!(v1.clustername.as_deref(), Some("C0"));
        assert_eq!(v1.guest.as_deref(), Some("ubuntu64"));
        assert_eq!(v1.uuid.as_deref(), Some("u-1"));
        assert!(v1.active);
        let v2 = e.iter().find(|e| e.moid == "vm-2").unwrap();
        assert_eq!(
            (v2.guest.as_deref(), v2.clustername.as_deref(), v2.active),
            (Some("windows9"), None, false)
        );
        // Running, but on a host vCenter lost: vCenter has no statistics for it.
        let v3 = e.iter().find(|e| e.moid == "vm-3").unwrap();
        assert!(!v3.active);
    }

    /// The extra tags and fields Telegraf writes, read from the same retrieval.
    #[test]
    fn vm_tags_and_datastores_come_from_the_same_retrieval() {
        let objects = vec![
            obj(
                "HostSystem",
                "host-1",
                &[("name", "esx1", None), ("parent", "x", Some("Folder"))],
            ),
            obj("ResourcePool", "resgroup-9", &[("name", "prod", None)]),
            obj(
                "Datastore",
                "datastore-1",
                &[
                    ("name", "ds 1", None),
                    ("info.url", "ds:///vmfs/volumes/5f1b-aa/", None),
                ],
            ),
            obj(
                "Datastore",
                "datastore-2",
                &[
                    ("name", "nfs", None),
                    ("info.url", "ds:///vmfs/volumes/6a00-bb", None),
                ],
            ),
            obj(
                "VirtualMachine",
                "vm-1",
                &[
                    ("name", "web", None),
                    ("runtime.host", "host-1", Some("HostSystem")),
                    ("config.guestId", "rhel9_64Guest", None),
                    ("guest.hostName", "web.example.com", None),
                    ("resourcePool", "resgroup-9", Some("ResourcePool")),
                    ("summary.config.memorySizeMB", "4096", None),
                    ("summary.config.memoryReservation", "0", None),
                ],
            ),
            obj(
                "VirtualMachine",
                "vm-2",
                &[
                    ("name", "no-config", None),
                    ("runtime.host", "host-1", Some("HostSystem")),
                    ("resourcePool", "resgroup-gone", Some("ResourcePool")),
                ],
            ),
        ];
        let e = resolve(&objects);
        let v1 = e.iter().find(|e| e.moid == "vm-1").unwrap();
        assert_eq!(v1.guest.as_deref(), Some("rhel9_64"));
        assert_eq!(v1.guesthostname.as_deref(), Some("web.example.com"));
        assert_eq!(v1.rpname.as_deref(), Some("prod"));
        assert_eq!(
            (v1.memory_size_mb, v1.memory_reservation),
            (Some(4096), None)
        );
        let v2 = e.iter().find(|e| e.moid == "vm-2").unwrap();
        assert_eq!(v2.guest.as_deref(), Some("unknown"));
        assert_eq!(v2.rpname.as_deref(), Some("Resources"));
        let ds = datastore_luns(&objects);
        assert_eq!(ds.get("5f1b-aa").map(String::as_str), Some("ds 1"));
        assert_eq!(ds.get("6a00-bb").map(String::as_str), Some("nfs"));
        assert_eq!(lun_of_url("ds:///vmfs/volumes/a//"), None);
        assert_eq!(lun_of_url("nourl"), None);
    }

    #[test]
    fn a_parent_cycle_does_not_hang() {
        let objects = vec![
            obj("Folder", "a", &[("parent", "b", Some("Folder"))]),
            obj("Folder", "b", &[("parent", "a", Some("Folder"))]),
            obj("HostSystem", "h", &[("parent", "a", Some("Folder"))]),
        ];
        let e = resolve(&objects);
        assert_eq!(e[0].dcname, None);
        assert_eq!(e[0].name, "h");
    }
}
