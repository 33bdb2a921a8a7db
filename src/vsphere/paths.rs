//! Inventory paths, as Telegraf's finder (and `govc ls`) sees them, computed in memory from
//! the parent chains that the one discovery retrieval already holds: no call per entity.
//!
//! * datacenter: `/<folders…>/<dc>`
//! * VM: `/<dc>/vm/<folders…>/<vm>`, and also, as in Telegraf's README ("Multiple paths to
//!   VMs"), `/<dc>/host/<folders…>/<cluster>/<host>/<vm>` and
//!   `/<dc>/host/<folders…>/<cluster>/Resources/<pools…>/<vm>`;
//! * host: `/<dc>/host/<folders…>/<cluster or standalone compute resource>/<host>`;
//! * cluster: `/<dc>/host/<folders…>/<cluster>`;
//! * resource pool: `/<dc>/host/<folders…>/<cluster>/Resources/<pool>/<nested pool…>`;
//! * datastore: `/<dc>/datastore/<folders or datastore clusters…>/<ds>`.
//!
//! The root folder is not in the view (a ContainerView never holds its container), so a
//! chain ends at the first parent the retrieval does not hold. Names are as vCenter sends
//! them: a `/` in a name arrives escaped as `%2f`, so a name is always one segment.

use std::collections::HashMap;

use super::property::ObjectContent;

/// The longest parent chain followed (guards against a cycle in bad data).
const MAX_DEPTH: usize = 64;

/// The types whose objects can be collected, and so get paths.
const PATHED: &[&str] = &[
    "VirtualMachine",
    "HostSystem",
    "ClusterComputeResource",
    "ResourcePool",
    "VirtualApp",
    "Datastore",
    "Datacenter",
];

/// The properties the paths need, per type, besides `name` (see `inventory::selection`).
pub(crate) fn path_properties(ty: &str) -> &'static [&'static str] {
    match ty {
        // A VM in a vApp has no `parent` folder: its vApp (`parentVApp`) stands in for it.
        "VirtualMachine" => &["parent", "parentVApp", "runtime.host", "resourcePool"],
        // A vApp sits in a VM folder (`parentFolder`) and in the pool tree (`parent`).
        "VirtualApp" => &["parent", "parentFolder", "parentVApp"],
        _ => &["parent"],
    }
}

/// Every inventory path of every collectable object, by managed object id.
pub(crate) fn inventory_paths(objects: &[ObjectContent]) -> HashMap<String, Vec<String>> {
    let mut r = Resolver {
        by_id: objects.iter().map(|o| (o.obj.value.as_str(), o)).collect(),
        memo: HashMap::new(),
    };
    let mut out = HashMap::new();
    for o in objects
        .iter()
        .filter(|o| PATHED.contains(&o.obj.ty.as_str()))
    {
        let mut paths = Vec::new();
        let own = match o.obj.ty.as_str() {
            "ResourcePool" | "VirtualApp" => r.pool_path(&o.obj.value),
            _ => r.path(&o.obj.value),
        };
        paths.extend(own);
        if o.obj.ty == "VirtualMachine" {
            let name = name_of(o);
            let host = o.moref("runtime.host").and_then(|h| r.path(&h.value));
            let pool = o.moref("resourcePool").and_then(|p| r.pool_path(&p.value));
            for p in [host, pool].into_iter().flatten() {
                let p = format!("{p}/{name}");
                if !paths.contains(&p) {
                    paths.push(p);
                }
            }
        }
        out.insert(o.obj.value.clone(), paths);
    }
    out
}

fn name_of(o: &ObjectContent) -> &str {
    o.text("name").unwrap_or(&o.obj.value)
}

struct Resolver<'a> {
    by_id: HashMap<&'a str, &'a ObjectContent>,
    /// Folder-tree paths already computed (`None`: the chain has a cycle).
    memo: HashMap<&'a str, Option<String>>,
}

impl<'a> Resolver<'a> {
    /// The parent in the folder tree: a VM's folder or vApp, a vApp's folder, else `parent`.
    fn folder_parent(&self, o: &ObjectContent) -> Option<&'a ObjectContent> {
        let link = match o.obj.ty.as_str() {
            "VirtualMachine" => o.moref("parent").or_else(|| o.moref("parentVApp")),
            "VirtualApp" => o
                .moref("parentFolder")
                .or_else(|| o.moref("parentVApp"))
                .or_else(|| o.moref("parent")),
            _ => o.moref("parent"),
        }?;
        self.by_id.get(link.value.as_str()).copied()
    }

    /// The path of `id` through the folder tree.
    fn path(&mut self, id: &str) -> Option<String> {
        let start = *self.by_id.get(id)?;
        // Walk up to a known path or the top, then fill in the memo on the way down.
        let mut chain = vec![start];
        let mut base = String::new();
        loop {
            let cur = chain[chain.len() - 1];
            match self.folder_parent(cur) {
                None => break,
                Some(p) => {
                    if let Some(known) = self.memo.get(p.obj.value.as_str()) {
                        base = known.clone()?;
                        break;
                    }
                    if chain.len() >= MAX_DEPTH || chain.iter().any(|c| c.obj == p.obj) {
                        for c in &chain {
                            self.memo.insert(c.obj.value.as_str(), None);
                        }
                        return None;
                    }
                    chain.push(p);
                }
            }
        }
        for c in chain.iter().rev() {
            base = format!("{base}/{}", name_of(c));
            self.memo.insert(c.obj.value.as_str(), Some(base.clone()));
        }
        Some(base)
    }

    /// The path of a resource pool or vApp through the pool tree: up its `parent` pools to
    /// the compute resource, whose folder-tree path it continues.
    fn pool_path(&mut self, id: &str) -> Option<String> {
        let mut names: Vec<&str> = Vec::new();
        let mut cur = *self.by_id.get(id)?;
        for _ in 0..MAX_DEPTH {
            if !matches!(cur.obj.ty.as_str(), "ResourcePool" | "VirtualApp") {
                let mut p = self.path(&cur.obj.value)?;
                for n in names.iter().rev() {
                    p.push('/');
                    p.push_str(n);
                }
                return Some(p);
            }
            names.push(name_of(cur));
            let parent = cur.moref("parent")?;
            match self.by_id.get(parent.value.as_str()) {
                Some(p) => cur = p,
                // A pool whose parent is not in the retrieval: a path from the top.
                None => return Some(names.iter().rev().fold(String::new(), |a, n| a + "/" + n)),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vsphere::soap::MoRef;
    use crate::vsphere::xml::Node;

    fn obj(ty: &str, id: &str, name: &str, links: &[(&str, &str, &str)]) -> ObjectContent {
        let val = |text: &str, ty: Option<&str>| Node {
            name: "val".into(),
            attrs: ty
                .map(|t| vec![("type".to_string(), t.to_string())])
                .unwrap_or_default(),
            text: text.into(),
            children: vec![],
        };
        let mut props = vec![("name".to_string(), val(name, None))];
        for (prop, ty, id) in links {
            props.push((prop.to_string(), val(id, Some(ty))));
        }
        ObjectContent::from_nodes(MoRef::new(ty, id), props)
    }

    /// An inventory as govc shows it: a datacenter in a folder, a cluster in a host folder,
    /// nested pools, a vApp, a standalone host, a datastore cluster.
    fn inventory() -> Vec<ObjectContent> {
        let f = "Folder";
        vec![
            obj(f, "group-f1", "F1", &[("parent", f, "group-d1")]),
            obj("Datacenter", "dc-1", "DC0", &[("parent", f, "group-f1")]),
            obj(f, "group-v1", "vm", &[("parent", "Datacenter", "dc-1")]),
            obj(f, "group-h1", "host", &[("parent", "Datacenter", "dc-1")]),
            obj(
                f,
                "group-s1",
                "datastore",
                &[("parent", "Datacenter", "dc-1")],
            ),
            obj(f, "group-v2", "apps", &[("parent", f, "group-v1")]),
            obj(f, "group-h2", "prod", &[("parent", f, "group-h1")]),
            obj(
                "ClusterComputeResource",
                "domain-c1",
                "C0",
                &[("parent", f, "group-h2")],
            ),
            obj(
                "ComputeResource",
                "domain-s1",
                "esx9",
                &[("parent", f, "group-h1")],
            ),
            obj(
                "HostSystem",
                "host-1",
                "esx1",
                &[("parent", "ClusterComputeResource", "domain-c1")],
            ),
            obj(
                "HostSystem",
                "host-9",
                "esx9",
                &[("parent", "ComputeResource", "domain-s1")],
            ),
            obj(
                "ResourcePool",
                "resgroup-1",
                "Resources",
                &[("parent", "ClusterComputeResource", "domain-c1")],
            ),
            obj(
                "ResourcePool",
                "resgroup-2",
                "gold",
                &[("parent", "ResourcePool", "resgroup-1")],
            ),
            obj(
                "ResourcePool",
                "resgroup-3",
                "inner",
                &[("parent", "ResourcePool", "resgroup-2")],
            ),
            obj(
                "VirtualApp",
                "resgroup-v1",
                "vapp",
                &[
                    ("parent", "ResourcePool", "resgroup-1"),
                    ("parentFolder", f, "group-v2"),
                ],
            ),
            obj(
                "VirtualMachine",
                "vm-1",
                "web",
                &[
                    ("parent", f, "group-v2"),
                    ("runtime.host", "HostSystem", "host-1"),
                    ("resourcePool", "ResourcePool", "resgroup-3"),
                ],
            ),
            obj(
                "VirtualMachine",
                "vm-2",
                "inapp",
                &[
                    ("parentVApp", "VirtualApp", "resgroup-v1"),
                    ("runtime.host", "HostSystem", "host-1"),
                    ("resourcePool", "VirtualApp", "resgroup-v1"),
                ],
            ),
            obj(
                "StoragePod",
                "group-p1",
                "pod",
                &[("parent", f, "group-s1")],
            ),
            obj(
                "Datastore",
                "datastore-1",
                "ds1",
                &[("parent", "StoragePod", "group-p1")],
            ),
            obj(
                "Datastore",
                "datastore-2",
                "ds2",
                &[("parent", f, "group-s1")],
            ),
        ]
    }

    #[test]
    fn every_kind_gets_the_path_govc_shows() {
        let p = inventory_paths(&inventory());
        let one = |id: &str| p[id].clone();
        assert_eq!(one("dc-1"), ["/F1/DC0"]);
        assert_eq!(one("domain-c1"), ["/F1/DC0/host/prod/C0"]);
        assert_eq!(one("host-1"), ["/F1/DC0/host/prod/C0/esx1"]);
        assert_eq!(one("host-9"), ["/F1/DC0/host/esx9/esx9"]);
        assert_eq!(one("resgroup-1"), ["/F1/DC0/host/prod/C0/Resources"]);
        assert_eq!(
            one("resgroup-3"),
            ["/F1/DC0/host/prod/C0/Resources/gold/inner"]
        );
        assert_eq!(one("resgroup-v1"), ["/F1/DC0/host/prod/C0/Resources/vapp"]);
        assert_eq!(one("datastore-1"), ["/F1/DC0/datastore/pod/ds1"]);
        assert_eq!(one("datastore-2"), ["/F1/DC0/datastore/ds2"]);
        assert!(!p.contains_key("group-f1") && !p.contains_key("domain-s1"));
    }

    #[test]
    fn a_vm_has_its_folder_host_and_pool_paths() {
        let p = inventory_paths(&inventory());
        assert_eq!(
            p["vm-1"],
            [
                "/F1/DC0/vm/apps/web",
                "/F1/DC0/host/prod/C0/esx1/web",
                "/F1/DC0/host/prod/C0/Resources/gold/inner/web",
            ]
        );
        // In a vApp: its folder path goes through the vApp's folder.
        assert_eq!(
            p["vm-2"],
            [
                "/F1/DC0/vm/apps/vapp/inapp",
                "/F1/DC0/host/prod/C0/esx1/inapp",
                "/F1/DC0/host/prod/C0/Resources/vapp/inapp",
            ]
        );
    }

    #[test]
    fn broken_chains_do_not_hang_or_panic() {
        let f = "Folder";
        let objects = vec![
            obj(f, "a", "a", &[("parent", f, "b")]),
            obj(f, "b", "b", &[("parent", f, "a")]),
            obj("HostSystem", "h", "h", &[("parent", f, "a")]),
            obj(
                "ResourcePool",
                "r1",
                "r1",
                &[("parent", "ResourcePool", "r2")],
            ),
            obj(
                "ResourcePool",
                "r2",
                "r2",
                &[("parent", "ResourcePool", "r1")],
            ),
            obj("Datastore", "d", "d", &[("parent", f, "gone")]),
        ];
        let p = inventory_paths(&objects);
        assert!(p["h"].is_empty());
        assert!(p["r1"].is_empty());
        assert_eq!(p["d"], ["/d"]);
    }
}
