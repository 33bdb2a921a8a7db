//! The vSphere client against a MOCK vCenter: a tiny HTTP server with canned answers, used
//! only for what the govmomi simulator cannot produce (malformed and truncated XML, SOAP
//! faults such as NoPermission, HTTP 503 pages, RetrievePropertiesEx paging with tokens,
//! an expired session seen by the server). Everything else is tested against the simulator
//! in vsphere_client.rs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use vcollect::secret::Secret;
use vcollect::vsphere::{
    Client, ClientOptions, EntityKind, Error, ExtraSpec, MetricId, PerfFormat, PerfQuerySpec,
    PropertyValue,
};

/// A request as the mock saw it.
#[derive(Clone, Debug)]
struct Seen {
    head: String,
    method: String,
    body: String,
}

enum Reply {
    /// Status and a SOAP (or any) body, with a correct Content-Length.
    Body(u16, &'static str, String),
    /// Raw bytes written as they are, then the connection is closed.
    Raw(Vec<u8>),
}

type Handler = Arc<dyn Fn(&Seen, usize) -> Option<Reply> + Send + Sync>;

struct Mock {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Mock {
    fn calls(&self, method: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.method == method)
            .cloned()
            .collect()
    }
}

fn envelope(inner: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>{inner}</soapenv:Body></soapenv:Envelope>"#
    )
}

fn ok(method: &str, returnval: &str) -> Option<Reply> {
    Some(Reply::Body(
        200,
        "",
        envelope(&format!(
            r#"<{method}Response xmlns="urn:vim25">{returnval}</{method}Response>"#
        )),
    ))
}

fn fault(ty: &str, msg: &str) -> Option<Reply> {
    Some(Reply::Body(
        500,
        "",
        envelope(&format!(
            r#"<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>{msg}</faultstring><detail><{ty}Fault xmlns="urn:vim25" xsi:type="{ty}"></{ty}Fault></detail></soapenv:Fault>"#
        )),
    ))
}

const SERVICE_CONTENT: &str = r#"<returnval><rootFolder type="Folder">group-d1</rootFolder><propertyCollector type="PropertyCollector">propertyCollector</propertyCollector><viewManager type="ViewManager">ViewManager</viewManager><about><fullName>Mock vCenter 6.7</fullName><apiVersion>6.7</apiVersion></about><sessionManager type="SessionManager">SessionManager</sessionManager><perfManager type="PerformanceManager">PerfMgr</perfManager></returnval>"#;

/// Answers RetrieveServiceContent and Login; `handler` answers the rest (and may override
/// those two). The second argument of the handler is how many calls of that method came before.
async fn mock(handler: Handler) -> Mock {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sdk", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let seen2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let handler = handler.clone();
            let seen = seen2.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let (head, body) = loop {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_string();
                        let len: usize = head
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse().ok())?
                            })
                            .unwrap_or(0);
                        while buf.len() < i + 4 + len {
                            let Ok(n) = sock.read(&mut chunk).await else {
                                return;
                            };
                            if n == 0 {
                                return;
                            }
                            buf.extend_from_slice(&chunk[..n]);
                        }
                        break (
                            head,
                            String::from_utf8_lossy(&buf[i + 4..i + 4 + len]).to_string(),
                        );
                    }
                };
                let method = body
                    .split("<soapenv:Body><")
                    .nth(1)
                    .and_then(|r| r.split([' ', '>']).next())
                    .unwrap_or_default()
                    .to_string();
                let req = Seen {
                    head,
                    method: method.clone(),
                    body,
                };
                let n = {
                    let mut s = seen.lock().unwrap();
                    let n = s.iter().filter(|x| x.method == method).count();
                    s.push(req.clone());
                    n
                };
                let reply = handler(&req, n).or_else(|| match method.as_str() {
                    "RetrieveServiceContent" => ok(&method, SERVICE_CONTENT),
                    "Login" => Some(Reply::Raw(
                        http(200, &format!("Set-Cookie: vmware_soap_session=\"sess-{n}\"; Path=/; HttpOnly\r\n"),
                            &envelope(r#"<LoginResponse xmlns="urn:vim25"><returnval><key>k</key><userName>user</userName></returnval></LoginResponse>"#))
                    )),
                    "Logout" | "DestroyView" => ok(&method, ""),
                    _ => fault("MethodNotFound", "not mocked"),
                });
                let bytes = match reply {
                    Some(Reply::Body(status, ctype, body)) => http(
                        status,
                        if ctype.is_empty() {
                            "Content-Type: text/xml; charset=utf-8\r\n"
                        } else {
                            ctype
                        },
                        &body,
                    ),
                    Some(Reply::Raw(b)) => b,
                    None => return,
                };
                let _ = sock.write_all(&bytes).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Mock { url, seen }
}

fn http(status: u16, headers: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} X\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn when(cond: bool, f: impl FnOnce() -> Option<Reply>) -> Option<Reply> {
    if cond {
        f()
    } else {
        None
    }
}

fn opts(url: &str) -> ClientOptions {
    ClientOptions {
        name: "vc1".into(),
        url: url.into(),
        username: "svc<metrics>@vsphere.local".into(),
        password: Secret::new("p<&>\"'"),
        ca_file: None,
        tls_thumbprint: None,
        insecure: false,
        timeout: Duration::from_secs(5),
    }
}

fn spec(moid: &str) -> PerfQuerySpec {
    PerfQuerySpec {
        kind: EntityKind::Vm,
        moid: moid.into(),
        start: Some(1_787_306_400),
        end: Some(1_787_306_460),
        max_sample: 3,
        metric_ids: Arc::from(vec![MetricId {
            counter_id: 2,
            instance: "".into(),
        }]),
        interval_id: 20,
        format: PerfFormat::Normal,
    }
}

const RV: &str = r#"<returnval xsi:type="PerfEntityMetric"><entity type="VirtualMachine">vm-1</entity><sampleInfo><timestamp>2026-08-21T10:00:20Z</timestamp><interval>20</interval></sampleInfo><value xsi:type="PerfMetricIntSeries"><id><counterId>2</counterId><instance></instance></id><value>5</value></value></returnval>"#;

/// QueryPerf through the client, collecting what reached the channel.
async fn query(url: &str) -> (Result<vcollect::vsphere::QueryStats, Error>, usize) {
    let c = Client::connect(opts(url)).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let r = c.query_perf(&[spec("vm-1"), spec("vm-2")], &tx).await;
    drop(tx);
    let mut n = 0;
    while rx.recv().await.is_some() {
        n += 1;
    }
    (r, n)
}

#[tokio::test]
async fn login_escapes_credentials_and_uses_the_session_cookie() {
    let m = mock(Arc::new(|s: &Seen, _| match s.method.as_str() {
        "CurrentTime" => ok(
            "CurrentTime",
            "<returnval>2026-08-21T10:00:00.5Z</returnval>",
        ),
        _ => None,
    }))
    .await;
    let c = Client::connect(opts(&m.url)).await.unwrap();
    assert_eq!(c.current_time().await.unwrap(), 1_787_306_400);
    let login = &m.calls("Login")[0];
    assert!(login
        .body
        .contains("<userName>svc&lt;metrics&gt;@vsphere.local</userName>"));
    assert!(
        login
            .body
            .contains("<password>p&lt;&amp;&gt;&quot;&apos;</password>"),
        "{}",
        login.body
    );
    let rsc = &m.calls("RetrieveServiceContent")[0];
    assert!(rsc
        .head
        .to_ascii_lowercase()
        .contains("soapaction: urn:vim25/6.0"));
    let ct = &m.calls("CurrentTime")[0];
    let head = ct.head.to_ascii_lowercase();
    assert!(head.contains("soapaction: urn:vim25/6.7"), "{head}");
    assert!(
        head.contains("content-type: text/xml; charset=utf-8"),
        "{head}"
    );
    assert!(
        ct.head.contains("vmware_soap_session=\"sess-0\""),
        "{}",
        ct.head
    );
    assert!(!format!("{c:?}").contains("p<&>"));
}

#[tokio::test]
async fn not_authenticated_relogs_in_and_retries_once() {
    let m = mock(Arc::new(|s: &Seen, n| match (s.method.as_str(), n) {
        ("CurrentTime", 0) => fault("NotAuthenticated", "The session is not authenticated."),
        ("CurrentTime", _) => ok("CurrentTime", "<returnval>2026-08-21T10:00:00Z</returnval>"),
        _ => None,
    }))
    .await;
    let c = Client::connect(opts(&m.url)).await.unwrap();
    assert_eq!(c.current_time().await.unwrap(), 1_787_306_400);
    assert_eq!(c.session_generation(), 2);
    let calls = m.calls("CurrentTime");
    assert_eq!(calls.len(), 2);
    assert!(
        calls[1].head.contains("sess-1"),
        "new cookie after re-login"
    );
}

#[tokio::test]
async fn invalid_login_names_user_and_vcenter() {
    let m = mock(Arc::new(|s: &Seen, _| {
        when(s.method == "Login", || {
            fault(
                "InvalidLogin",
                "Cannot complete login due to an incorrect user name or password.",
            )
        })
    }))
    .await;
    let err = Client::connect(opts(&m.url)).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "vCenter vc1: login refused for user svc<metrics>@vsphere.local: Cannot complete login due to an incorrect user name or password."
    );
}

#[tokio::test]
async fn no_permission_fault() {
    let m = mock(Arc::new(|s: &Seen, _| {
        when(s.method == "RetrievePropertiesEx", || {
            fault(
                "NoPermission",
                "Permission to perform this operation was denied.",
            )
        })
    }))
    .await;
    let c = Client::connect(opts(&m.url)).await.unwrap();
    let err = c.counters().await.unwrap_err();
    assert!(matches!(err, Error::NoPermission { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "vCenter vc1: RetrievePropertiesEx: permission denied (NoPermission): Permission to perform this operation was denied."
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn generic_fault_names_type_and_message() {
    let m = mock(Arc::new(|s: &Seen, _| {
        when(s.method == "QueryPerf", || {
            fault(
                "InvalidArgument",
                "A specified parameter was not correct: querySpec.startTime, querySpec.endTime",
            )
        })
    }))
    .await;
    let (r, n) = query(&m.url).await;
    let err = r.unwrap_err();
    assert_eq!(n, 0);
    assert_eq!(err.fault_name(), Some("InvalidArgument"));
    assert_eq!(
        err.to_string(),
        "vCenter vc1: QueryPerf failed with SOAP fault InvalidArgument: A specified parameter was not correct: querySpec.startTime, querySpec.endTime"
    );
}

#[tokio::test]
async fn managed_object_not_found_is_a_stale_view() {
    let m = mock(Arc::new(|s: &Seen, _| {
        when(s.method == "QueryPerf", || {
            fault(
                "ManagedObjectNotFound",
                "The object has already been deleted",
            )
        })
    }))
    .await;
    let (r, _) = query(&m.url).await;
    let err = r.unwrap_err();
    assert!(err.is_stale_view(), "{err:?}");
}

#[tokio::test]
async fn http_503_with_html() {
    let m = mock(Arc::new(|s: &Seen, _| {
        (s.method == "QueryPerf").then(|| {
            Reply::Body(
                503,
                "Content-Type: text/html\r\n",
                "<html>\n<head><title>503 Service Unavailable</title></head>\n<body>vpxd is starting</body></html>".into(),
            )
        })
    }))
    .await;
    let (r, _) = query(&m.url).await;
    let err = r.unwrap_err();
    assert!(matches!(err, Error::Http { status: 503, .. }), "{err:?}");
    assert!(err.is_retryable());
    let msg = err.to_string();
    assert!(
        msg.starts_with(
            "vCenter vc1: QueryPerf: HTTP 503: <html> <head><title>503 Service Unavailable"
        ),
        "{msg}"
    );
}

#[tokio::test]
async fn malformed_xml() {
    let m = mock(Arc::new(|s: &Seen, _| {
        (s.method == "QueryPerf").then(|| {
            Reply::Body(200, "", envelope(&format!(r#"<QueryPerfResponse xmlns="urn:vim25">{RV}<returnval><entity>vm-2</wrong></returnval></QueryPerfResponse>"#)))
        })
    }))
    .await;
    let (r, n) = query(&m.url).await;
    let err = r.unwrap_err();
    assert!(matches!(err, Error::Malformed { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("vCenter vc1: QueryPerf: malformed response"),
        "{err}"
    );
    assert_eq!(n, 1);
}

#[tokio::test]
async fn body_ending_mid_returnval_is_truncated() {
    let m = mock(Arc::new(|s: &Seen, _| {
        (s.method == "QueryPerf").then(|| {
            let full = envelope(&format!(
                r#"<QueryPerfResponse xmlns="urn:vim25">{RV}{}</QueryPerfResponse>"#,
                RV.replace("vm-1", "vm-2")
            ));
            let cut = full.find("vm-2").unwrap();
            Reply::Body(200, "", full[..cut].to_string())
        })
    }))
    .await;
    let (r, n) = query(&m.url).await;
    let err = r.unwrap_err();
    assert!(
        matches!(err, Error::Truncated { entities: 1, .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert!(
        err.to_string()
            .contains("truncated after 1 complete entities"),
        "{err}"
    );
    assert_eq!(n, 1);
}

#[tokio::test]
async fn connection_lost_mid_body_is_truncated() {
    let m = mock(Arc::new(|s: &Seen, _| {
        (s.method == "QueryPerf").then(|| {
            let full = envelope(&format!(
                r#"<QueryPerfResponse xmlns="urn:vim25">{RV}{}</QueryPerfResponse>"#,
                RV.replace("vm-1", "vm-2")
            ));
            let cut = full.find("vm-2").unwrap();
            // Promise the whole body, send half, close.
            let mut b = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n",
                full.len()
            )
            .into_bytes();
            b.extend_from_slice(&full.as_bytes()[..cut]);
            Reply::Raw(b)
        })
    }))
    .await;
    let (r, n) = query(&m.url).await;
    let err = r.unwrap_err();
    assert!(
        matches!(err, Error::Truncated { entities: 1, .. }),
        "{err:?}"
    );
    assert_eq!(n, 1);
}

/// (name, value, MoRef type for a MoRef value)
type Prop<'a> = (&'a str, &'a str, Option<&'a str>);

fn objects(items: &[(&str, &str, &[Prop])]) -> String {
    let mut s = String::new();
    for (ty, id, props) in items {
        s.push_str(&format!(r#"<objects><obj type="{ty}">{id}</obj>"#));
        for (name, val, t) in *props {
            match t {
                Some(t) => s.push_str(&format!(r#"<propSet><name>{name}</name><val xsi:type="ManagedObjectReference" type="{t}">{val}</val></propSet>"#)),
                None => s.push_str(&format!(r#"<propSet><name>{name}</name><val xsi:type="xsd:string">{val}</val></propSet>"#)),
            }
        }
        s.push_str("</objects>");
    }
    s
}

#[tokio::test]
async fn property_collector_paging_follows_tokens() {
    let m = mock(Arc::new(|s: &Seen, _| match s.method.as_str() {
        "CreateContainerView" => ok(
            "CreateContainerView",
            r#"<returnval type="ContainerView">session[x]view-1</returnval>"#,
        ),
        "RetrievePropertiesEx" => {
            assert!(s.body.contains("<maxObjects>"), "{}", s.body);
            ok(
                "RetrievePropertiesEx",
                &format!(
                    "<returnval><token>tok&amp;1</token>{}</returnval>",
                    objects(&[
                        (
                            "Datacenter",
                            "datacenter-2",
                            &[
                                ("name", "DC &amp; Co", None),
                                ("parent", "group-d1", Some("Folder"))
                            ]
                        ),
                        (
                            "Folder",
                            "group-h4",
                            &[
                                ("name", "host", None),
                                ("parent", "datacenter-2", Some("Datacenter"))
                            ]
                        ),
                        (
                            "ClusterComputeResource",
                            "domain-c7",
                            &[
                                ("name", "prod", None),
                                ("parent", "group-h4", Some("Folder"))
                            ]
                        ),
                    ])
                ),
            )
        }
        "ContinueRetrievePropertiesEx" if s.body.contains("<token>tok&amp;1</token>") => ok(
            "ContinueRetrievePropertiesEx",
            &format!(
                "<returnval><token>tok2</token>{}</returnval>",
                objects(&[(
                    "HostSystem",
                    "host-9",
                    &[
                        ("name", "esx9", None),
                        ("runtime.connectionState", "connected", None),
                        ("parent", "domain-c7", Some("ClusterComputeResource"))
                    ]
                ),])
            ),
        ),
        "ContinueRetrievePropertiesEx" if s.body.contains("<token>tok2</token>") => ok(
            "ContinueRetrievePropertiesEx",
            &format!(
                "<returnval>{}</returnval>",
                objects(&[(
                    "VirtualMachine",
                    "vm-1",
                    &[
                        ("name", "web", None),
                        ("runtime.powerState", "poweredOn", None),
                        ("runtime.host", "host-9", Some("HostSystem")),
                        ("config.guestId", "centos7_64Guest", None)
                    ]
                ),])
            ),
        ),
        _ => None,
    }))
    .await;
    let c = Client::connect(opts(&m.url)).await.unwrap();
    let inv = c.inventory().await.unwrap();
    // The VM, the host, and the datacenter and cluster (historical kinds) from the pages.
    let mut kinds: Vec<_> = inv.iter().map(|e| e.kind).collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            EntityKind::Vm,
            EntityKind::Host,
            EntityKind::Cluster,
            EntityKind::Datacenter
        ]
    );
    let vm = inv.iter().find(|e| e.kind == EntityKind::Vm).unwrap();
    assert_eq!(vm.name, "web");
    assert_eq!(vm.esxhostname.as_deref(), Some("esx9"));
    assert_eq!(vm.clustername.as_deref(), Some("prod"));
    assert_eq!(vm.dcname.as_deref(), Some("DC & Co"));
    assert_eq!(vm.guest.as_deref(), Some("centos7_64"));
    assert_eq!(m.calls("ContinueRetrievePropertiesEx").len(), 2);
    let destroy = m.calls("DestroyView");
    assert_eq!(destroy.len(), 1);
    assert!(destroy[0].body.contains("session[x]view-1"));
}

#[tokio::test]
async fn stale_view_during_inventory_is_recreated() {
    let m = mock(Arc::new(|s: &Seen, n| match (s.method.as_str(), n) {
        ("CreateContainerView", _) => ok(
            "CreateContainerView",
            r#"<returnval type="ContainerView">v</returnval>"#,
        ),
        ("RetrievePropertiesEx", 0) => fault(
            "ManagedObjectNotFound",
            "The object 'vim.view.ContainerView:v' has already been deleted",
        ),
        ("RetrievePropertiesEx", _) => ok(
            "RetrievePropertiesEx",
            &format!(
                "<returnval>{}</returnval>",
                objects(&[(
                    "HostSystem",
                    "host-1",
                    &[
                        ("name", "esx1", None),
                        ("runtime.connectionState", "connected", None)
                    ]
                ),])
            ),
        ),
        _ => None,
    }))
    .await;
    let c = Client::connect(opts(&m.url)).await.unwrap();
    let inv = c.inventory().await.unwrap();
    assert_eq!(inv.len(), 1);
    assert_eq!(m.calls("CreateContainerView").len(), 2);
}

/// The collector shares one client between tasks and spawns its calls.
#[allow(dead_code)]
fn client_and_futures_are_send() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: T) {}
    fn client() -> Client {
        unimplemented!("only type-checked")
    }
    let c = client();
    send_sync(&c);
    let (tx, _rx) = tokio::sync::mpsc::channel(1);
    send(async move {
        let _ = c.inventory().await;
        let _ = c.counters().await;
        let _ = c.current_time().await;
        let _ = c.query_perf(&[], &tx).await;
        c.logout().await;
    });
}

// ---- hostile and broken answers (issue 12) ----

/// An HTML error page from a broken proxy, nested 8,000 deep (56 KB): it used to overflow a
/// tokio worker's stack when the parsed tree was dropped, aborting the whole process.
#[tokio::test]
async fn deeply_nested_error_body_is_an_http_error_not_an_abort() {
    let m = mock(Arc::new(|s: &Seen, _| {
        (s.method == "QueryPerf").then(|| {
            let n = 8_000;
            Reply::Body(
                502,
                "Content-Type: text/html\r\n",
                format!("{}{}", "<div>".repeat(n), "</div>".repeat(n)),
            )
        })
    }))
    .await;
    let (r, _) = query(&m.url).await;
    let err = r.unwrap_err();
    assert!(matches!(err, Error::Http { status: 502, .. }), "{err:?}");
}

/// The same nesting in a small 200 answer (ServiceContent) is a malformed answer.
#[tokio::test]
async fn deeply_nested_answer_is_malformed_not_an_abort() {
    let m = mock(Arc::new(|s: &Seen, _| {
        (s.method == "RetrieveServiceContent").then(|| {
            let n = 8_000;
            let deep = format!("{}{}", "<x>".repeat(n), "</x>".repeat(n));
            ok(
                "RetrieveServiceContent",
                &format!("<returnval>{deep}</returnval>"),
            )
            .unwrap()
        })
    }))
    .await;
    let err = Client::connect(opts(&m.url)).await.unwrap_err();
    assert!(matches!(err, Error::Malformed { .. }), "{err:?}");
    assert!(err.to_string().contains("nested deeper"), "{err}");
    assert!(!err.is_retryable());
}

/// A QueryPerf answer that is a SOAP fault, or not SOAP at all, is reported as what it is,
/// not as a truncation (which would be retried as if the network had dropped).
#[tokio::test]
async fn a_fault_or_garbage_ending_the_stream_is_not_a_truncation() {
    let m = mock(Arc::new(|s: &Seen, n| {
        (s.method == "QueryPerf").then(|| {
            let body = if n == 0 {
                envelope(r#"<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>bad spec</faultstring><detail><InvalidArgumentFault xmlns="urn:vim25" xsi:type="InvalidArgument"/></detail></soapenv:Fault>"#)
            } else {
                "<a/>".to_string()
            };
            Reply::Body(200, "", body)
        })
    }))
    .await;
    let (r, _) = query(&m.url).await;
    let err = r.unwrap_err();
    assert!(
        matches!(&err, Error::Fault { fault, .. } if fault == "InvalidArgument"),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    let (r, _) = query(&m.url).await;
    let err = r.unwrap_err();
    assert!(matches!(err, Error::Malformed { .. }), "{err:?}");
    assert!(!err.is_retryable());
}

/// Extras are read in the one retrieval, and only when asked for: the default discovery's
/// request names no extra path and not the CustomFieldsManager.
#[tokio::test]
async fn extras_are_read_in_the_same_retrieval_and_only_when_asked() {
    let m = mock(Arc::new(|s: &Seen, _| match s.method.as_str() {
        "RetrieveServiceContent" => ok(
            "RetrieveServiceContent",
            &SERVICE_CONTENT.replace(
                "</returnval>",
                r#"<customFieldsManager type="CustomFieldsManager">CustomFieldsManager</customFieldsManager></returnval>"#,
            ),
        ),
        "CreateContainerView" => ok(
            "CreateContainerView",
            r#"<returnval type="ContainerView">v</returnval>"#,
        ),
        "RetrievePropertiesEx" => ok(
            "RetrievePropertiesEx",
            r#"<returnval><objects><obj type="HostSystem">host-9</obj><propSet><name>name</name><val xsi:type="xsd:string">esx9</val></propSet><propSet><name>customValue</name><val xsi:type="ArrayOfCustomFieldValue"><CustomFieldValue xsi:type="CustomFieldStringValue"><key>3</key><value>lab</value></CustomFieldValue></val></propSet><propSet><name>summary.overallStatus</name><val xsi:type="ManagedEntityStatus">green</val></propSet></objects><objects><obj type="CustomFieldsManager">CustomFieldsManager</obj><propSet><name>field</name><val xsi:type="ArrayOfCustomFieldDef"><CustomFieldDef><key>3</key><name>env</name></CustomFieldDef></val></propSet></objects></returnval>"#,
        ),
        _ => None,
    }))
    .await;
    let c = Client::connect(opts(&m.url)).await.unwrap();
    c.discover().await.unwrap();
    let plain = &m.calls("RetrievePropertiesEx")[0].body;
    for absent in [
        "customValue",
        "guest.net",
        "CustomFieldsManager",
        "overallStatus",
    ] {
        assert!(!plain.contains(absent), "{absent} in {plain}");
    }

    let spec = ExtraSpec {
        custom_attributes: true,
        guest_net: true,
        properties: [(EntityKind::Host, vec!["summary.overallStatus".to_string()])].into(),
        alarms: false,
    };
    let found = c.discover_with(&spec).await.unwrap();
    let calls = m.calls("RetrievePropertiesEx");
    assert_eq!(calls.len(), 2, "one retrieval per discovery");
    let body = &calls[1].body;
    assert!(
        body.contains("<type>VirtualMachine</type><pathSet>name</pathSet>")
            && body
                .contains("<pathSet>customValue</pathSet><pathSet>guest.net</pathSet></propSet>"),
        "{body}"
    );
    assert!(
        body.contains(
            "<pathSet>customValue</pathSet><pathSet>summary.overallStatus</pathSet></propSet>"
        ),
        "{body}"
    );
    assert!(
        body.contains(r#"<propSet><type>CustomFieldsManager</type><pathSet>field</pathSet></propSet>"#)
            && body.contains(r#"<objectSet><obj type="CustomFieldsManager">CustomFieldsManager</obj><skip>false</skip></objectSet>"#),
        "{body}"
    );
    let host = &found.entities[0];
    assert_eq!(
        host.extras.attributes,
        vec![("env".to_string(), "lab".to_string())]
    );
    assert_eq!(
        host.extras.properties,
        vec![(
            "summary.overallStatus".to_string(),
            PropertyValue::Text("green".into())
        )]
    );
}

/// vCenter refuses a whole retrieval for one path that is not a property of its type (the
/// simulator ignores such a path): the error says which keys hold the paths.
#[tokio::test]
async fn an_unknown_property_path_names_the_configuration_key() {
    let m = mock(Arc::new(|s: &Seen, _| match s.method.as_str() {
        "CreateContainerView" => ok(
            "CreateContainerView",
            r#"<returnval type="ContainerView">v</returnval>"#,
        ),
        "RetrievePropertiesEx" => fault("InvalidProperty", "no.such.property"),
        _ => None,
    }))
    .await;
    let c = Client::connect(opts(&m.url)).await.unwrap();
    let spec = ExtraSpec {
        properties: [(EntityKind::Host, vec!["no.such.property".to_string()])].into(),
        ..ExtraSpec::default()
    };
    let err = c.discover_with(&spec).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("vc1")
            && msg.contains("InvalidProperty: no.such.property")
            && msg.contains("collect.<kind>_property_include"),
        "{msg}"
    );
    assert!(!err.is_retryable());
    // Without configured properties the fault is vCenter's own, unchanged.
    let err = c.discover().await.unwrap_err();
    assert_eq!(err.fault_name(), Some("InvalidProperty"));
}
