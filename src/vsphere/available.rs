//! `QueryAvailablePerfMetric`: the counter/instance pairs vCenter has for one entity at one
//! interval. Telegraf resolves wildcard counter patterns (`vm_metric_include = ["cpu.*"]`)
//! against what a sample of entities report here, and so does vcollect.

use super::client::Client;
use super::error::Error;
use super::soap::MoRef;
use super::types::{EntityKind, MetricId};
use super::xml::Node;

impl Client {
    /// The metrics vCenter has for entity `moid` of `kind` at `interval_id` (20: realtime;
    /// the historical interval's seconds, normally 300, for the others). An empty answer is not
    /// an error: the entity has nothing at that interval.
    pub async fn available_metrics(
        &self,
        kind: EntityKind,
        moid: &str,
        interval_id: i32,
    ) -> Result<Vec<MetricId>, Error> {
        let entity = MoRef::new(kind.vim_type(), moid);
        let answer = self
            .invoke("QueryAvailablePerfMetric", |sc| {
                let mut b = String::from(r#"<QueryAvailablePerfMetric xmlns="urn:vim25">"#);
                sc.perf_manager.write(&mut b, "_this");
                entity.write(&mut b, "entity");
                b.push_str(&format!("<intervalId>{interval_id}</intervalId>"));
                b.push_str("</QueryAvailablePerfMetric>");
                b
            })
            .await?;
        parse_available(&answer).map_err(|detail| {
            self.inner
                .transport
                .malformed("QueryAvailablePerfMetric", detail)
        })
    }
}

/// The `returnval` elements (`PerfMetricId`s) of an answer.
pub(crate) fn parse_available(answer: &Node) -> Result<Vec<MetricId>, String> {
    answer
        .children_named("returnval")
        .map(|rv| {
            let id = rv.text_at(&["counterId"]).unwrap_or_default().trim();
            let counter_id = id
                .parse::<i32>()
                .map_err(|e| format!("counterId {id:?}: {e}"))?;
            let instance = rv.text_at(&["instance"]).unwrap_or_default().trim();
            Ok(MetricId {
                counter_id,
                instance: instance.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read() {
        let n = crate::vsphere::xml::parse(
            br#"<QueryAvailablePerfMetricResponse xmlns="urn:vim25"><returnval><counterId>2</counterId><instance></instance></returnval><returnval><counterId>2</counterId><instance>0</instance></returnval><returnval><counterId>143</counterId><instance>vmnic0</instance></returnval></QueryAvailablePerfMetricResponse>"#,
        )
        .unwrap();
        let ids = parse_available(&n).unwrap();
        let got: Vec<(i32, &str)> = ids
            .iter()
            .map(|m| (m.counter_id, m.instance.as_str()))
            .collect();
        assert_eq!(got, vec![(2, ""), (2, "0"), (143, "vmnic0")]);
        let empty =
            crate::vsphere::xml::parse(br#"<QueryAvailablePerfMetricResponse xmlns="urn:vim25"/>"#)
                .unwrap();
        assert!(parse_available(&empty).unwrap().is_empty());
        let bad = crate::vsphere::xml::parse(
            br#"<R><returnval><counterId>x</counterId></returnval></R>"#,
        )
        .unwrap();
        assert!(parse_available(&bad).is_err());
    }
}
