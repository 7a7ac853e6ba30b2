//! The `bidder-check` command against bidders served on loopback by this test.

use bidder_sdk::openrtb::{Bid, BidRequest, BidResponse, SeatBid};
use bidder_sdk::{serve_with, Answer, BidContext, Bidder, ServeOptions};
use std::process::Command;

/// Bids correctly on every imp, or (when `sloppy`) on an imp that does not exist.
struct TestBidder {
    sloppy: bool,
}

impl Bidder for TestBidder {
    async fn bid(&self, request: &BidRequest, _context: &BidContext) -> Answer {
        let bids = request
            .imp
            .iter()
            .map(|imp| Bid {
                id: format!("b-{}", imp.id),
                impid: if self.sloppy {
                    "nope".into()
                } else {
                    imp.id.clone()
                },
                price: 0.8,
                crid: Some("c".into()),
                adm: Some("<i>ad</i>".into()),
                ..Bid::default()
            })
            .collect();
        let response = BidResponse {
            id: request.id.clone(),
            seatbid: vec![SeatBid {
                bid: bids,
                ..SeatBid::default()
            }],
            cur: request.cur.first().cloned(),
            ..BidResponse::default()
        };
        if self.sloppy {
            // Bypass the host's own checks, as a DSP written without the SDK would.
            Answer::Raw {
                status: 200,
                body: bidder_sdk::openrtb::encode_response(&response),
            }
        } else {
            Answer::Bid(response)
        }
    }
}

fn check(endpoint: &str, corpus: bool) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bidder-check"));
    command.args(["--endpoint", endpoint]);
    let shared =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/openrtb");
    if corpus {
        assert!(
            shared.is_dir(),
            "conformance corpus missing at {}",
            shared.display()
        );
        command.arg("--corpus").arg(&shared);
    }
    let output = command.output().expect("run bidder-check");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_a_correct_bidder_and_fails_a_sloppy_one() {
    let mut endpoints = Vec::new();
    for sloppy in [false, true] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        endpoints.push(format!(
            "http://{}/bid",
            listener.local_addr().expect("addr")
        ));
        tokio::spawn(serve_with(
            TestBidder { sloppy },
            listener,
            ServeOptions::default(),
            std::future::pending(),
        ));
    }
    let good = endpoints[0].clone();
    let (passed, report) = tokio::task::spawn_blocking(move || check(&good, true))
        .await
        .expect("join");
    assert!(passed, "{report}");
    assert!(
        report.contains("corpus/requests/") && report.contains("PASS"),
        "{report}"
    );
    let sloppy = endpoints[1].clone();
    let (passed, report) = tokio::task::spawn_blocking(move || check(&sloppy, false))
        .await
        .expect("join");
    assert!(!passed, "{report}");
    assert!(
        report.contains("unknown_imp") && report.contains("FAIL"),
        "{report}"
    );
}
