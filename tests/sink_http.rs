//! The writer against a tiny scripted HTTP server, for what InfluxDB 1.6 cannot do: the 2.x
//! write API (`/api/v2/write`, org/bucket, `Authorization: Token`), and a 503 on demand to
//! show a retry. Everything InfluxDB 1.x can show is tested against it (sink_influx.rs).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vcollect::secret::Secret;
use vcollect::sink::influx::gunzip;
use vcollect::sink::line::LineBuilder;
use vcollect::sink::{Api, Batch, HttpOptions, Outcome, Sink};

#[derive(Debug, Clone)]
struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Answers requests with the scripted (status, body) in turn, then 204s; records them.
struct Fake {
    url: String,
    seen: Arc<Mutex<Vec<Request>>>,
}

impl Fake {
    async fn start(script: Vec<(u16, &'static str)>) -> Fake {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(std::collections::VecDeque::from(script)));
        let s2 = seen.clone();
        tokio::spawn(async move {
            loop {
                let (conn, _) = l.accept().await.unwrap();
                tokio::spawn(serve(conn, s2.clone(), script.clone()));
            }
        });
        Fake { url, seen }
    }

    fn requests(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }
}

type Script = Arc<Mutex<std::collections::VecDeque<(u16, &'static str)>>>;

async fn serve(mut conn: TcpStream, seen: Arc<Mutex<Vec<Request>>>, script: Script) {
    let mut buf = Vec::new();
    loop {
        // Head.
        let head_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p;
            }
            let mut chunk = [0u8; 4096];
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap().split(' ');
        let method = first.next().unwrap().to_string();
        let target = first.next().unwrap().to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .map_or(0, |(_, v)| v.parse().unwrap());
        buf.drain(..head_end + 4);
        while buf.len() < len {
            let mut chunk = [0u8; 4096];
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Vec<u8> = buf.drain(..len).collect();
        seen.lock().unwrap().push(Request {
            method,
            target,
            headers,
            body,
        });
        let (status, text) = script.lock().unwrap().pop_front().unwrap_or((204, ""));
        let resp = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        );
        if conn.write_all(resp.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn v2(url: &str) -> HttpOptions {
    HttpOptions {
        url: url.to_string(),
        api: Api::V2 {
            org: "my org".into(),
            bucket: "vsphere/autogen".into(),
            token: Secret::new("s3cret-token"),
        },
        timeout: Duration::from_secs(5),
        gzip: true,
        max_retries: 2,
        retry_backoff: Duration::from_millis(20),
    }
}

fn one_line() -> Batch {
    let mut body = Vec::new();
    assert!(LineBuilder::new(&mut body, "vsphere_host_cpu")
        .tag("esxhostname", "esx 1")
        .field_f64("usage_average", 1.5)
        .finish(1_700_000_000));
    Batch { body, lines: 1 }
}

#[tokio::test]
async fn v2_request_has_path_query_token_and_gzip_body() {
    let fake = Fake::start(vec![]).await;
    let spool = tempfile::tempdir().unwrap();
    let sink = Sink::http(v2(&fake.url), spool.path().join("s"), 1 << 20).unwrap();
    assert_eq!(sink.write(one_line()).await, Outcome::Written);
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.target,
        "/api/v2/write?org=my+org&bucket=vsphere%2Fautogen&precision=s"
    );
    assert_eq!(r.header("authorization"), Some("Token s3cret-token"));
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(
        gunzip(&r.body).unwrap(),
        b"vsphere_host_cpu,esxhostname=esx\\ 1 usage_average=1.5 1700000000\n"
    );
    sink.shutdown().await;
}

#[tokio::test]
async fn v2_401_is_a_clear_error_and_not_retried() {
    let fake = Fake::start(vec![
        (
            401,
            r#"{"code":"unauthorized","message":"unauthorized access"}"#,
        ),
        (
            401,
            r#"{"code":"unauthorized","message":"unauthorized access"}"#,
        ),
    ])
    .await;
    let spool = tempfile::tempdir().unwrap();
    let sink = Sink::http(v2(&fake.url), spool.path().join("s"), 1 << 20).unwrap();
    let err = sink.check().await.unwrap_err();
    assert!(err.is_permanent());
    assert_eq!(
        err.to_string(),
        format!(
            "InfluxDB at {} refused the write (401): authentication failed: check token_file / \
             username+password_file (unauthorized access)",
            fake.url
        )
    );
    assert_eq!(sink.write(one_line()).await, Outcome::Dropped);
    assert_eq!(fake.requests().len(), 2, "a 401 is not retried");
    let st = sink.stats();
    assert_eq!((st.rejected_batches, st.spool_depth_batches), (1, 0));
}

#[tokio::test]
async fn a_503_then_204_is_retried_and_written() {
    let fake = Fake::start(vec![(
        503,
        r#"{"error":"engine: cache maximum memory size exceeded"}"#,
    )])
    .await;
    let spool = tempfile::tempdir().unwrap();
    let sink = Sink::http(v2(&fake.url), spool.path().join("s"), 1 << 20).unwrap();
    assert_eq!(sink.write(one_line()).await, Outcome::Written);
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].body, reqs[1].body, "the same gzip body is resent");
    let st = sink.stats();
    assert_eq!((st.written_batches, st.spooled_batches), (1, 0));
    sink.shutdown().await;
}

#[tokio::test]
async fn v1_without_gzip_sends_plain_text_with_basic_auth() {
    let fake = Fake::start(vec![]).await;
    let spool = tempfile::tempdir().unwrap();
    let mut o = v2(&fake.url);
    o.gzip = false;
    o.api = Api::V1 {
        database: "vsphere".into(),
        retention_policy: Some("one week".into()),
        username: Some("writer".into()),
        password: Some(Secret::new("pw")),
    };
    let sink = Sink::http(o, spool.path().join("s"), 1 << 20).unwrap();
    assert_eq!(sink.write(one_line()).await, Outcome::Written);
    let r = &fake.requests()[0];
    assert_eq!(r.target, "/write?db=vsphere&rp=one+week&precision=s");
    assert_eq!(r.header("content-encoding"), None);
    // base64("writer:pw")
    assert_eq!(r.header("authorization"), Some("Basic d3JpdGVyOnB3"));
    assert_eq!(r.body, one_line().body);
    sink.shutdown().await;
}

#[tokio::test]
async fn a_spooled_batch_the_endpoint_calls_malformed_is_set_aside() {
    // 1st write: 500 x3 (retries exhausted) → spooled; replay: 400 → set aside as *.rejected;
    // the next batch goes straight through.
    let fake = Fake::start(vec![
        (500, ""),
        (500, ""),
        (500, ""),
        (
            400,
            r#"{"error":"unable to parse 'x': invalid field format"}"#,
        ),
    ])
    .await;
    let spool = tempfile::tempdir().unwrap();
    let dir = spool.path().join("s");
    let sink = Sink::http(v2(&fake.url), dir.clone(), 1 << 20).unwrap();
    assert_eq!(sink.write(one_line()).await, Outcome::Spooled);
    common::poll(
        "the replay to set the batch aside",
        Duration::from_secs(10),
        || async { (sink.stats().spool_depth_batches == 0).then_some(()) },
    )
    .await;
    let rejected: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".rejected"))
        .collect();
    assert_eq!(rejected.len(), 1);
    assert_eq!(sink.write(one_line()).await, Outcome::Written);
    let st = sink.stats();
    assert_eq!(
        (st.rejected_batches, st.dropped_batches, st.written_batches),
        (1, 1, 1)
    );
    sink.shutdown().await;
}

/// An error answer with an endless body (a broken proxy): the writer reads a prefix for the
/// message and hangs up, instead of buffering until memory or the timeout runs out.
#[tokio::test]
async fn an_endless_error_body_is_cut_not_buffered() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let sent = Arc::new(Mutex::new(0usize));
    let sent2 = sent.clone();
    tokio::spawn(async move {
        let (mut conn, _) = l.accept().await.unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match conn.read(&mut b).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&b[..n]),
            }
        }
        let start = "HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n";
        if conn.write_all(start.as_bytes()).await.is_err() {
            return;
        }
        let chunk = format!("10000\r\n{}\r\n", "x".repeat(0x10000));
        // Bounded: 1 GiB at most, far more than the writer may keep.
        for _ in 0..(1 << 14) {
            if conn.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
            *sent2.lock().unwrap() += 0x10000;
        }
    });
    let spool = tempfile::tempdir().unwrap();
    let sink = Sink::http(v2(&url), spool.path().join("s"), 1 << 20).unwrap();
    let started = std::time::Instant::now();
    let err = sink.check().await.unwrap_err();
    assert!(err.to_string().contains("(400)"), "{err}");
    assert!(err.to_string().len() < 5000, "{}", err.to_string().len());
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let sent = *sent.lock().unwrap();
    assert!(
        sent < 64 << 20,
        "the writer read {sent} bytes of the error body"
    );
    sink.shutdown().await;
}
