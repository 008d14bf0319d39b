//! The one error type of the HTTP tier and its rendering as the bodies of docs/api.md §3.2.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Every way a request can fail, each rendered exactly as docs/api.md §3.2, §12 require.
///
/// Rendering logs nothing: the code that builds an `ApiError` knows the cause and logs it once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 401: missing, malformed, invalid or expired bearer token.
    #[error("unauthorized")]
    Unauthorized,
    /// 403: the job lacks the permission, or the location is outside the token's scope.
    #[error("permission denied")]
    PermissionDenied,
    /// 415 with an empty body: the content type is not `application/json`.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// 400 `BadRequest`: the body is unusable for any other reason.
    #[error("bad request")]
    BadRequest,
    /// 400 `missingFields`: the missing fields of one object, in the endpoint's field order.
    #[error("missing fields: {0:?}")]
    MissingFields(Vec<&'static str>),
    /// 400 `invalidValues`: the first field holding an unparseable date-time.
    #[error("invalid value: {0}")]
    InvalidValues(&'static str),
    /// 404 with an empty body: the path names nothing that can exist (an id that is not UTF-8).
    #[error("not found")]
    NotFound,
    /// 404: the Location API does not know a location the request names.
    #[error("location not found")]
    LocationNotFound,
    /// 303 to the nearest tracked ancestor; `location` is the full `Location` header value.
    #[error("location not tracked, redirect to {location}")]
    LocationNotTrackedRedirect {
        /// The value of the `Location` header (a path, no scheme or host).
        location: String,
    },
    /// 400 `LocationNotTracked`: an untracked location and no tracked ancestor, or an untracked
    /// move destination.
    #[error("location not tracked")]
    LocationNotTracked,
    /// 400: a move of more than the source holds.
    #[error("insufficient stock")]
    InsufficientStock,
    /// 409: a `requestId` reused at the same location with different content.
    #[error("idempotency content mismatch")]
    IdempotencyContentMismatch,
    /// 502: the Location API keeps failing, or its circuit breaker is open.
    #[error("upstream service unavailable")]
    UpstreamServiceUnavailable,
    /// 503 with `Retry-After: 1`: nothing was applied and nothing will be.
    #[error("service unavailable")]
    ServiceUnavailable,
    /// 500 with an empty body: an unexpected internal error; nothing was applied.
    #[error("internal error")]
    Internal,
}

impl ApiError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::PermissionDenied => StatusCode::FORBIDDEN,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::BadRequest
            | ApiError::MissingFields(_)
            | ApiError::InvalidValues(_)
            | ApiError::LocationNotTracked
            | ApiError::InsufficientStock => StatusCode::BAD_REQUEST,
            ApiError::NotFound | ApiError::LocationNotFound => StatusCode::NOT_FOUND,
            ApiError::LocationNotTrackedRedirect { .. } => StatusCode::SEE_OTHER,
            ApiError::IdempotencyContentMismatch => StatusCode::CONFLICT,
            ApiError::UpstreamServiceUnavailable => StatusCode::BAD_GATEWAY,
            ApiError::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `status` code of a `{"status": …}` body, `None` for the other shapes and empty bodies.
    fn status_code(&self) -> Option<&'static str> {
        Some(match self {
            ApiError::Unauthorized => "Unauthorized",
            ApiError::PermissionDenied => "PermissionDenied",
            ApiError::BadRequest => "BadRequest",
            ApiError::LocationNotFound => "LocationNotFound",
            ApiError::LocationNotTrackedRedirect { .. } | ApiError::LocationNotTracked => {
                "LocationNotTracked"
            }
            ApiError::InsufficientStock => "InsufficientStock",
            ApiError::IdempotencyContentMismatch => "IdempotencyContentMismatch",
            ApiError::UpstreamServiceUnavailable => "UpstreamServiceUnavailable",
            ApiError::ServiceUnavailable => "ServiceUnavailable",
            ApiError::UnsupportedMediaType
            | ApiError::NotFound
            | ApiError::Internal
            | ApiError::MissingFields(_)
            | ApiError::InvalidValues(_) => return None,
        })
    }

    /// The JSON body, `None` where the spec requires an empty body (404 `NotFound`, 415, 500).
    fn body(&self) -> Option<serde_json::Value> {
        match self {
            ApiError::MissingFields(fields) => Some(json!({ "missingFields": fields })),
            ApiError::InvalidValues(field) => Some(json!({ "invalidValues": [field] })),
            other => other.status_code().map(|code| json!({ "status": code })),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = match self.body() {
            // `Json` sets `content-type: application/json` and nothing else.
            Some(body) => (status, Json(body)).into_response(),
            None => status.into_response(),
        };
        let headers = response.headers_mut();
        match self {
            ApiError::LocationNotTrackedRedirect { location } => {
                // The value comes from percent-encoded path segments, so it is always a valid
                // header value; an impossible failure degrades to a redirect-less 500.
                match HeaderValue::from_str(&location) {
                    Ok(value) => {
                        headers.insert(header::LOCATION, value);
                    }
                    Err(_) => return ApiError::Internal.into_response(),
                }
            }
            ApiError::ServiceUnavailable => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn render(error: ApiError) -> (StatusCode, http::HeaderMap, Vec<u8>) {
        let response = error.into_response();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        (status, headers, body)
    }

    #[tokio::test]
    async fn every_error_renders_its_status_and_exact_body() {
        let cases: Vec<(ApiError, u16, &str)> = vec![
            (ApiError::Unauthorized, 401, r#"{"status":"Unauthorized"}"#),
            (
                ApiError::PermissionDenied,
                403,
                r#"{"status":"PermissionDenied"}"#,
            ),
            (ApiError::UnsupportedMediaType, 415, ""),
            (ApiError::NotFound, 404, ""),
            (ApiError::BadRequest, 400, r#"{"status":"BadRequest"}"#),
            (
                ApiError::MissingFields(vec!["requestId", "quantity"]),
                400,
                r#"{"missingFields":["requestId","quantity"]}"#,
            ),
            (
                ApiError::InvalidValues("soldAt"),
                400,
                r#"{"invalidValues":["soldAt"]}"#,
            ),
            (
                ApiError::LocationNotFound,
                404,
                r#"{"status":"LocationNotFound"}"#,
            ),
            (
                ApiError::LocationNotTrackedRedirect {
                    location: "/locations/A/deliveries".into(),
                },
                303,
                r#"{"status":"LocationNotTracked"}"#,
            ),
            (
                ApiError::LocationNotTracked,
                400,
                r#"{"status":"LocationNotTracked"}"#,
            ),
            (
                ApiError::InsufficientStock,
                400,
                r#"{"status":"InsufficientStock"}"#,
            ),
            (
                ApiError::IdempotencyContentMismatch,
                409,
                r#"{"status":"IdempotencyContentMismatch"}"#,
            ),
            (
                ApiError::UpstreamServiceUnavailable,
                502,
                r#"{"status":"UpstreamServiceUnavailable"}"#,
            ),
            (
                ApiError::ServiceUnavailable,
                503,
                r#"{"status":"ServiceUnavailable"}"#,
            ),
            (ApiError::Internal, 500, ""),
        ];
        for (error, status, body) in cases {
            let (got_status, headers, got_body) = render(error.clone()).await;
            assert_eq!(got_status.as_u16(), status, "{error:?}");
            assert_eq!(String::from_utf8(got_body).unwrap(), body, "{error:?}");
            let content_type = headers
                .get(header::CONTENT_TYPE)
                .map(|v| v.to_str().unwrap());
            if body.is_empty() {
                assert_eq!(content_type, None, "{error:?}");
            } else {
                assert_eq!(content_type, Some("application/json"), "{error:?}");
            }
            assert!(headers.get(header::WWW_AUTHENTICATE).is_none());
        }
    }

    #[tokio::test]
    async fn a_redirect_carries_only_the_location_header_besides_the_content_type() {
        let location = "/locations/Central%20Store/products/Olive%20Oil/sales".to_string();
        let (_, headers, _) = render(ApiError::LocationNotTrackedRedirect { location }).await;
        assert_eq!(
            headers.get(header::LOCATION).unwrap(),
            "/locations/Central%20Store/products/Olive%20Oil/sales"
        );
        assert_eq!(headers.len(), 2);
    }

    #[tokio::test]
    async fn service_unavailable_asks_to_retry_after_one_second() {
        let (_, headers, _) = render(ApiError::ServiceUnavailable).await;
        assert_eq!(headers.get(header::RETRY_AFTER).unwrap(), "1");
        assert_eq!(headers.len(), 2);
    }

    #[tokio::test]
    async fn other_errors_carry_no_header_but_the_content_type() {
        for error in [
            ApiError::Unauthorized,
            ApiError::BadRequest,
            ApiError::Internal,
        ] {
            let (_, headers, _) = render(error).await;
            assert!(headers.len() <= 1);
            assert!(headers.get(header::RETRY_AFTER).is_none());
            assert!(headers.get(header::LOCATION).is_none());
        }
    }
}
