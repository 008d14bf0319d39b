//! Location sources: the hierarchy, existence and roles of locations (`docs/api.md` §15).

mod breaker;
mod cache;
pub mod client;
pub mod file;
mod retry;
mod tree;

use serde_json::Value;

pub use client::LocationApiClient;
pub use file::FileLocations;

/// The role that makes a location hold stock pots (exact, case-sensitive match).
pub const TRACKED_ROLE: &str = "TrackedInventoryLocation";

/// One location without its children: the answer of `GET /locations/{id}` and one `/path` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationInfo {
    /// The location id as reported by the source.
    pub id: String,
    /// Whether `roles` contains [`TRACKED_ROLE`].
    pub tracked: bool,
}

/// A location with its subtree: the answer of `GET /locations/{id}/children`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LocationNode {
    /// The location id as reported by the source.
    pub id: String,
    /// Whether `roles` contains [`TRACKED_ROLE`].
    pub tracked: bool,
    /// The children, in the order the source lists them.
    pub children: Vec<LocationNode>,
}

impl LocationNode {
    /// This node without its children.
    pub fn info(&self) -> LocationInfo {
        LocationInfo {
            id: self.id.clone(),
            tracked: self.tracked,
        }
    }
}

/// Why a location question could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    /// The source does not know the location (`404 LocationNotFound`).
    #[error("location not found")]
    NotFound,
    /// The source could not answer (`502 UpstreamServiceUnavailable`); the text is for logs only.
    #[error("location service unavailable: {0}")]
    Unavailable(String),
}

/// Where the HTTP tier learns about locations: the Location API or a file.
#[async_trait::async_trait]
pub trait LocationSource: Send + Sync {
    /// `GET /locations/{id}`: existence and roles.
    async fn location(&self, id: &str) -> Result<LocationInfo, LocationError>;
    /// `GET /locations/{id}/children` (whole subtree) or `?depth=1` (`depth_one`: the node, children
    /// ignored by callers).
    async fn tree(&self, id: &str, depth_one: bool) -> Result<LocationNode, LocationError>;
    /// `GET /locations/{id}/path`: root first, down to and including `id`.
    async fn path(&self, id: &str) -> Result<Vec<LocationInfo>, LocationError>;
    /// Readiness of the source (`locationApi` check).
    async fn healthy(&self) -> bool;
}

/// The nearest tracked location of a `/path` answer: scanned from the end (the location itself)
/// towards the root (`docs/api.md` §9).
pub fn nearest_tracked_ancestor(path: &[LocationInfo]) -> Option<&LocationInfo> {
    path.iter().rev().find(|entry| entry.tracked)
}

/// Reads a location object leniently (`docs/api.md` §15.3): unknown fields are ignored, a
/// missing, `null` or mistyped `id`, `roles` or `children` takes its default (`""`, untracked, no
/// children), and children keep their order. Anything that is not an object reads as the default
/// node, because a 2xx body is accepted whatever it holds; non-object children are skipped.
pub fn parse_location_object(value: &Value) -> LocationNode {
    let children = match value.get("children") {
        Some(Value::Array(items)) => items
            .iter()
            .filter(|item| item.is_object())
            .map(parse_location_object)
            .collect(),
        _ => Vec::new(),
    };
    LocationNode {
        id: id_of(value),
        tracked: tracked_roles(value),
        children,
    }
}

/// Reads a `/path` answer leniently: the array's location objects in order (children ignored).
/// A body that is not an array reads as an empty path, which has no tracked ancestor.
pub fn parse_path_array(value: &Value) -> Vec<LocationInfo> {
    match value {
        Value::Array(items) => items
            .iter()
            .filter(|item| item.is_object())
            .map(|item| LocationInfo {
                id: id_of(item),
                tracked: tracked_roles(item),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether a `roles` list marks a tracked location; other roles and repetitions are ignored.
pub fn is_tracked<'a>(roles: impl IntoIterator<Item = &'a str>) -> bool {
    roles.into_iter().any(|role| role == TRACKED_ROLE)
}

fn id_of(value: &Value) -> String {
    value
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn tracked_roles(value: &Value) -> bool {
    match value.get("roles") {
        Some(Value::Array(roles)) => is_tracked(roles.iter().filter_map(Value::as_str)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn info(id: &str, tracked: bool) -> LocationInfo {
        LocationInfo {
            id: id.to_owned(),
            tracked,
        }
    }

    #[test]
    fn a_location_is_tracked_only_by_the_exact_tracked_role() {
        let cases = [
            (json!(["TrackedInventoryLocation"]), true),
            (
                json!([
                    "Shop",
                    "TrackedInventoryLocation",
                    "TrackedInventoryLocation"
                ]),
                true,
            ),
            (json!(["trackedinventorylocation"]), false),
            (json!(["TrackedInventoryLocation "]), false),
            (json!(["Shop"]), false),
            (json!([]), false),
            (json!(null), false),
            (json!("TrackedInventoryLocation"), false),
            (json!([1, null, "TrackedInventoryLocation"]), true),
        ];
        for (roles, tracked) in cases {
            let node = parse_location_object(&json!({"id": "A", "roles": roles}));
            assert_eq!(node.tracked, tracked, "roles {roles}");
        }
    }

    #[test]
    fn a_location_object_ignores_unknown_fields_and_keeps_child_order() {
        let node = parse_location_object(&json!({
            "id": "DC01", "name": "DC01", "createdAt": "2024-12-15T12:34:56Z", "extra": {"x": 1},
            "roles": ["Shop", "TrackedInventoryLocation"],
            "children": [
                {"id": "B", "roles": [], "children": [{"id": "B1", "roles": ["TrackedInventoryLocation"]}]},
                {"id": "A", "roles": ["TrackedInventoryLocation"], "children": []}
            ]
        }));
        assert_eq!(node.id, "DC01");
        assert!(node.tracked);
        let ids: Vec<&str> = node.children.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["B", "A"]);
        assert_eq!(node.children[0].children[0].info(), info("B1", true));
    }

    #[test]
    fn missing_or_null_fields_of_a_location_object_take_their_defaults() {
        for value in [
            json!({}),
            json!({"id": null, "roles": null, "children": null}),
            json!([]),
        ] {
            assert_eq!(parse_location_object(&value), LocationNode::default());
        }
    }

    #[test]
    fn non_object_children_are_skipped() {
        let node = parse_location_object(&json!({"id": "A", "children": [null, 3, {"id": "B"}]}));
        assert_eq!(node.children.len(), 1);
        assert_eq!(node.children[0].id, "B");
    }

    #[test]
    fn a_path_array_keeps_its_order_and_reads_roles() {
        let path = parse_path_array(&json!([
            {"id": "warehouse1", "name": "warehouse1", "roles": ["TrackedInventoryLocation"]},
            {"id": "untracked1", "name": "untracked1", "roles": []}
        ]));
        assert_eq!(path, [info("warehouse1", true), info("untracked1", false)]);
    }

    #[test]
    fn a_path_body_that_is_not_an_array_reads_as_an_empty_path() {
        assert!(parse_path_array(&json!({"id": "A"})).is_empty());
        assert!(parse_path_array(&json!(null)).is_empty());
    }

    #[test]
    fn the_nearest_tracked_ancestor_is_found_scanning_from_the_end() {
        let path = [
            info("UK", false),
            info("DC01", true),
            info("WH01", true),
            info("Dock", false),
        ];
        assert_eq!(nearest_tracked_ancestor(&path), Some(&path[2]));
        let tracked_self = [info("DC01", true), info("WH01", true)];
        assert_eq!(
            nearest_tracked_ancestor(&tracked_self),
            Some(&tracked_self[1])
        );
        assert_eq!(
            nearest_tracked_ancestor(&[info("UK", false), info("X", false)]),
            None
        );
        assert_eq!(nearest_tracked_ancestor(&[]), None);
    }
}
