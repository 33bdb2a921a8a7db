//! vCenter's advanced settings, read through the OptionManager (`QueryOptions`): the limits
//! an administrator set on the server, which a collector must obey rather than discover by
//! being refused.

use super::error::Error;
use super::xml;
use super::Client;

/// The setting that bounds the metrics (entity x metric id) of one QueryPerf call on
/// historical statistics (VMware KB 2107096; Telegraf's README).
pub const MAX_QUERY_METRICS_OPTION: &str = "config.vpxd.stats.maxQueryMetrics";

impl Client {
    /// The integer value of the advanced setting `name`: `Ok(None)` when the server has no
    /// such setting (the `InvalidName` fault: vCenter then applies its built-in default) or no
    /// OptionManager (some ESXi), or its value is not an integer.
    pub async fn option_int(&self, name: &str) -> Result<Option<i64>, Error> {
        let Some(setting) = self.session().sc.setting.clone() else {
            return Ok(None);
        };
        let answer = self
            .invoke("QueryOptions", |sc| {
                let mut b = String::from(r#"<QueryOptions xmlns="urn:vim25">"#);
                sc.setting
                    .as_ref()
                    .unwrap_or(&setting)
                    .write(&mut b, "_this");
                b.push_str("<name>");
                b.push_str(&xml::escape(name));
                b.push_str("</name></QueryOptions>");
                b
            })
            .await;
        let answer = match answer {
            Ok(a) => a,
            Err(e) if e.fault_name() == Some("InvalidName") => return Ok(None),
            Err(e) => return Err(e),
        };
        let value = answer
            .children
            .iter()
            .filter(|rv| rv.name == "returnval")
            .find(|rv| rv.text_at(&["key"]).map(str::trim) == Some(name))
            .and_then(|rv| rv.text_at(&["value"]))
            .and_then(|v| v.trim().parse::<i64>().ok());
        Ok(value)
    }
}
