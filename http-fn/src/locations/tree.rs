//! An indexed, immutable location hierarchy answering the Location API's questions in memory.

use std::collections::HashMap;

use anyhow::{Context, bail};
use serde_json::Value;

use super::{LocationInfo, LocationNode, parse_location_object};

/// One location of the hierarchy, linked to its parent and children by index.
#[derive(Debug)]
struct Entry {
    id: String,
    tracked: bool,
    parent: Option<usize>,
    children: Vec<usize>,
}

/// A hierarchy (one or several roots) with every id indexed for O(1) lookups.
#[derive(Debug, Default)]
pub(crate) struct Tree {
    entries: Vec<Entry>,
    index: HashMap<String, usize>,
}

impl Tree {
    /// Parses a file's text: one location tree (a `/children` answer) or an array of roots.
    pub(crate) fn from_json(text: &str) -> anyhow::Result<Tree> {
        let value: Value = serde_json::from_str(text).context("not valid JSON")?;
        let roots = match &value {
            Value::Object(_) => vec![parse_location_object(&value)],
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::Object(_) => Ok(parse_location_object(item)),
                    _ => bail!("element {i} of the top-level array is not a location object"),
                })
                .collect::<anyhow::Result<Vec<_>>>()?,
            _ => bail!("expected a location object or an array of location objects"),
        };
        Tree::from_roots(roots)
    }

    /// Indexes parsed roots; the same id twice anywhere in the hierarchy is an error.
    pub(crate) fn from_roots(roots: Vec<LocationNode>) -> anyhow::Result<Tree> {
        let mut tree = Tree::default();
        for root in roots {
            tree.insert(root, None)?;
        }
        Ok(tree)
    }

    /// Number of locations.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// `GET /locations/{id}`.
    pub(crate) fn location(&self, id: &str) -> Option<LocationInfo> {
        self.index.get(id).map(|&at| self.info(at))
    }

    /// `GET /locations/{id}/children`, or `?depth=1` when `depth_one` (direct children only).
    pub(crate) fn subtree(&self, id: &str, depth_one: bool) -> Option<LocationNode> {
        let depth = if depth_one { 1 } else { usize::MAX };
        self.index.get(id).map(|&at| self.node(at, depth))
    }

    /// `GET /locations/{id}/path`: root first, down to and including `id`.
    pub(crate) fn path(&self, id: &str) -> Option<Vec<LocationInfo>> {
        let mut at = *self.index.get(id)?;
        let mut path = vec![self.info(at)];
        while let Some(parent) = self.entries[at].parent {
            path.push(self.info(parent));
            at = parent;
        }
        path.reverse();
        Some(path)
    }

    fn insert(&mut self, node: LocationNode, parent: Option<usize>) -> anyhow::Result<usize> {
        let at = self.entries.len();
        if self.index.insert(node.id.clone(), at).is_some() {
            bail!("duplicate location id {:?}", node.id);
        }
        self.entries.push(Entry {
            id: node.id,
            tracked: node.tracked,
            parent,
            children: Vec::with_capacity(node.children.len()),
        });
        for child in node.children {
            let child_at = self.insert(child, Some(at))?;
            self.entries[at].children.push(child_at);
        }
        Ok(at)
    }

    fn info(&self, at: usize) -> LocationInfo {
        let entry = &self.entries[at];
        LocationInfo {
            id: entry.id.clone(),
            tracked: entry.tracked,
        }
    }

    fn node(&self, at: usize, depth: usize) -> LocationNode {
        let entry = &self.entries[at];
        let children = if depth == 0 {
            Vec::new()
        } else {
            entry
                .children
                .iter()
                .map(|&child| self.node(child, depth - 1))
                .collect()
        };
        LocationNode {
            id: entry.id.clone(),
            tracked: entry.tracked,
            children,
        }
    }
}
