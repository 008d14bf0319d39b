//! GET `/locations/{locationId}/products/{productId}`: stock levels over the location hierarchy.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use shared::domain::{LocalDateTime, PotState, Total};
use shared::reply::JsonObject;
use shared::store::PotRef;

use super::path::PathIds;
use crate::auth::Permission;
use crate::error::ApiError;
use crate::locations::LocationNode;
use crate::state::AppState;

/// GET stock level, with or without the location's descendants (docs/api.md §4).
pub(super) async fn get_stock_level(
    State(state): State<AppState>,
    ids: PathIds,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state
        .auth()
        .authenticate(&headers)?
        .authorize_at(Permission::LevelRead, ids.location.scope())?;
    let product = ids.product.product()?;
    let location = ids.location.location()?;
    let include_children = include_children(uri.query());
    state.locations().location(location).await?;
    let mut tree = state.locations().tree(location, !include_children).await?;
    if !include_children {
        tree.children.clear();
    }
    let mut pots = Vec::new();
    collect_tracked(&tree, product, &mut pots);
    let states = state.store().read_pots(&pots).await.map_err(|error| {
        crate::telemetry::failed_because(format!("stock levels could not be read ({error})"));
        ApiError::ServiceUnavailable
    })?;
    let body = render(&tree, product, include_children, &mut states.into_iter());
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

/// `includeChildren`: absent → true; present → true iff it equals `true` case-insensitively.
fn include_children(query: Option<&str>) -> bool {
    let Some(query) = query else { return true };
    query
        .split('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .find(|(key, _)| decode_query(key) == "includeChildren")
        .is_none_or(|(_, value)| decode_query(value).eq_ignore_ascii_case("true"))
}

fn decode_query(text: &str) -> String {
    percent_decode_str(&text.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// The pots to read: every tracked node, depth first, in the order the tree lists them.
fn collect_tracked(node: &LocationNode, product: &str, out: &mut Vec<PotRef>) {
    if node.tracked {
        out.push(PotRef {
            location: node.id.clone(),
            product: product.to_owned(),
        });
    }
    for child in &node.children {
        collect_tracked(child, product, out);
    }
}

/// The top-level object; `states` yields the pot states in [`collect_tracked`] order.
fn render(
    root: &LocationNode,
    product: &str,
    include_children: bool,
    states: &mut impl Iterator<Item = PotState>,
) -> String {
    let own = root
        .tracked
        .then(|| states.next().unwrap_or(PotState::INITIAL));
    let mut body = JsonObject::new();
    body.string("locationId", &root.id)
        .string("productId", product);
    add_own(&mut body, own.as_ref());
    let last_updated = own.map_or(LocalDateTime::MIN, |s| s.last_updated);
    body.time("lastUpdated", &last_updated);
    if include_children {
        let (children, total) = render_children(root, own.as_ref(), states);
        body.raw("totalQuantity", &total.render());
        if let Some(children) = children {
            body.raw("childLocations", &children);
        }
    }
    body.finish()
}

/// `quantity` if tracked, `pendingAdjustment` if non-zero.
fn add_own(body: &mut JsonObject, own: Option<&PotState>) {
    if let Some(state) = own {
        body.quantity("quantity", state.quantity);
        if state.pending_adjustment != 0.0 {
            body.quantity("pendingAdjustment", state.pending_adjustment);
        }
    }
}

/// The `childLocations` array (if non-empty) and the node's `totalQuantity`, which may lie
/// beyond the double range (see [`Total`]).
fn render_children(
    node: &LocationNode,
    own: Option<&PotState>,
    states: &mut impl Iterator<Item = PotState>,
) -> (Option<String>, Total) {
    let mut total = Total::default();
    total.add(own.map_or(0.0, |s| s.quantity));
    let mut rendered = Vec::with_capacity(node.children.len());
    for child in &node.children {
        let (text, child_total) = render_child(child, states);
        total.add_total(child_total);
        rendered.push(text);
    }
    let array = (!rendered.is_empty()).then(|| format!("[{}]", rendered.join(",")));
    (array, total)
}

/// A child object: no `productId`, no `lastUpdated`, `totalQuantity` always.
fn render_child(
    node: &LocationNode,
    states: &mut impl Iterator<Item = PotState>,
) -> (String, Total) {
    let own = node
        .tracked
        .then(|| states.next().unwrap_or(PotState::INITIAL));
    let mut body = JsonObject::new();
    body.string("locationId", &node.id);
    add_own(&mut body, own.as_ref());
    let (children, total) = render_children(node, own.as_ref(), states);
    body.raw("totalQuantity", &total.render());
    if let Some(children) = children {
        body.raw("childLocations", &children);
    }
    (body.finish(), total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_children_defaults_to_true_and_only_true_means_true() {
        assert!(include_children(None));
        assert!(include_children(Some("other=1")));
        assert!(include_children(Some("includeChildren=TRUE")));
        assert!(!include_children(Some("includeChildren=false")));
        assert!(!include_children(Some("includeChildren=0")));
        assert!(!include_children(Some("includeChildren=")));
        assert!(!include_children(Some("includeChildren")));
    }
}
