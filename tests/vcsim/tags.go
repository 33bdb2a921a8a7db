package main

// seedTags gives the model what vcollect writes as extra tags (-seed-tags): custom attribute
// definitions and values, and guest NIC addresses. The simulator holds both natively
// (CustomFieldsManager.AddCustomFieldDef/SetField, VirtualMachine.guest.net); this only fills
// them in before the server starts, so that every test sees the same, known values:
//
//   - definitions: "owner" (VirtualMachine), "env", "cost center" and "secret" (global);
//   - every VM: owner = team-a / team-b (alternating), env = prod, cost center = "cc 42",
//     secret = s3cret; every host, cluster and datastore: env = lab;
//   - VM number i (from 1, in moid order): guest.net holds the NIC with device key 4000 (the
//     instance of its `net.*` series, see perf.go) with ipConfig addresses
//     fe80::250:56ff:fe00:i (state unknown), 10.0.0.i (preferred) and 2001:db8::i
//     (preferred), and a NIC not backed by a device (deviceConfigId -1) with 192.168.0.i.

import (
	"fmt"
	"log"
	"sort"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func seedTags() {
	cfm := simulator.Map.CustomFieldsManager()
	def := func(name, moType string) int32 {
		res, ok := cfm.AddCustomFieldDef(&types.AddCustomFieldDef{Name: name, MoType: moType}).(*methods.AddCustomFieldDefBody)
		if !ok || res.Fault_ != nil || res.Res == nil {
			log.Fatalf("adding custom field %q failed", name)
		}
		return res.Res.Returnval.Key
	}
	owner := def("owner", "VirtualMachine")
	env := def("env", "")
	cost := def("cost center", "")
	secret := def("secret", "")

	for i, vm := range sorted("VirtualMachine") {
		team := "team-a"
		if i%2 == 1 {
			team = "team-b"
		}
		setFields(vm, map[int32]string{owner: team, env: "prod", cost: "cc 42", secret: "s3cret"})
		n := i + 1
		v := vm.(*simulator.VirtualMachine)
		simulator.Map.WithLock(v, func() {
			v.Guest.Net = []types.GuestNicInfo{
				nic(4000, fmt.Sprintf("fe80::250:56ff:fe00:%d", n), "unknown",
					fmt.Sprintf("10.0.0.%d", n), "preferred",
					fmt.Sprintf("2001:db8::%d", n), "preferred"),
				nic(-1, fmt.Sprintf("192.168.0.%d", n), "preferred"),
			}
		})
	}
	for _, kind := range []string{"HostSystem", "ClusterComputeResource", "Datastore"} {
		for _, e := range sorted(kind) {
			setFields(e, map[int32]string{env: "lab"})
		}
	}
}

// sorted lists the entities of a type in moid order, so that VM i is the same every run.
func sorted(kind string) []mo.Entity {
	all := simulator.Map.All(kind)
	sort.Slice(all, func(a, b int) bool {
		return all[a].Entity().Self.Value < all[b].Entity().Self.Value
	})
	return all
}

// setFields does what CustomFieldsManager.SetField does for each value: the entity's
// customValue (and the deprecated value) get a CustomFieldStringValue.
func setFields(e mo.Entity, values map[int32]string) {
	keys := make([]int, 0, len(values))
	for k := range values {
		keys = append(keys, int(k))
	}
	sort.Ints(keys)
	me := e.Entity()
	simulator.Map.WithLock(e, func() {
		for _, k := range keys {
			v := &types.CustomFieldStringValue{
				CustomFieldValue: types.CustomFieldValue{Key: int32(k)},
				Value:            values[int32(k)],
			}
			me.CustomValue = append(me.CustomValue, v)
			me.Value = append(me.Value, v)
		}
	})
}

// nic is a guest NIC with (address, state) pairs in its ipConfig and ipAddress lists.
func nic(device int32, addrState ...string) types.GuestNicInfo {
	n := types.GuestNicInfo{Connected: true, DeviceConfigId: device, IpConfig: &types.NetIpConfigInfo{}}
	for i := 0; i+1 < len(addrState); i += 2 {
		n.IpAddress = append(n.IpAddress, addrState[i])
		n.IpConfig.IpAddress = append(n.IpConfig.IpAddress, types.NetIpConfigInfoIpAddress{
			IpAddress: addrState[i], PrefixLength: 64, State: addrState[i+1],
		})
	}
	return n
}
