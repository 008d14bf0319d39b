//! The estate a scenario runs against: the location tree served through `STOCK_LOCATIONS_FILE`.

use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};

/// The role that makes a location hold stock.
pub const TRACKED: &str = "TrackedInventoryLocation";

/// One location and its sub-locations, in the order the Location API lists them.
#[derive(Clone, Debug, PartialEq)]
pub struct Location {
    /// The location id (opaque, may contain spaces).
    pub id: String,
    /// The Location API roles.
    pub roles: Vec<String>,
    /// The children, in order.
    pub children: Vec<Location>,
}

/// The whole estate: a forest of location trees.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Estate {
    /// The root locations, in order.
    pub roots: Vec<Location>,
}

impl Estate {
    /// Reads an estate in the file format of `docs/api.md` §15.7: one tree or an array of roots.
    pub fn from_json(text: &str) -> anyhow::Result<Estate> {
        let value: Value = serde_json::from_str(text).context("estate is not JSON")?;
        let roots = match value {
            Value::Array(items) => items.iter().map(parse_location).collect::<Result<_, _>>()?,
            other => vec![parse_location(&other)?],
        };
        Ok(Estate { roots })
    }

    /// Builds an estate from `(id, parent, roles)` rows; parents must come before their children.
    pub fn from_rows<'a>(
        rows: impl IntoIterator<Item = (&'a str, &'a str, Vec<String>)>,
    ) -> anyhow::Result<Estate> {
        let mut estate = Estate::default();
        for (id, parent, roles) in rows {
            let parent = (!parent.is_empty()).then_some(parent);
            estate.add(id, parent, roles)?;
        }
        Ok(estate)
    }

    /// Adds a location as the last child of `parent`, or as the last root.
    pub fn add(
        &mut self,
        id: &str,
        parent: Option<&str>,
        roles: Vec<String>,
    ) -> anyhow::Result<()> {
        if self.find(id).is_some() {
            bail!("location {id:?} is already in the estate");
        }
        let location = Location {
            id: id.to_owned(),
            roles,
            children: Vec::new(),
        };
        match parent {
            None => self.roots.push(location),
            Some(parent) => self.find_mut(parent)?.children.push(location),
        }
        Ok(())
    }

    /// Moves a location, with its whole subtree, to be the last child of `new_parent`.
    pub fn move_under(&mut self, id: &str, new_parent: &str) -> anyhow::Result<()> {
        let subtree = self.find(id).ok_or_else(|| anyhow!("no location {id:?}"))?;
        if find_in(std::slice::from_ref(subtree), new_parent).is_some() {
            bail!("cannot move {id:?} under its own descendant {new_parent:?}");
        }
        let subtree = detach(&mut self.roots, id).ok_or_else(|| anyhow!("no location {id:?}"))?;
        self.find_mut(new_parent)?.children.push(subtree);
        Ok(())
    }

    /// Replaces the roles of a location.
    pub fn set_roles(&mut self, id: &str, roles: Vec<String>) -> anyhow::Result<()> {
        self.find_mut(id)?.roles = roles;
        Ok(())
    }

    /// The location with this id.
    pub fn find(&self, id: &str) -> Option<&Location> {
        find_in(&self.roots, id)
    }

    fn find_mut(&mut self, id: &str) -> anyhow::Result<&mut Location> {
        find_in_mut(&mut self.roots, id).ok_or_else(|| anyhow!("no location {id:?} in the estate"))
    }

    /// The file content: an array of roots in the Location API shape, with an extra untracked
    /// root `marker` when given (a change becomes visible once the marker is known).
    pub fn to_json(&self, marker: Option<&str>) -> String {
        let mut roots: Vec<Value> = self.roots.iter().map(render).collect();
        if let Some(marker) = marker {
            roots.push(render(&Location {
                id: marker.to_owned(),
                roles: vec![],
                children: vec![],
            }));
        }
        Value::Array(roots).to_string()
    }
}

/// Splits a roles cell (`Shop, TrackedInventoryLocation`) into roles.
pub fn parse_roles(cell: &str) -> Vec<String> {
    cell.split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_location(value: &Value) -> anyhow::Result<Location> {
    let id = value
        .get("id")
        .and_then(Value::as_str)
        .context("a location without an id")?;
    let roles = match value.get("roles") {
        Some(Value::Array(roles)) => roles
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    let children = match value.get("children") {
        Some(Value::Array(children)) => children
            .iter()
            .map(parse_location)
            .collect::<Result<_, _>>()?,
        _ => Vec::new(),
    };
    Ok(Location {
        id: id.to_owned(),
        roles,
        children,
    })
}

fn render(location: &Location) -> Value {
    json!({
        "id": location.id,
        "name": location.id,
        "roles": location.roles,
        "createdAt": "2024-12-15T12:34:56Z",
        "children": location.children.iter().map(render).collect::<Vec<_>>(),
    })
}

fn find_in<'a>(nodes: &'a [Location], id: &str) -> Option<&'a Location> {
    nodes.iter().find_map(|n| {
        if n.id == id {
            Some(n)
        } else {
            find_in(&n.children, id)
        }
    })
}

fn find_in_mut<'a>(nodes: &'a mut [Location], id: &str) -> Option<&'a mut Location> {
    for node in nodes.iter_mut() {
        if node.id == id {
            return Some(node);
        }
        if let Some(found) = find_in_mut(&mut node.children, id) {
            return Some(found);
        }
    }
    None
}

fn detach(nodes: &mut Vec<Location>, id: &str) -> Option<Location> {
    if let Some(index) = nodes.iter().position(|n| n.id == id) {
        return Some(nodes.remove(index));
    }
    nodes.iter_mut().find_map(|n| detach(&mut n.children, id))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sample() -> Estate {
        Estate::from_rows([
            ("UK", "", parse_roles("Region")),
            (
                "DC01",
                "UK",
                parse_roles("DistributionCentre, TrackedInventoryLocation"),
            ),
            (
                "Central Store",
                "UK",
                parse_roles("Shop, TrackedInventoryLocation"),
            ),
            ("Till 1", "Central Store", parse_roles("Till")),
        ])
        .unwrap()
    }

    #[test]
    fn rows_build_the_tree_in_order() {
        let estate = sample();
        let uk = estate.find("UK").unwrap();
        let ids: Vec<&str> = uk.children.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["DC01", "Central Store"]);
        assert_eq!(estate.find("Till 1").unwrap().roles, ["Till"]);
    }

    #[test]
    fn the_file_format_reads_back_to_the_same_estate() {
        let estate = sample();
        assert_eq!(Estate::from_json(&estate.to_json(None)).unwrap(), estate);
    }

    #[test]
    fn a_marker_is_an_extra_untracked_root() {
        let with_marker = Estate::from_json(&sample().to_json(Some("estate-revision-1"))).unwrap();
        assert_eq!(with_marker.roots.len(), 2);
        assert!(
            with_marker
                .find("estate-revision-1")
                .unwrap()
                .roles
                .is_empty()
        );
    }

    #[test]
    fn moving_a_location_takes_its_subtree_along() {
        let mut estate = sample();
        estate.move_under("Central Store", "DC01").unwrap();
        let dc = estate.find("DC01").unwrap();
        assert_eq!(dc.children[0].id, "Central Store");
        assert_eq!(dc.children[0].children[0].id, "Till 1");
        assert_eq!(estate.find("UK").unwrap().children.len(), 1);
    }

    #[test]
    fn a_location_cannot_move_under_its_own_descendant() {
        let mut estate = sample();
        assert!(estate.move_under("Central Store", "Till 1").is_err());
        assert_eq!(estate, sample());
    }

    #[test]
    fn a_single_tree_is_accepted_as_a_file() {
        let estate = Estate::from_json(r#"{"id":"A","children":[{"id":"B","roles":null}]}"#);
        assert_eq!(
            estate.unwrap().find("B").unwrap().roles,
            Vec::<String>::new()
        );
    }
}
