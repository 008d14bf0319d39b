//! Ids named by path segments (percent-decoded exactly once) and the `Location` header of a 303.

use axum::extract::{FromRequestParts, MatchedPath, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;

use crate::error::ApiError;

/// An id named by one path segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PathId {
    /// The segment, percent-decoded once.
    Named(String),
    /// The decoded bytes are not UTF-8. Ids are UTF-8 strings, so such a segment names nothing:
    /// no location, no product, and no token's location scope (docs/architecture.md, "Path ids").
    NotUtf8,
}

impl PathId {
    /// The location this id names; one that is not UTF-8 is an unknown location (404
    /// `LocationNotFound`), answered without asking the location source.
    pub(super) fn location(&self) -> Result<&str, ApiError> {
        match self {
            PathId::Named(id) => Ok(id),
            PathId::NotUtf8 => {
                tracing::info!("the path names a location that is not UTF-8");
                Err(ApiError::LocationNotFound)
            }
        }
    }

    /// The product this id names; one that is not UTF-8 names no resource (404, empty body).
    pub(super) fn product(&self) -> Result<&str, ApiError> {
        match self {
            PathId::Named(id) => Ok(id),
            PathId::NotUtf8 => {
                tracing::info!("the path names a product that is not UTF-8");
                Err(ApiError::NotFound)
            }
        }
    }

    /// The id as a location scope check sees it: `None` when it names nothing.
    pub(super) fn scope(&self) -> Option<&str> {
        match self {
            PathId::Named(id) => Some(id),
            PathId::NotUtf8 => None,
        }
    }
}

/// Percent-decodes one raw path segment, exactly once: `%2541` is the id `%41`, not `A`.
pub(super) fn decode_segment(raw: &str) -> PathId {
    match percent_decode_str(raw).decode_utf8() {
        Ok(id) => PathId::Named(id.into_owned()),
        Err(_) => PathId::NotUtf8,
    }
}

/// The ids of a matched stock route, read from the raw request path at the positions of the
/// route template's `{location}` and `{product}` segments.
///
/// axum's own path extractors already percent-decode (and reject bytes that are not UTF-8 before
/// any handler runs), so the raw segments are taken here and decoded once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PathIds {
    pub(super) location: PathId,
    pub(super) product: PathId,
}

impl PathIds {
    /// The ids named by `raw_path` under the route `template`; a parameter the template lacks
    /// is the empty id.
    pub(super) fn from_template(template: &str, raw_path: &str) -> PathIds {
        let mut ids = PathIds {
            location: PathId::Named(String::new()),
            product: PathId::Named(String::new()),
        };
        for (name, raw) in template.split('/').zip(raw_path.split('/')) {
            match name {
                "{location}" => ids.location = decode_segment(raw),
                "{product}" => ids.product = decode_segment(raw),
                _ => {}
            }
        }
        ids
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PathIds {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<PathIds, ApiError> {
        let Some(template) = parts.extensions.get::<MatchedPath>() else {
            tracing::error!("a stock route was served without its matched path");
            return Err(ApiError::Internal);
        };
        Ok(PathIds::from_template(template.as_str(), parts.uri.path()))
    }
}

/// Route middleware: a path with an empty segment (`/locations//deliveries`) matches no route,
/// whatever its method: 404 with an empty body, before authentication like any unknown path.
pub(super) async fn reject_empty_segments(request: Request, next: Next) -> Response {
    if request.uri().path().split('/').skip(1).any(str::is_empty) {
        return StatusCode::NOT_FOUND.into_response();
    }
    next.run(request).await
}

/// The request path with only its second segment replaced by `location`, percent-encoded; the
/// query is dropped and every other segment is kept exactly as received (docs/api.md §9).
pub(super) fn redirect_target(request_path: &str, location: &str) -> String {
    let mut segments: Vec<&str> = request_path.split('/').collect();
    let encoded = shared::encoding::path_segment(location);
    if segments.len() > 2 {
        segments[2] = &encoded;
    }
    segments.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_replace_only_the_location_segment() {
        assert_eq!(
            redirect_target(
                "/locations/Till%201/products/Olive%20Oil/sales",
                "Central Store"
            ),
            "/locations/Central%20Store/products/Olive%20Oil/sales"
        );
        assert_eq!(
            redirect_target("/locations/untracked1/product123/movements", "warehouse1"),
            "/locations/warehouse1/product123/movements"
        );
        assert_eq!(
            redirect_target("/locations/warehouse1-untracked/deliveries", "WH01"),
            "/locations/WH01/deliveries"
        );
    }

    #[test]
    fn a_segment_is_decoded_exactly_once() {
        let named = |id: &str| PathId::Named(id.to_owned());
        assert_eq!(decode_segment("Central%20Store"), named("Central Store"));
        assert_eq!(decode_segment("Till%25201"), named("Till%201"));
        assert_eq!(decode_segment("%2541"), named("%41"));
        assert_eq!(decode_segment("a%252Fb"), named("a%2Fb"));
        assert_eq!(decode_segment("a%2Fb"), named("a/b"));
    }

    #[test]
    fn a_segment_that_is_not_utf8_names_nothing() {
        assert_eq!(decode_segment("%FF"), PathId::NotUtf8);
        assert_eq!(decode_segment("%FF").scope(), None);
        assert_eq!(
            decode_segment("%C3").location(),
            Err(ApiError::LocationNotFound)
        );
        assert_eq!(decode_segment("ok%FE").product(), Err(ApiError::NotFound));
        // The replacement character itself is a valid id, distinct from the bad bytes.
        assert_eq!(
            decode_segment("%EF%BF%BD"),
            PathId::Named("\u{FFFD}".into())
        );
    }

    #[test]
    fn ids_are_read_at_the_template_positions() {
        let ids = PathIds::from_template(
            "/locations/{location}/{product}/movements",
            "/locations/WH%2001/p%25/movements",
        );
        assert_eq!(ids.location, PathId::Named("WH 01".into()));
        assert_eq!(ids.product, PathId::Named("p%".into()));
        let ids = PathIds::from_template(
            "/locations/{location}/deliveries",
            "/locations/X/deliveries",
        );
        assert_eq!(ids.product, PathId::Named(String::new()));
    }
}
