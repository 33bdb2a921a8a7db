//! Triggered alarms as `vsphere_alarm` points (and their transitions as `vsphere_event`
//! points), end to end: an alarm triggered on a simulated host (tests/vcsim/alarms.go), the
//! real binary, a real InfluxDB.

mod common;

use std::time::Duration;

use common::config::{self, Vc};
use common::influx::Influx;
use common::vcsim::{SimOptions, Simulator};

const HOST: &str = "DC0_C0_H0";
const ALARM: &str = "Host connection and power state";

async fn alarm(sim: &Simulator, query: &str) {
    let base = sim.url.trim_end_matches("/sdk");
    let resp = reqwest::get(format!("{base}/vcsim/alarm?{query}"))
        .await
        .expect("the simulator's alarm endpoint");
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    assert!(status.is_success(), "vcsim alarm {query}: {status} {body}");
}

/// (status, acknowledged) of each `vsphere_alarm` point of `source` and `alarm`, oldest
/// first.
async fn points(influx: &Influx, source: &str, alarm: &str) -> Vec<(i64, bool)> {
    let q = format!(
        "SELECT \"status\", \"acknowledged\" FROM \"vsphere_alarm\" WHERE \"source\" = '{source}' AND \"alarm\" = '{alarm}'"
    );
    influx
        .rows("vsphere", &q)
        .await
        .iter()
        .filter_map(|r| Some((r[1].as_i64()?, r[2].as_bool()?)))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_red_alarm_on_a_host_is_a_red_point_and_turns_green_when_cleared() {
    let sim = Simulator::start(SimOptions {
        clusters: 1,
        hosts_per_cluster: 2,
        vms: 1,
        ..SimOptions::default()
    });
    let influx = Influx::start().await;
    influx.create_db("vsphere").await;
    alarm(
        &sim,
        &format!(
            "entity={HOST}&name={}&status=red",
            ALARM.replace(' ', "%20")
        ),
    )
    .await;
    alarm(
        &sim,
        "entity=DC0_C0_RP0_VM0&name=VM%20CPU%20usage&status=yellow&ack=1",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();

    // Off by default: not one alarm point.
    let peek = config::write(
        dir.path(),
        &[Vc::new("vc1", &sim)],
        "-",
        "[collect]\nlookback = \"1m\"\n",
    );
    let (stdout, _) = common::once_ok(&peek, &["--output", "-"]).await;
    assert!(
        stdout.contains("vsphere_host_cpu") && !stdout.contains("vsphere_alarm"),
        "{stdout}"
    );

    let collect = "[collect]\ninterval = \"2s\"\nlookback = \"1m\"\ndiscovery_interval = \"1s\"\nalarms = true\nevents = true\n";
    let cfg = config::write(dir.path(), &[Vc::new("vc1", &sim)], &influx.url(), collect);
    let log = dir.path().join("agent.log");
    let mut agent = common::spawn_agent(&cfg, Some(&log));
    let red = common::poll(
        "a red vsphere_alarm point of the host",
        Duration::from_secs(60),
        || async {
            let p = points(&influx, HOST, ALARM).await;
            (!p.is_empty()).then_some(p)
        },
    )
    .await;
    assert_eq!(red[0], (2, false), "{red:?}");
    let tags = influx.tag_keys("vsphere_alarm").await;
    for k in [
        "alarm",
        "clustername",
        "dcname",
        "esxhostname",
        "moid",
        "source",
        "vcenter",
    ] {
        assert!(tags.contains(k), "{k} missing: {tags:?}");
    }
    let vm = points(&influx, "DC0_C0_RP0_VM0", "VM CPU usage").await;
    assert_eq!(vm.first(), Some(&(1, true)), "{vm:?}");
    assert!(points(&influx, "DC0_C0_H1", ALARM).await.is_empty());

    // The transition is an event too.
    let q = format!(
        "SELECT \"message\" FROM \"vsphere_event\" WHERE \"type\" = 'AlarmStatusChangedEvent' AND \"esxhostname\" = '{HOST}'"
    );
    let messages = common::poll("the alarm's event", Duration::from_secs(30), || async {
        let rows = influx.rows("vsphere", &q).await;
        (!rows.is_empty()).then_some(rows)
    })
    .await;
    assert_eq!(
        messages[0][1],
        format!("Alarm '{ALARM}' on {HOST} changed from Green to Red"),
        "{messages:?}"
    );

    // Cleared in vCenter: gone from triggeredAlarmState; one green point follows.
    alarm(
        &sim,
        &format!(
            "entity={HOST}&name={}&status=green",
            ALARM.replace(' ', "%20")
        ),
    )
    .await;
    common::poll(
        "a green point after the alarm cleared",
        Duration::from_secs(60),
        || async {
            let p = points(&influx, HOST, ALARM).await;
            (p.last() == Some(&(0, false))).then_some(())
        },
    )
    .await;
    common::sigterm(agent.id().expect("agent pid"));
    let _ = agent.wait().await;
}
