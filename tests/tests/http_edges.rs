//! HTTP behaviour at the edges: caps, timeouts, methods, encodings, keep-alive, probes.

use http::Method;
use tests::{read_answer, Client, TestExchange};
use tokio::io::AsyncWriteExt;

const BANNER: &str = r#"{"id":"r1","imp":[{"id":"1","banner":{"w":300,"h":250}}],"device":{"devicetype":4,"os":"iOS","geo":{"country":"CHN"}}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_get_413_with_or_without_content_length() {
    let exchange = TestExchange::builder()
        .config("[limits]\nmax_body_bytes = 2048")
        .start()
        .await;
    let client = Client::new();
    let big = format!(
        r#"{{"id":"r","imp":[{{"id":"1","banner":{{}},"tagid":"{}"}}]}}"#,
        "x".repeat(4096)
    );
    let reply = client
        .post(&exchange.url("/openrtb2/auction"), big.clone())
        .await;
    assert_eq!(reply.status, 413);
    assert_eq!(reply.json()["field"], "body");
    // Chunked, no Content-Length: the cap applies while reading.
    let mut stream = tokio::net::TcpStream::connect(exchange.addr)
        .await
        .expect("connect");
    let head = "POST /openrtb2/auction HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n";
    stream.write_all(head.as_bytes()).await.expect("write");
    for chunk in big.as_bytes().chunks(512) {
        let _ = stream
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await;
        let _ = stream.write_all(chunk).await;
        let _ = stream.write_all(b"\r\n").await;
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let answer = read_answer(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(
        exchange
            .state
            .metrics
            .outcome_count(exchange::metrics::Outcome::PayloadTooLarge),
        2
    );
    exchange.shutdown().await;
}

/// Writes `head` and then all of `body` on a fresh connection before reading anything
/// (as Python's `http.client` does); the answer's status line, or the error met.
async fn write_all_then_read(exchange: &TestExchange, head: &str, body: &[u8]) -> String {
    use tokio::io::AsyncReadExt;
    let mut stream = tokio::net::TcpStream::connect(exchange.addr)
        .await
        .expect("connect");
    let written = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body).await
    };
    let written = tokio::time::timeout(std::time::Duration::from_secs(10), written)
        .await
        .expect("the server reads (or drops) the body within 10 s");
    if let Err(error) = written {
        return format!("write failed: {error}");
    }
    let mut answer = vec![0u8; 4096];
    match tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut answer)).await {
        Ok(Ok(n)) => String::from_utf8_lossy(&answer[..n])
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned(),
        Ok(Err(error)) => format!("read failed: {error}"),
        Err(_) => "no answer within 5 s".to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_writes_4_mib_before_reading_gets_the_413() {
    let exchange = TestExchange::builder().start().await;
    let body = vec![b'x'; 4 * 1024 * 1024];
    // Declared: refused from the header, the body drained in the background.
    let head = format!(
        "POST /openrtb2/auction HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let status = write_all_then_read(&exchange, &head, &body).await;
    assert_eq!(status, "HTTP/1.1 413 Payload Too Large");
    // Not declared (one big chunk): refused past the cap while reading.
    let head = "POST /openrtb2/auction HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n";
    let mut chunked = format!("{:x}\r\n", body.len()).into_bytes();
    chunked.extend_from_slice(&body);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    let status = write_all_then_read(&exchange, head, &chunked).await;
    assert_eq!(status, "HTTP/1.1 413 Payload Too Large");
    // An encoding the exchange does not take, with a large body: 415, not a reset.
    let head = format!(
        "POST /openrtb2/auction HTTP/1.1\r\nhost: x\r\ncontent-encoding: br\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let status = write_all_then_read(&exchange, &head, &body).await;
    assert_eq!(status, "HTTP/1.1 415 Unsupported Media Type");
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_arrives_gets_408_not_a_hang() {
    let exchange = TestExchange::builder()
        .config("[limits]\nbody_read_timeout_ms = 200")
        .start()
        .await;
    let mut stream = tokio::net::TcpStream::connect(exchange.addr)
        .await
        .expect("connect");
    let head = "POST /openrtb2/auction HTTP/1.1\r\nhost: x\r\ncontent-length: 500\r\n\r\n{\"id\":";
    stream.write_all(head.as_bytes()).await.expect("write");
    let answer = read_answer(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_paths_and_encodings_are_answered_cleanly() {
    let exchange = TestExchange::builder().start().await;
    let client = Client::new();
    let reply = client.get(&exchange.url("/openrtb2/auction")).await;
    assert_eq!(reply.status, 405);
    assert_eq!(
        reply.headers.get("allow").map(|v| v.as_bytes()),
        Some(&b"POST"[..])
    );
    assert_eq!(client.get(&exchange.url("/nope")).await.status, 404);
    // gzip bodies (Prebid.js `endpointCompression`) are read, bounded; others are 415.
    let send = |encoding: &'static str, body: Vec<u8>| {
        let client = &client;
        let url = exchange.url("/openrtb2/auction");
        async move {
            client
                .send(Method::POST, &url, &[("content-encoding", encoding)], body)
                .await
        }
    };
    let gzipped = bidder_sdk::gzip::gzip(BANNER.as_bytes());
    assert!(matches!(
        send("gzip", gzipped).await.status.as_u16(),
        200 | 204
    ));
    let not_gzip = send("gzip", BANNER.as_bytes().to_vec()).await;
    assert_eq!(not_gzip.status, 400);
    assert_eq!(not_gzip.json()["field"], "body");
    // A small body that inflates past the body cap (256 KiB): 413, nothing allocated past it.
    let bomb = bidder_sdk::gzip::gzip(&vec![b' '; 8 * 1024 * 1024]);
    assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
    assert_eq!(send("gzip", bomb).await.status, 413);
    assert_eq!(send("br", BANNER.as_bytes().to_vec()).await.status, 415);
    // Prebid.js 10+ marks its gzip body with `?gzip=1` instead (a browser's simple CORS
    // request cannot set Content-Encoding); the bomb is bounded the same way.
    let by_query = |body: Vec<u8>| {
        let client = &client;
        let url = exchange.url("/openrtb2/auction?gzip=1");
        async move {
            client
                .send(Method::POST, &url, &[("content-type", "text/plain")], body)
                .await
        }
    };
    let gzipped = bidder_sdk::gzip::gzip(BANNER.as_bytes());
    assert!(matches!(by_query(gzipped).await.status.as_u16(), 200 | 204));
    assert_eq!(by_query(BANNER.as_bytes().to_vec()).await.status, 400);
    let bomb = bidder_sdk::gzip::gzip(&vec![b' '; 8 * 1024 * 1024]);
    assert_eq!(by_query(bomb).await.status, 413);
    for garbage in [
        &b""[..],
        b"\xff\xfe\x00",
        b"[]",
        b"null",
        b"{\"id\":\"r\",\"imp\":[{\"id\":\"1\",\"banner\":{}}]}}",
    ] {
        let reply = client
            .post(&exchange.url("/openrtb2/auction"), garbage.to_vec())
            .await;
        assert_eq!(reply.status, 400, "{garbage:?}");
        assert!(reply.json()["error"].is_string());
    }
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_and_metrics_report_the_snapshot_and_outcomes() {
    let exchange = TestExchange::builder().start().await;
    let client = Client::new();
    assert_eq!(client.get(&exchange.url("/healthz")).await.status, 200);
    let ready = client.get(&exchange.url("/readyz")).await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["campaigns"], 64);
    let filled = client
        .post(&exchange.url("/openrtb2/auction"), BANNER)
        .await;
    assert_eq!(filled.status, 200);
    let unfillable = r#"{"id":"r2","imp":[{"id":"1","banner":{"w":1,"h":1}}]}"#;
    let reply = client
        .post(&exchange.url("/openrtb2/auction"), unfillable)
        .await;
    assert_eq!(reply.status, 204);
    assert!(reply.body.is_empty());
    let _ = client.post(&exchange.url("/openrtb2/auction"), "{").await;
    let metrics =
        String::from_utf8_lossy(&client.get(&exchange.url("/metrics")).await.body).into_owned();
    for line in [
        "exchange_requests_total{outcome=\"filled\"} 1",
        "exchange_requests_total{outcome=\"no_fill\"} 1",
        "exchange_requests_total{outcome=\"bad_request\"} 1",
        "exchange_imp_no_bids_total{reason=\"no_eligible_campaign\"} 1",
        "exchange_snapshot_version 1",
        "exchange_campaigns 64",
    ] {
        assert!(metrics.contains(line), "missing {line} in\n{metrics}");
    }
    // Latency as a histogram (buckets sum across nodes), not lifetime quantiles.
    assert!(metrics.contains("exchange_decision_latency_seconds_bucket{le=\"+Inf\"}"));
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_serves_many_requests_on_one_connection() {
    let exchange = TestExchange::builder().start().await;
    let mut stream = tokio::net::TcpStream::connect(exchange.addr)
        .await
        .expect("connect");
    let request = format!(
        "POST /openrtb2/auction HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{BANNER}",
        BANNER.len()
    );
    for _ in 0..20 {
        stream.write_all(request.as_bytes()).await.expect("write");
        assert!(read_answer(&mut stream).await.starts_with("HTTP/1.1 200"));
    }
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_debug_view_explains_every_campaign_only_when_allowed() {
    let exchange = TestExchange::builder().start().await;
    let client = Client::new();
    let reply = client
        .post(&exchange.url("/openrtb2/auction?debug=1"), BANNER)
        .await;
    let debug = &reply.json()["ext"]["debug"];
    let imp = &debug["imps"][0];
    let rows = imp["candidates"].as_array().expect("rows");
    assert_eq!(rows.len(), 64, "every campaign is listed");
    assert_eq!(rows[0]["status"], "won");
    assert!(
        rows.iter().any(|r| r["reason"] == "inactive"),
        "the paused sample campaign"
    );
    assert!(
        rows.iter().any(|r| r["reason"] == "flight"),
        "the ended flash sale"
    );
    let scored: Vec<f64> = rows.iter().filter_map(|r| r["ecpm"].as_f64()).collect();
    assert!(scored.windows(2).all(|w| w[0] >= w[1]), "best first");
    // In-body flag works too; with debug off in the config neither does anything.
    let in_body = BANNER.replacen("{\"id\":\"r1\"", "{\"id\":\"r1\",\"ext\":{\"debug\":1}", 1);
    assert!(client
        .post(&exchange.url("/openrtb2/auction"), in_body.clone())
        .await
        .json()["ext"]["debug"]
        .is_object());
    exchange.shutdown().await;
    let quiet = TestExchange::builder().debug(false).start().await;
    let reply = client
        .post(&quiet.url("/openrtb2/auction?debug=1"), in_body)
        .await;
    assert!(reply.json().get("ext").is_none());
    quiet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lone_surrogate_escapes_are_refused_not_turned_into_other_ids() {
    let exchange = TestExchange::builder().start().await;
    let client = Client::new();
    let request = |imp_id: &str| {
        format!(
            r#"{{"id":"r1","imp":[{{"id":"{imp_id}","banner":{{"w":300,"h":250}}}}],"device":{{"devicetype":4,"geo":{{"country":"CHN"}}}}}}"#
        )
    };
    // Each of these used to be answered 200 with "impid":"\u0000" (or "A\u0000B").
    for imp_id in [r"\ud800", r"A\ud800B", r"\udfff", r"\ud800\u0041"] {
        let reply = client
            .post(&exchange.url("/openrtb2/auction"), request(imp_id))
            .await;
        assert_eq!(reply.status, 400, "{imp_id}");
        let error = reply.json();
        assert_eq!(error["field"], "imp[0].id", "{imp_id}: {error}");
    }
    // A whole pair is an ordinary character: the bid names the imp id as sent.
    let reply = client
        .post(&exchange.url("/openrtb2/auction"), request(r"\ud83d\ude00"))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["seatbid"][0]["bid"][0]["impid"], "😀");
    exchange.shutdown().await;
}

/// Whether the server closes `stream` (EOF or reset) within `within`; whatever it sends
/// before (an HTTP/2 SETTINGS frame) is read and dropped.
async fn closed_within(stream: &mut tokio::net::TcpStream, within: std::time::Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buffer = [0u8; 1024];
    let drained = async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(within, drained).await.is_ok()
}

fn metric(metrics: &str, line_start: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(line_start))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("{line_start} in\n{metrics}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_and_bare_h2_prefaces_are_closed() {
    let exchange = TestExchange::builder()
        .config("[limits]\nfirst_byte_timeout_ms = 200\nidle_timeout_ms = 400")
        .start()
        .await;
    let long = std::time::Duration::from_secs(10);
    // Never a byte: closed after the first-byte timeout (it used to stay open for good).
    let mut silent = tokio::net::TcpStream::connect(exchange.addr)
        .await
        .expect("connect");
    assert!(
        closed_within(&mut silent, long).await,
        "a silent connection stayed open"
    );
    // Only the HTTP/2 preface, then nothing: closed after the idle timeout.
    let mut preface = tokio::net::TcpStream::connect(exchange.addr)
        .await
        .expect("connect");
    preface
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .expect("write");
    assert!(
        closed_within(&mut preface, long).await,
        "a bare h2 preface stayed open"
    );
    // An HTTP/1.1 keep-alive connection that goes quiet after a request: closed too.
    let mut quiet = tokio::net::TcpStream::connect(exchange.addr)
        .await
        .expect("connect");
    quiet
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    assert!(read_answer(&mut quiet).await.starts_with("HTTP/1.1 200"));
    assert!(
        closed_within(&mut quiet, long).await,
        "an idle keep-alive stayed open"
    );
    let metrics = Client::new().get(&exchange.url("/metrics")).await.body;
    let metrics = String::from_utf8_lossy(&metrics).into_owned();
    assert!(
        metric(
            &metrics,
            "exchange_connections_total{event=\"first_byte_timeout\"}"
        ) >= 1
    );
    assert!(
        metric(
            &metrics,
            "exchange_connections_total{event=\"idle_timeout\"}"
        ) >= 1
    );
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_cap_silent_connections_cannot_starve_real_ones() {
    let exchange = TestExchange::builder()
        .config("[limits]\nmax_connections = 20\nfirst_byte_timeout_ms = 300")
        .start()
        .await;
    let mut silent = Vec::new();
    for _ in 0..100 {
        silent.push(
            tokio::net::TcpStream::connect(exchange.addr)
                .await
                .expect("connect"),
        );
    }
    assert!(exchange.state.connections.open() <= 20);
    // A real request queues behind them and is served once silent ones time out.
    let reply = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        Client::new().post(&exchange.url("/openrtb2/auction"), BANNER),
    )
    .await
    .expect("a real request is served while 100 silent connections hold the cap");
    assert_eq!(reply.status, 200);
    assert!(exchange.state.connections.open() <= 20);
    let metrics = Client::new().get(&exchange.url("/metrics")).await.body;
    let metrics = String::from_utf8_lossy(&metrics).into_owned();
    assert_eq!(metric(&metrics, "exchange_connections_limit "), 20);
    assert!(
        metric(
            &metrics,
            "exchange_connections_total{event=\"waited_at_limit\"}"
        ) >= 1
    );
    assert!(metric(&metrics, "exchange_connections_open ") <= 20);
    drop(silent);
    exchange.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_admin_can_live_on_their_own_listener() {
    let exchange = TestExchange::builder().admin_listener().start().await;
    let admin = exchange.admin_addr.expect("an admin listener");
    let client = Client::new();
    let public = |path: &str| exchange.url(path);
    let private = |path: &str| format!("http://{admin}{path}");
    // The public port: auctions and probes, not the operator's endpoints.
    assert_eq!(client.get(&public("/metrics")).await.status, 404);
    let reload = client
        .send(
            Method::POST,
            &public("/admin/reload"),
            &[("authorization", "Bearer test-token")],
            bytes::Bytes::new(),
        )
        .await;
    assert_eq!(reload.status, 404);
    assert_eq!(client.get(&public("/healthz")).await.status, 200);
    let auction = client.post(&public("/openrtb2/auction"), BANNER).await;
    assert!(
        matches!(auction.status.as_u16(), 200 | 204),
        "{}",
        auction.status
    );
    // The admin port: metrics, the admin API and probes, no auctions.
    let metrics = client.get(&private("/metrics")).await;
    assert_eq!(metrics.status, 200);
    assert!(String::from_utf8_lossy(&metrics.body).contains("exchange_requests_total"));
    let reload = client
        .send(
            Method::POST,
            &private("/admin/reload"),
            &[("authorization", "Bearer test-token")],
            bytes::Bytes::new(),
        )
        .await;
    assert_eq!(reload.status, 200);
    assert_eq!(client.get(&private("/readyz")).await.status, 200);
    assert_eq!(
        client
            .post(&private("/openrtb2/auction"), BANNER)
            .await
            .status,
        404
    );
    exchange.shutdown().await;
}
