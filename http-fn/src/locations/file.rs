//! The file-backed location source (`STOCK_LOCATIONS_FILE`, `docs/api.md` §15.7).

use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;

use super::tree::Tree;
use super::{LocationError, LocationInfo, LocationNode, LocationSource};

/// How often, at most, an opened file is checked for changes.
pub const RELOAD_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// A file modified less than this long ago is re-read even when its modification time and length
/// look unchanged: file systems stamp times with a coarse clock (milliseconds to seconds), so a
/// second write of the same length within one tick would otherwise go unnoticed.
const RACY_WINDOW: Duration = Duration::from_secs(2);

/// Answers location questions from a JSON hierarchy held in memory, like the Location API would.
///
/// When opened from a path, the file is re-read whenever its modification time or length changes
/// (checked at most every [`RELOAD_CHECK_INTERVAL`]), so totals follow the current hierarchy
/// (`docs/api.md` §14.4). Invalid new content is logged and the last good hierarchy kept.
#[derive(Debug)]
pub struct FileLocations {
    current: RwLock<Arc<Tree>>,
    watch: Option<tokio::sync::Mutex<Watch>>,
}

/// What is known about the file on disk, to notice changes cheaply.
#[derive(Debug)]
struct Watch {
    path: PathBuf,
    interval: Duration,
    last_check: Instant,
    stamp: Option<Stamp>,
    text: String,
    problem: Option<String>,
}

/// The parts of a file's metadata that change when it is rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    #[cfg(unix)]
    inode: u64,
}

impl Stamp {
    fn of(metadata: &Metadata) -> Stamp {
        Stamp {
            modified: metadata.modified().ok(),
            len: metadata.len(),
            #[cfg(unix)]
            inode: std::os::unix::fs::MetadataExt::ino(metadata),
        }
    }

    /// Whether the modification time is too recent to trust as a change detector.
    fn is_racy(&self) -> bool {
        let trusted_from = self
            .modified
            .and_then(|modified| modified.checked_add(RACY_WINDOW));
        trusted_from.is_none_or(|trusted_from| trusted_from > SystemTime::now())
    }
}

impl FileLocations {
    /// Reads and indexes the file at `path`, and keeps watching it for changes.
    pub fn open(path: impl AsRef<Path>) -> anyhow::Result<FileLocations> {
        let path = path.as_ref();
        let context = || format!("locations file {}", path.display());
        // Metadata before content: a write in between is then seen as a change at the next check.
        let stamp = Stamp::of(&std::fs::metadata(path).with_context(context)?);
        let text = std::fs::read_to_string(path).with_context(context)?;
        let tree = Tree::from_json(&text).with_context(context)?;
        tracing::info!(path = %path.display(), locations = tree.len(), "locations file loaded");
        Ok(FileLocations {
            current: RwLock::new(Arc::new(tree)),
            watch: Some(tokio::sync::Mutex::new(Watch {
                path: path.to_owned(),
                interval: RELOAD_CHECK_INTERVAL,
                last_check: Instant::now(),
                stamp: Some(stamp),
                text,
                problem: None,
            })),
        })
    }

    /// Indexes a hierarchy given as text (never reloaded), e.g. the embedded demo estate.
    pub fn from_json(text: &str) -> anyhow::Result<FileLocations> {
        Ok(FileLocations {
            current: RwLock::new(Arc::new(Tree::from_json(text)?)),
            watch: None,
        })
    }

    /// Changes how often, at most, the file is checked for changes (default
    /// [`RELOAD_CHECK_INTERVAL`]; `Duration::ZERO` checks on every question).
    pub fn with_check_interval(mut self, interval: Duration) -> FileLocations {
        if let Some(watch) = &mut self.watch {
            watch.get_mut().interval = interval;
        }
        self
    }

    /// The hierarchy to answer from, after a reload if the file changed.
    async fn hierarchy(&self) -> Arc<Tree> {
        self.reload_if_changed().await;
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    async fn reload_if_changed(&self) {
        let Some(watch) = &self.watch else { return };
        // Another request is already checking: answering from the current tree is as good.
        let Ok(mut watch) = watch.try_lock() else {
            return;
        };
        if watch.last_check.elapsed() < watch.interval {
            return;
        }
        watch.last_check = Instant::now();
        match self.check(&mut watch).await {
            Ok(()) => watch.problem = None,
            // Logged once per distinct problem, not at every check while it lasts.
            Err(problem) if watch.problem.as_ref() != Some(&problem) => {
                tracing::warn!(
                    path = %watch.path.display(),
                    error = %problem,
                    "locations file unusable; serving the last good hierarchy"
                );
                watch.problem = Some(problem);
            }
            Err(_) => {}
        }
    }

    async fn check(&self, watch: &mut Watch) -> Result<(), String> {
        let metadata = tokio::fs::metadata(&watch.path).await;
        let stamp = Stamp::of(&metadata.map_err(|e| e.to_string())?);
        if watch.stamp.as_ref() == Some(&stamp) && !stamp.is_racy() {
            return Ok(());
        }
        let text = tokio::fs::read_to_string(&watch.path)
            .await
            .map_err(|e| e.to_string())?;
        watch.stamp = Some(stamp);
        if text == watch.text {
            return Ok(());
        }
        // Remembered even when invalid, so the same bad content is not parsed and logged again.
        watch.text = text;
        let tree = Tree::from_json(&watch.text).map_err(|e| format!("{e:#}"))?;
        tracing::info!(
            path = %watch.path.display(), locations = tree.len(), "locations file reloaded"
        );
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(tree);
        Ok(())
    }
}

#[async_trait::async_trait]
impl LocationSource for FileLocations {
    async fn location(&self, id: &str) -> Result<LocationInfo, LocationError> {
        self.hierarchy()
            .await
            .location(id)
            .ok_or(LocationError::NotFound)
    }

    async fn tree(&self, id: &str, depth_one: bool) -> Result<LocationNode, LocationError> {
        self.hierarchy()
            .await
            .subtree(id, depth_one)
            .ok_or(LocationError::NotFound)
    }

    async fn path(&self, id: &str) -> Result<Vec<LocationInfo>, LocationError> {
        self.hierarchy()
            .await
            .path(id)
            .ok_or(LocationError::NotFound)
    }

    async fn healthy(&self) -> bool {
        true
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    const ESTATE: &str = r#"{
        "id": "UK", "name": "United Kingdom", "roles": ["Region"], "createdAt": "2024-01-01T00:00:00Z",
        "children": [
            {"id": "DC01", "roles": ["DistributionCentre", "TrackedInventoryLocation"], "children": [
                {"id": "WH01", "roles": ["TrackedInventoryLocation"], "children": [
                    {"id": "WH01-Dock", "roles": ["Dock"]}
                ]}
            ]},
            {"id": "Central Store", "roles": ["Shop", "TrackedInventoryLocation"], "children": [
                {"id": "Till 1", "roles": ["Till"], "children": null}
            ]}
        ]
    }"#;

    /// A file under the system temp dir, removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn with(text: &str) -> TempFile {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let name = format!(
                "stock-locations-{}-{}.json",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            let file = TempFile(std::env::temp_dir().join(name));
            file.write(text);
            file
        }

        fn write(&self, text: &str) {
            std::fs::write(&self.0, text).unwrap();
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn ids(path: &[LocationInfo]) -> Vec<&str> {
        path.iter().map(|entry| entry.id.as_str()).collect()
    }

    fn child_ids(node: &LocationNode) -> Vec<&str> {
        node.children
            .iter()
            .map(|child| child.id.as_str())
            .collect()
    }

    #[tokio::test]
    async fn a_known_location_reports_its_tracked_role() {
        let source = FileLocations::from_json(ESTATE).unwrap();
        assert!(source.location("DC01").await.unwrap().tracked);
        assert!(!source.location("UK").await.unwrap().tracked);
        assert!(!source.location("WH01-Dock").await.unwrap().tracked);
    }

    #[tokio::test]
    async fn an_unknown_location_is_not_found_by_every_question() {
        let source = FileLocations::from_json(ESTATE).unwrap();
        assert!(matches!(
            source.location("dc01").await,
            Err(LocationError::NotFound)
        ));
        assert!(matches!(
            source.tree("nope", false).await,
            Err(LocationError::NotFound)
        ));
        assert!(matches!(
            source.path("nope").await,
            Err(LocationError::NotFound)
        ));
    }

    #[tokio::test]
    async fn the_tree_holds_the_whole_subtree_in_file_order() {
        let source = FileLocations::from_json(ESTATE).unwrap();
        let uk = source.tree("UK", false).await.unwrap();
        assert_eq!(child_ids(&uk), ["DC01", "Central Store"]);
        assert_eq!(uk.children[0].children[0].children[0].id, "WH01-Dock");
        let dc = source.tree("DC01", false).await.unwrap();
        assert!(dc.tracked);
        assert_eq!(child_ids(&dc.children[0]), ["WH01-Dock"]);
    }

    #[tokio::test]
    async fn depth_one_stops_below_the_direct_children() {
        let source = FileLocations::from_json(ESTATE).unwrap();
        let uk = source.tree("UK", true).await.unwrap();
        assert_eq!(child_ids(&uk), ["DC01", "Central Store"]);
        assert!(uk.children.iter().all(|child| child.children.is_empty()));
    }

    #[tokio::test]
    async fn the_path_runs_from_the_root_down_to_the_location() {
        let source = FileLocations::from_json(ESTATE).unwrap();
        let path = source.path("WH01-Dock").await.unwrap();
        assert_eq!(ids(&path), ["UK", "DC01", "WH01", "WH01-Dock"]);
        assert_eq!(
            path.iter().map(|e| e.tracked).collect::<Vec<_>>(),
            [false, true, true, false]
        );
        assert_eq!(ids(&source.path("UK").await.unwrap()), ["UK"]);
    }

    #[tokio::test]
    async fn a_location_id_with_spaces_is_served_like_any_other() {
        let source = FileLocations::from_json(ESTATE).unwrap();
        assert!(source.location("Central Store").await.unwrap().tracked);
        let path = source.path("Till 1").await.unwrap();
        assert_eq!(ids(&path), ["UK", "Central Store", "Till 1"]);
        assert_eq!(
            super::super::nearest_tracked_ancestor(&path).unwrap().id,
            "Central Store"
        );
        assert!(source.location("Central%20Store").await.is_err());
    }

    #[tokio::test]
    async fn an_array_of_roots_is_one_estate() {
        let text = r#"[{"id": "UK", "children": [{"id": "A"}]}, {"id": "IE", "roles": null}]"#;
        let source = FileLocations::from_json(text).unwrap();
        assert_eq!(ids(&source.path("A").await.unwrap()), ["UK", "A"]);
        assert_eq!(ids(&source.path("IE").await.unwrap()), ["IE"]);
    }

    #[tokio::test]
    async fn lenient_parsing_ignores_unknown_fields_and_defaults_missing_ones() {
        let text = r#"{"id": "R", "parentId": "x", "roles": null,
            "children": [{"id": "C", "roles": ["TrackedInventoryLocation"], "weird": [1, 2]}]}"#;
        let source = FileLocations::from_json(text).unwrap();
        assert!(!source.location("R").await.unwrap().tracked);
        assert!(source.location("C").await.unwrap().tracked);
    }

    #[test]
    fn duplicate_ids_are_rejected_with_the_id_named() {
        let text = r#"[{"id": "A", "children": [{"id": "B"}]}, {"id": "B"}]"#;
        let error = FileLocations::from_json(text).unwrap_err();
        assert!(
            format!("{error:#}").contains(r#"duplicate location id "B""#),
            "{error:#}"
        );
    }

    #[test]
    fn content_that_is_not_a_hierarchy_is_rejected() {
        for text in ["", "not json", "42", r#""UK""#, r#"[{"id": "A"}, 3]"#] {
            assert!(FileLocations::from_json(text).is_err(), "{text}");
        }
    }

    #[test]
    fn opening_a_missing_file_names_the_file() {
        let error = FileLocations::open("/nonexistent/locations.json").unwrap_err();
        assert!(
            format!("{error:#}").contains("/nonexistent/locations.json"),
            "{error:#}"
        );
    }

    #[tokio::test]
    async fn a_rewritten_file_is_served_at_the_next_check() {
        let file = TempFile::with(r#"{"id": "A", "children": [{"id": "B"}]}"#);
        let source = FileLocations::open(&file.0)
            .unwrap()
            .with_check_interval(Duration::ZERO);
        assert_eq!(ids(&source.path("B").await.unwrap()), ["A", "B"]);
        // Same length, B re-parented: only the content tells the two versions apart.
        file.write(r#"{"id": "B", "children": [{"id": "A"}]}"#);
        assert_eq!(ids(&source.path("B").await.unwrap()), ["B"]);
        assert_eq!(ids(&source.path("A").await.unwrap()), ["B", "A"]);
        file.write(r#"{"id": "B", "children": [{"id": "A"}, {"id": "C"}]}"#);
        assert!(source.location("C").await.is_ok());
    }

    #[tokio::test]
    async fn invalid_new_content_keeps_the_last_good_hierarchy_until_fixed() {
        let file = TempFile::with(r#"{"id": "A"}"#);
        let source = FileLocations::open(&file.0)
            .unwrap()
            .with_check_interval(Duration::ZERO);
        file.write(r#"[{"id": "A"}, {"id": "A"}]"#);
        assert!(source.location("A").await.is_ok());
        file.write("{ truncated");
        assert!(source.location("A").await.is_ok());
        std::fs::remove_file(&file.0).unwrap();
        assert!(source.location("A").await.is_ok());
        file.write(r#"{"id": "Z"}"#);
        assert!(source.location("Z").await.is_ok());
        assert!(source.location("A").await.is_err());
    }

    #[tokio::test]
    async fn the_file_is_not_checked_again_within_the_check_interval() {
        let file = TempFile::with(r#"{"id": "A"}"#);
        let source = FileLocations::open(&file.0)
            .unwrap()
            .with_check_interval(Duration::from_secs(3600));
        file.write(r#"{"id": "Z"}"#);
        assert!(source.location("A").await.is_ok());
        assert!(source.location("Z").await.is_err());
    }

    #[tokio::test]
    async fn a_source_opened_from_text_is_always_healthy() {
        assert!(FileLocations::from_json(ESTATE).unwrap().healthy().await);
    }
}
