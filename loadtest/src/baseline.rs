//! `loadtest baseline`: the ceiling the exchange is compared against. A bare hyper server
//! on the same runtime and connection settings as the exchange (tokio multi-thread,
//! hyper-util auto builder, keep-alive, `TCP_NODELAY`) that reads the body under the same
//! cap, decodes and validates it with the same codec, and answers a fixed small response.
//! Everything the exchange does beyond that is what the comparison measures.

use bidder_sdk::openrtb::{decode_request, validate_request};
use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::future::Future;
use tokio::net::TcpListener;

/// Largest body read, as the exchange's default `limits.max_body_bytes`.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// The fixed answer: one small bid.
pub const ANSWER: &str = r#"{"id":"baseline","seatbid":[{"seat":"baseline","bid":[{"id":"1","impid":"1","price":1.0,"adm":"<b>baseline</b>","crid":"b"}]}],"cur":"USD"}"#;

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().keep_alive(true);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let connection = builder
                    .serve_connection(TokioIo::new(stream), service_fn(|request| async move {
                        Ok::<_, std::convert::Infallible>(answer(request).await)
                    }))
                    .into_owned();
                tokio::spawn(async move {
                    let _ = connection.await;
                });
            }
            () = &mut shutdown => return Ok(()),
        }
    }
}

async fn answer(request: Request<Incoming>) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, body: Bytes| {
        let mut response = Response::new(Full::new(body));
        *response.status_mut() = status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    };
    let Ok(collected) = Limited::new(request.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    else {
        return reply(
            StatusCode::PAYLOAD_TOO_LARGE,
            Bytes::from_static(b"{\"error\":\"body too large\"}"),
        );
    };
    let body = collected.to_bytes();
    let valid =
        decode_request(&body).is_ok_and(|mut request| validate_request(&mut request).is_ok());
    if valid {
        reply(StatusCode::OK, Bytes::from_static(ANSWER.as_bytes()))
    } else {
        reply(
            StatusCode::BAD_REQUEST,
            Bytes::from_static(b"{\"error\":\"invalid request\"}"),
        )
    }
}
