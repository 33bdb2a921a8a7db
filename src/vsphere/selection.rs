//! What one discovery reads: only the managed-object types the enabled kinds need, so that a
//! kind switched off costs nothing (a realtime-only configuration does not list datastores,
//! one without VMs does not list a single VM). Still one paged retrieval per discovery.

use super::types::EntityKind;

/// Every type discovery can read, in the order the view lists them. Subtypes are included
/// by a view (ClusterComputeResource is a ComputeResource, StoragePod a Folder), but they are
/// listed for servers that match types exactly.
pub(crate) const ALL_TYPES: &[&str] = &[
    "VirtualMachine",
    "HostSystem",
    "ComputeResource",
    "ClusterComputeResource",
    "Datacenter",
    "Folder",
    "StoragePod",
    "ResourcePool",
    "VirtualApp",
    "Datastore",
];

/// The types one kind needs: its own, the ancestors its inventory paths and tags go through,
/// and what its tags are read from.
fn types_of(kind: EntityKind) -> &'static [&'static str] {
    match kind {
        // esxhostname / clustername (its host), rpname and pool paths, dsname of
        // `datastore.*` instances.
        EntityKind::Vm => &[
            "VirtualMachine",
            "HostSystem",
            "ComputeResource",
            "ClusterComputeResource",
            "ResourcePool",
            "VirtualApp",
            "Datastore",
        ],
        EntityKind::Host => &[
            "HostSystem",
            "ComputeResource",
            "ClusterComputeResource",
            "Datastore",
        ],
        EntityKind::Cluster => &["ClusterComputeResource"],
        EntityKind::Datastore => &["Datastore", "StoragePod"],
        EntityKind::Datacenter | EntityKind::Vsan => &[],
        EntityKind::ResourcePool => &[
            "ComputeResource",
            "ClusterComputeResource",
            "ResourcePool",
            "VirtualApp",
        ],
    }
}

/// The types to read for `kinds` (empty: nothing to discover). Folders and datacenters are
/// on every path, so every kind needs them.
pub(crate) fn view_types(kinds: &[EntityKind]) -> Vec<&'static str> {
    if kinds.is_empty() {
        return Vec::new();
    }
    ALL_TYPES
        .iter()
        .copied()
        .filter(|t| {
            matches!(*t, "Datacenter" | "Folder") || kinds.iter().any(|k| types_of(*k).contains(t))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_the_enabled_kinds_need() {
        assert!(view_types(&[]).is_empty());
        let all = view_types(&EntityKind::ALL);
        assert_eq!(all, ALL_TYPES);
        // Hosts only: no VM, pool or vApp is listed.
        assert_eq!(
            view_types(&[EntityKind::Host]),
            [
                "HostSystem",
                "ComputeResource",
                "ClusterComputeResource",
                "Datacenter",
                "Folder",
                "Datastore"
            ]
        );
        // Datacenters only: the folders they sit in.
        assert_eq!(
            view_types(&[EntityKind::Datacenter]),
            ["Datacenter", "Folder"]
        );
        let vm = view_types(&[EntityKind::Vm]);
        assert!(vm.contains(&"VirtualMachine") && !vm.contains(&"StoragePod"));
    }
}
