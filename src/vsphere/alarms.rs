//! The names of triggered alarms. An entity's `triggeredAlarmState` (read in the inventory's
//! retrieval, see `extras`) names each alarm by its moid only; their `info.name` is read
//! here in one more retrieval per discovery, for the distinct alarms found triggered (none:
//! no call).

use std::collections::{BTreeSet, HashMap};

use super::client::Client;
use super::property::{object_spec, prop_spec};
use super::soap::MoRef;
use super::types::Entity;

impl Client {
    /// Names the triggered alarms of `entities` (`info.name`). An alarm that cannot be read
    /// (deleted since, no privilege) keeps its moid as its name: logged, not an error, so an
    /// alarm state is never lost for want of a name.
    pub(crate) async fn name_alarms(&self, entities: &mut [Entity]) {
        let alarms: BTreeSet<String> = entities
            .iter()
            .flat_map(|e| e.extras.alarms.iter().map(|a| a.alarm.clone()))
            .collect();
        if alarms.is_empty() {
            return;
        }
        let read = self
            .retrieve_all(|_| {
                let mut s = String::new();
                prop_spec(&mut s, "Alarm", &["info.name"]);
                for a in &alarms {
                    object_spec(&mut s, &MoRef::new("Alarm", a));
                }
                s
            })
            .await;
        let names: HashMap<String, String> = match read {
            Ok(objects) => objects
                .iter()
                .filter_map(|o| Some((o.obj.value.clone(), o.text("info.name")?.to_string())))
                .collect(),
            Err(e) => {
                tracing::warn!(vcenter = %self.name(), error = %e, alarms = alarms.len(), "reading the names of triggered alarms failed: written under their moid");
                HashMap::new()
            }
        };
        for e in entities {
            for a in &mut e.extras.alarms {
                if let Some(n) = names.get(&a.alarm).filter(|n| !n.is_empty()) {
                    a.name = n.clone();
                }
            }
        }
    }
}
