//! The four write endpoints: sales, deliveries, moves and counts (docs/api.md §5–§9).

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use shared::command::{Command, DeliveryLine, MoveStock, RecordCount, RecordDelivery, RecordSale};
use shared::reply::Reply;

use super::path::{PathId, PathIds, redirect_target};
use crate::auth::Permission;
use crate::body;
use crate::dispatch::DispatchError;
use crate::error::ApiError;
use crate::locations::nearest_tracked_ancestor;
use crate::state::AppState;

/// Largest accepted request body; anything longer is not a usable body.
const MAX_BODY_BYTES: usize = 1 << 20;

/// POST `/locations/{locationId}/products/{productId}/sales`
pub(super) async fn record_sale(
    State(state): State<AppState>,
    ids: PathIds,
    request: Request,
) -> Result<Response, ApiError> {
    authorize(&state, &request, Permission::MovementWrite, &ids.location)?;
    let product = ids.product.product()?.to_owned();
    let path = request.uri().path().to_owned();
    let sale = body::parse_sale(&read_body(request).await?)?;
    let location = ids.location.location()?;
    require_tracked(&state, location, &path).await?;
    let command = Command::RecordSale(RecordSale {
        location: location.to_owned(),
        product,
        request_id: sale.request_id,
        quantity: sale.quantity,
        sold_at: sale.sold_at,
    });
    execute(&state, command).await
}

/// POST `/locations/{locationId}/deliveries`
pub(super) async fn record_delivery(
    State(state): State<AppState>,
    ids: PathIds,
    request: Request,
) -> Result<Response, ApiError> {
    authorize(&state, &request, Permission::MovementWrite, &ids.location)?;
    let path = request.uri().path().to_owned();
    let delivery = body::parse_delivery(&read_body(request).await?)?;
    let location = ids.location.location()?;
    require_tracked(&state, location, &path).await?;
    if delivery.products.iter().any(|line| line.quantity <= 0.0) {
        return Err(ApiError::BadRequest);
    }
    let lines = delivery
        .products
        .into_iter()
        .map(|line| DeliveryLine {
            product: line.product_id,
            quantity: line.quantity,
        })
        .collect();
    let command = Command::RecordDelivery(RecordDelivery {
        location: location.to_owned(),
        request_id: delivery.request_id,
        supplier_id: delivery.supplier_id,
        supplier_ref: delivery.supplier_ref,
        delivered_at: delivery.delivered_at,
        lines,
    });
    execute(&state, command).await
}

/// POST `/locations/{sourceLocationId}/{productId}/movements`
pub(super) async fn move_stock(
    State(state): State<AppState>,
    ids: PathIds,
    request: Request,
) -> Result<Response, ApiError> {
    move_product(state, ids, request).await
}

/// POST `/locations/{sourceLocationId}/products/movements` is the move of the product named
/// `products`: any non-empty segment is a product id, and this path also has the shape of a
/// stock read (`GET`, product `movements`), whose route the router picks. Any other POST to a
/// stock read's path is a known path with another method: 405, empty body.
pub(super) async fn move_product_named_products(
    State(state): State<AppState>,
    ids: PathIds,
    request: Request,
) -> Result<Response, ApiError> {
    if !request.uri().path().ends_with("/products/movements") {
        return Ok(read_path_other_method(request.uri().clone()).await);
    }
    let ids = PathIds {
        product: PathId::Named("products".to_owned()),
        ..ids
    };
    move_product(state, ids, request).await
}

/// Any other method on a stock read's path: 405, empty body, with an `Allow` that names POST only
/// where the path is also the move of the product `products`.
pub(super) async fn read_path_other_method(uri: Uri) -> Response {
    let allow = if uri.path().ends_with("/products/movements") {
        "GET,HEAD,POST"
    } else {
        "GET,HEAD"
    };
    (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, allow)]).into_response()
}

async fn move_product(
    state: AppState,
    ids: PathIds,
    request: Request,
) -> Result<Response, ApiError> {
    authorize(&state, &request, Permission::MovementWrite, &ids.location)?;
    let product = ids.product.product()?.to_owned();
    let path = request.uri().path().to_owned();
    let movement = body::parse_move(&read_body(request).await?)?;
    if ids.location.scope() == Some(movement.destination_location_id.as_str()) {
        return Err(ApiError::BadRequest);
    }
    let source = ids.location.location()?;
    require_tracked(&state, source, &path).await?;
    let destination = state
        .locations()
        .location(&movement.destination_location_id)
        .await?;
    if !destination.tracked {
        return Err(ApiError::LocationNotTracked);
    }
    let command = Command::MoveStock(MoveStock {
        source: source.to_owned(),
        destination: movement.destination_location_id,
        product,
        request_id: movement.request_id,
        quantity: movement.quantity,
        moved_at: movement.moved_at,
    });
    execute(&state, command).await
}

/// POST `/locations/{locationId}/products/{productId}/counts` — the location need not be tracked.
pub(super) async fn record_count(
    State(state): State<AppState>,
    ids: PathIds,
    request: Request,
) -> Result<Response, ApiError> {
    authorize(&state, &request, Permission::CountWrite, &ids.location)?;
    let product = ids.product.product()?.to_owned();
    let count = body::parse_count(&read_body(request).await?)?;
    let location = ids.location.location()?;
    state.locations().location(location).await?;
    let command = Command::RecordCount(RecordCount {
        location: location.to_owned(),
        product,
        request_id: count.request_id,
        quantity: count.quantity,
        counted_at: count.counted_at,
    });
    execute(&state, command).await
}

/// Stage 1: authentication and authorization, before the body is read.
fn authorize(
    state: &AppState,
    request: &Request,
    permission: Permission,
    location: &PathId,
) -> Result<(), ApiError> {
    state
        .auth()
        .authenticate(request.headers())?
        .authorize_at(permission, location.scope())
}

/// Stage 2a: the content type, then the body bytes.
async fn read_body(request: Request) -> Result<bytes::Bytes, ApiError> {
    body::check_content_type(request.headers())?;
    let body: Body = request.into_body();
    to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::BadRequest)
}

/// Stage 3 for sales, deliveries and a move's source: the location must exist and be tracked;
/// otherwise 303 to the nearest tracked ancestor, or 400 without one (docs/api.md §9).
async fn require_tracked(state: &AppState, location: &str, path: &str) -> Result<(), ApiError> {
    if state.locations().location(location).await?.tracked {
        return Ok(());
    }
    let ancestry = state.locations().path(location).await?;
    match nearest_tracked_ancestor(&ancestry) {
        Some(ancestor) => Err(ApiError::LocationNotTrackedRedirect {
            location: redirect_target(path, &ancestor.id),
        }),
        None => {
            tracing::info!(
                location = %crate::telemetry::clip(location),
                "write at an untracked location without a tracked ancestor"
            );
            Err(ApiError::LocationNotTracked)
        }
    }
}

/// Stage 5: the command goes to the owner of its shard; the reply becomes the response.
async fn execute(state: &AppState, command: Command) -> Result<Response, ApiError> {
    let location = command
        .idempotency_key()
        .map(|(location, _)| location.to_owned())
        .unwrap_or_default();
    match state.dispatcher().execute(command, None).await {
        Ok(Reply::Created { body }) => Ok(json(StatusCode::CREATED, body)),
        Ok(Reply::InTransit { body } | Reply::Accepted { body }) => {
            Ok(json(StatusCode::ACCEPTED, body))
        }
        Ok(Reply::ContentMismatch) => Err(ApiError::IdempotencyContentMismatch),
        Ok(Reply::InsufficientStock) => Err(ApiError::InsufficientStock),
        Ok(Reply::NonFinite) => Err(ApiError::BadRequest),
        Err(error @ DispatchError::Overloaded { .. }) => {
            let shard = shared::shard::shard_of(&location, state.worker_tier().0);
            crate::telemetry::failed_because(format!(
                "{error} (shard {shard}, location {})",
                crate::telemetry::clip(&location)
            ));
            Err(ApiError::ServiceUnavailable)
        }
        Err(error @ DispatchError::Unavailable(_)) => {
            let shard = shared::shard::shard_of(&location, state.worker_tier().0);
            crate::telemetry::failed_because(format!(
                "write not committed before its deadline (shard {shard}, location {})",
                crate::telemetry::clip(&location)
            ));
            tracing::debug!(%error, shard, "write not committed before its deadline");
            Err(ApiError::ServiceUnavailable)
        }
    }
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}
