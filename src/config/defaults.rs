//! The default counter lists: what a vSphere admin watches on each kind of object.
//!
//! They start from Telegraf's `sample.conf` lists (so existing dashboards find their fields)
//! and add what the widely used dashboards for Telegraf's data read but Telegraf's defaults
//! miss: `cpu.usage.average` for VMs, `disk.maxTotalLatency.latest` for VMs and hosts, host
//! storage adapter latency. Telegraf collects *every* counter of clusters, datastores,
//! datacenters and resource pools by default; vcollect lists the statistics-level-1 counters
//! its README names for them, plus what InfluxData's Chronograf vSphere dashboards query
//! (cluster `disk`/`net` throughput, datastore capacity and usage), so the default is cheap and
//! the panels are full. `<kind>_metric_include = ["*"]` asks for everything, as Telegraf does.

use crate::contract::EntityKind;

/// The default `collect.<kind>_counters`.
pub fn default_counters(kind: EntityKind) -> &'static [&'static str] {
    match kind {
        EntityKind::Vm => DEFAULT_VM_COUNTERS,
        EntityKind::Host => DEFAULT_HOST_COUNTERS,
        EntityKind::Cluster => DEFAULT_CLUSTER_COUNTERS,
        EntityKind::Datastore => DEFAULT_DATASTORE_COUNTERS,
        EntityKind::Datacenter => DEFAULT_DATACENTER_COUNTERS,
        EntityKind::ResourcePool => DEFAULT_RESOURCE_POOL_COUNTERS,
        EntityKind::Vsan => &[],
    }
}

/// Default `collect.cluster_counters`.
pub const DEFAULT_CLUSTER_COUNTERS: &[&str] = &[
    "cpu.usage.average",
    "cpu.usagemhz.average",
    "cpu.totalmhz.average",
    "clusterServices.effectivecpu.average",
    "clusterServices.effectivemem.average",
    "mem.active.average",
    "mem.consumed.average",
    "mem.overhead.average",
    "mem.totalmb.average",
    "mem.usage.average",
    "mem.vmmemctl.average",
    "disk.throughput.usage.average",
    "net.throughput.usage.average",
    "vmop.numPoweron.latest",
    "vmop.numPoweroff.latest",
    "vmop.numVMotion.latest",
];

/// Default `collect.datastore_counters`. vCenter refreshes capacity and usage every 30 min.
pub const DEFAULT_DATASTORE_COUNTERS: &[&str] = &[
    "disk.capacity.latest",
    "disk.provisioned.latest",
    "disk.used.latest",
    "datastore.numberReadAveraged.average",
    "datastore.numberWriteAveraged.average",
    "datastore.read.average",
    "datastore.write.average",
];

/// Default `collect.datacenter_counters` (datacenters are off by default, as in Telegraf).
pub const DEFAULT_DATACENTER_COUNTERS: &[&str] = &[
    "vmop.numChangeDS.latest",
    "vmop.numChangeHost.latest",
    "vmop.numClone.latest",
    "vmop.numCreate.latest",
    "vmop.numDestroy.latest",
    "vmop.numPoweron.latest",
    "vmop.numPoweroff.latest",
    "vmop.numVMotion.latest",
];

/// Default `collect.resource_pool_counters`.
pub const DEFAULT_RESOURCE_POOL_COUNTERS: &[&str] = &[
    "cpu.usagemhz.average",
    "mem.active.average",
    "mem.consumed.average",
    "mem.granted.average",
    "mem.overhead.average",
    "mem.shared.average",
    "mem.swapped.average",
    "mem.vmmemctl.average",
];

/// Default `collect.vm_counters`.
pub const DEFAULT_VM_COUNTERS: &[&str] = &[
    "cpu.demand.average",
    "cpu.idle.summation",
    "cpu.latency.average",
    "cpu.readiness.average",
    "cpu.ready.summation",
    "cpu.run.summation",
    "cpu.usage.average",
    "cpu.usagemhz.average",
    "cpu.used.summation",
    "cpu.wait.summation",
    "mem.active.average",
    "mem.granted.average",
    "mem.latency.average",
    "mem.swapin.average",
    "mem.swapinRate.average",
    "mem.swapout.average",
    "mem.swapoutRate.average",
    "mem.usage.average",
    "mem.vmmemctl.average",
    "net.bytesRx.average",
    "net.bytesTx.average",
    "net.droppedRx.summation",
    "net.droppedTx.summation",
    "net.usage.average",
    "power.power.average",
    "virtualDisk.numberReadAveraged.average",
    "virtualDisk.numberWriteAveraged.average",
    "virtualDisk.read.average",
    "virtualDisk.readOIO.latest",
    "virtualDisk.throughput.usage.average",
    "virtualDisk.totalReadLatency.average",
    "virtualDisk.totalWriteLatency.average",
    "virtualDisk.write.average",
    "virtualDisk.writeOIO.latest",
    "disk.maxTotalLatency.latest",
    "sys.uptime.latest",
];

/// Default `collect.host_counters`.
pub const DEFAULT_HOST_COUNTERS: &[&str] = &[
    "cpu.coreUtilization.average",
    "cpu.costop.summation",
    "cpu.demand.average",
    "cpu.idle.summation",
    "cpu.latency.average",
    "cpu.readiness.average",
    "cpu.ready.summation",
    "cpu.swapwait.summation",
    "cpu.usage.average",
    "cpu.usagemhz.average",
    "cpu.used.summation",
    "cpu.utilization.average",
    "cpu.wait.summation",
    "disk.deviceReadLatency.average",
    "disk.deviceWriteLatency.average",
    "disk.kernelReadLatency.average",
    "disk.kernelWriteLatency.average",
    "disk.maxTotalLatency.latest",
    "disk.numberReadAveraged.average",
    "disk.numberWriteAveraged.average",
    "disk.read.average",
    "disk.totalReadLatency.average",
    "disk.totalWriteLatency.average",
    "disk.write.average",
    "mem.active.average",
    "mem.latency.average",
    "mem.state.latest",
    "mem.swapin.average",
    "mem.swapinRate.average",
    "mem.swapout.average",
    "mem.swapoutRate.average",
    "mem.totalCapacity.average",
    "mem.usage.average",
    "mem.vmmemctl.average",
    "net.bytesRx.average",
    "net.bytesTx.average",
    "net.droppedRx.summation",
    "net.droppedTx.summation",
    "net.errorsRx.summation",
    "net.errorsTx.summation",
    "net.usage.average",
    "power.power.average",
    "storageAdapter.numberReadAveraged.average",
    "storageAdapter.numberWriteAveraged.average",
    "storageAdapter.read.average",
    "storageAdapter.totalReadLatency.average",
    "storageAdapter.totalWriteLatency.average",
    "storageAdapter.write.average",
    "sys.uptime.latest",
];

/// Default `collect.event_include`: the events worth a dashboard annotation next to the
/// metrics: migrations, power changes, HA, maintenance, alarms, host connection, datastore
/// changes and snapshots. Exact type names, so vCenter filters them itself (an `EventEx` by
/// its id). vCenter records a snapshot taken or removed only as a task, hence the
/// `TaskEvent:<task>` entries (docs/configuration.md); a revert also as an `EventEx`, whose
/// outcome (reverted, or failed) is the one kept here. The ids are those of vCenter 6.7 to 8.0
/// (lamw/vcenter-event-mapping; the tasks' description ids as vCenter's task list names them).
pub const DEFAULT_EVENT_TYPES: &[&str] = &[
    "AlarmStatusChangedEvent",
    "DasHostFailedEvent",
    "DasHostIsolatedEvent",
    "DatastoreCapacityIncreasedEvent",
    "DatastoreDestroyedEvent",
    "DatastoreDiscoveredEvent",
    "DatastoreRemovedOnHostEvent",
    "DrsVmMigratedEvent",
    "DrsVmPoweredOnEvent",
    "EnteredMaintenanceModeEvent",
    "EnteringMaintenanceModeEvent",
    "ExitMaintenanceModeEvent",
    "HostConnectedEvent",
    "HostConnectionLostEvent",
    "HostDisconnectedEvent",
    "HostShutdownEvent",
    "VmFailedToPowerOnEvent",
    "VmGuestRebootEvent",
    "VmGuestShutdownEvent",
    "VmMigratedEvent",
    "VmPoweredOffEvent",
    "VmPoweredOnEvent",
    "VmRelocatedEvent",
    "VmResettingEvent",
    "VmRestartedOnAlternateHostEvent",
    "VmSuspendedEvent",
    "TaskEvent:VirtualMachine.createSnapshot",
    "TaskEvent:VirtualMachine.removeAllSnapshots",
    "TaskEvent:vm.Snapshot.remove",
    "com.vmware.vc.vm.VmStateFailedToRevertToSnapshot",
    "com.vmware.vc.vm.VmStateRevertedToSnapshot",
];
