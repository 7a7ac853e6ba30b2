//! Fuzzes `decode_request` with arbitrary bytes: it must never panic, and whatever it
//! accepts must pass `validate_request` without panicking and survive an encode/decode
//! round trip unchanged (the same ids in, the same ids out).

#![no_main]

use bidder_sdk::openrtb::{decode_request, encode_request, validate_request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(request) = decode_request(data) else {
        return;
    };
    let mut checked = request.clone();
    let _ = validate_request(&mut checked);
    let encoded = encode_request(&request);
    let again = decode_request(&encoded).expect("what the codec encodes, it decodes");
    assert_eq!(again.id, request.id);
    let ids = |r: &bidder_sdk::openrtb::BidRequest| -> Vec<String> {
        r.imp.iter().map(|imp| imp.id.clone()).collect()
    };
    assert_eq!(ids(&again), ids(&request));
});
