//! What the exchange publishes about who sells through it: `GET /sellers.json` (IAB Tech
//! Lab sellers.json 1.0), built from the serving set's publisher registry and the
//! `[supply_chain]` contact fields, so it always agrees with the `sid` the exchange writes
//! into supply chains.

use crate::publishers::sellers;
use crate::receive::reply::{json, Body};
use crate::state::AppState;
use http::{Response, StatusCode};

/// `GET /sellers.json`: 404 when no publisher registry is configured (there is no one
/// the exchange could list).
pub fn sellers_json(state: &AppState) -> Response<Body> {
    if state.config.publishers.is_none() {
        return json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({
                "error": "no publisher registry is configured (exchange.toml: publishers)",
                "field": "path",
            }),
        );
    }
    let serving = state.serving();
    let document = sellers::document(
        &serving.snapshot.publishers,
        &state.config.supply_chain.contact(),
    );
    json(StatusCode::OK, &document)
}
