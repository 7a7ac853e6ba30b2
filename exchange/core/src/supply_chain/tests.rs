use super::*;
use bidder_sdk::openrtb::decode_request;
use serde_json::json;

const REGISTRY: &str = r#"
[[publishers]]
id = "pub-owner"
name = "Owner"
domains = ["owner.example"]

[[publishers]]
id = "pub-reseller"
name = "Reseller"
domains = ["resold.example"]
seller_type = "intermediary"
"#;

fn registry() -> Registry {
    Registry::parse(REGISTRY, "t").expect("valid")
}

fn request(publisher: &str, domain: &str, source: &str) -> BidRequest {
    decode_request(
        format!(
            r#"{{"id":"r","imp":[{{"id":"1","banner":{{"w":300,"h":250}}}}],
                "site":{{"domain":"{domain}","publisher":{{"id":"{publisher}"}}}}{source}}}"#
        )
        .as_bytes(),
    )
    .expect("valid request")
}

fn chain(value: Json) -> String {
    format!(r#","source":{{"schain":{value}}}"#)
}

fn out(request: &BidRequest) -> Outgoing {
    outgoing(
        &read(request),
        &registry(),
        request,
        "exchange.example",
        "a1b2",
    )
}

#[test]
fn a_direct_sale_by_the_owner_is_a_complete_chain_of_one_node() {
    let sent = out(&request("pub-owner", "owner.example", ""));
    assert_eq!(sent.status, ChainStatus::Complete);
    assert_eq!(
        sent.chain,
        json!({"complete": 1, "ver": "1.0", "nodes": [
            {"asi": "exchange.example", "sid": "pub-owner", "rid": "a1b2", "hp": 1}
        ]})
    );
}

#[test]
fn a_direct_sale_we_cannot_vouch_for_is_incomplete() {
    for (publisher, domain, why) in [
        (
            "pub-reseller",
            "resold.example",
            "an intermediary owns nothing",
        ),
        ("pub-owner", "elsewhere.example", "not its registered site"),
        ("pub-nobody", "owner.example", "not registered"),
    ] {
        let sent = out(&request(publisher, domain, ""));
        assert_eq!(sent.status, ChainStatus::Incomplete, "{why}");
        assert_eq!(sent.chain["complete"], 0, "{why}");
        assert_eq!(sent.chain["nodes"][0]["sid"], publisher, "{why}");
    }
}

#[test]
fn an_incoming_chain_is_extended_and_keeps_its_completeness() {
    for complete in [0, 1] {
        let given = json!({"complete": complete, "ver": "1.0", "ext": {"k": 1}, "nodes": [
            {"asi": "ssp.example", "sid": "77", "hp": 1, "rid": "up-1", "name": "SSP"}
        ]});
        let request = request("pub-reseller", "resold.example", &chain(given.clone()));
        let sent = out(&request);
        let nodes = sent.chain["nodes"].as_array().expect("nodes");
        assert_eq!(nodes.len(), 2);
        assert_eq!(
            nodes[0], given["nodes"][0],
            "upstream nodes forwarded as given"
        );
        assert_eq!(nodes[1]["asi"], "exchange.example");
        assert_eq!(nodes[1]["sid"], "pub-reseller");
        assert_eq!(sent.chain["complete"], complete);
        assert_eq!(sent.chain["ext"], json!({"k": 1}));
        let status = if complete == 1 {
            ChainStatus::Complete
        } else {
            ChainStatus::Incomplete
        };
        assert_eq!(sent.status, status);
    }
}

#[test]
fn the_openrtb_2_5_location_is_read_too() {
    let given = json!({"complete": 1, "ver": "1.0", "nodes": [{"asi": "ssp.example", "sid": "9"}]});
    let request = request(
        "pub-owner",
        "owner.example",
        &format!(r#","source":{{"ext":{{"schain":{given}}}}}"#),
    );
    assert!(matches!(read(&request), Upstream::Valid(_)));
    assert_eq!(
        out(&request).chain["nodes"].as_array().map(Vec::len),
        Some(2)
    );
}

#[test]
fn invalid_chains_name_their_field_and_are_never_forwarded() {
    let node = json!({"asi": "ssp.example", "sid": "1", "hp": 1});
    let cases = [
        (json!([]), "source.schain", ChainProblem::NotAnObject),
        (
            json!({"ver": "1.0", "nodes": [node]}),
            "source.schain.complete",
            ChainProblem::Complete,
        ),
        (
            json!({"complete": 2, "ver": "1.0", "nodes": [node]}),
            "source.schain.complete",
            ChainProblem::Complete,
        ),
        (
            json!({"complete": 1, "ver": "2.0", "nodes": [node]}),
            "source.schain.ver",
            ChainProblem::Version,
        ),
        (
            json!({"complete": 1, "ver": "1.0", "nodes": []}),
            "source.schain.nodes",
            ChainProblem::Nodes,
        ),
        (
            json!({"complete": 1, "ver": "1.0", "nodes": vec![node.clone(); MAX_NODES + 1]}),
            "source.schain.nodes",
            ChainProblem::TooManyNodes,
        ),
        (
            json!({"complete": 1, "ver": "1.0", "nodes": [node, "x"]}),
            "source.schain.nodes[1]",
            ChainProblem::Node,
        ),
        (
            json!({"complete": 1, "ver": "1.0", "nodes": [{"asi": "asi", "sid": "1"}]}),
            "source.schain.nodes[0].asi",
            ChainProblem::Asi,
        ),
        (
            json!({"complete": 1, "ver": "1.0", "nodes": [{"asi": "ssp.example"}]}),
            "source.schain.nodes[0].sid",
            ChainProblem::Sid,
        ),
        (
            json!({"complete": 1, "ver": "1.0", "nodes": [{"asi": "ssp.example", "sid": "x".repeat(65)}]}),
            "source.schain.nodes[0].sid",
            ChainProblem::Sid,
        ),
        (
            json!({"complete": 1, "ver": "1.0", "nodes": [{"asi": "ssp.example", "sid": "1", "hp": 2}]}),
            "source.schain.nodes[0].hp",
            ChainProblem::Hp,
        ),
        (
            json!({"complete": 1, "ver": "1.0", "nodes": [{"asi": "ssp.example", "sid": "1", "rid": 7}]}),
            "source.schain.nodes[0].rid",
            ChainProblem::Text,
        ),
    ];
    for (given, field, problem) in cases {
        let request = request("pub-owner", "owner.example", &chain(given.clone()));
        let expected = ChainError {
            field: field.to_owned(),
            problem,
        };
        assert_eq!(
            read(&request),
            Upstream::Invalid(expected.clone()),
            "{given}"
        );
        let sent = out(&request);
        assert_eq!(sent.status, ChainStatus::Invalid);
        assert_eq!(sent.problem, Some(expected));
        assert_eq!(
            sent.chain,
            json!({"complete": 0, "ver": "1.0", "nodes": [
                {"asi": "exchange.example", "sid": "pub-owner", "rid": "a1b2", "hp": 1}
            ]}),
            "only what the exchange knows: {given}"
        );
    }
}

#[test]
fn domains_are_host_names() {
    for good in ["ssp.example", "a-b.c.example", "x.io"] {
        assert!(is_domain(good), "{good}");
    }
    for bad in [
        "asi",
        "",
        ".example",
        "a..b",
        "a b.example",
        "ssp.example/x",
        "例子.cn",
    ] {
        assert!(!is_domain(bad), "{bad}");
    }
}
