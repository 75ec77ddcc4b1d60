//! Choosing the storage driver, as Docker does.
//!
//! 1. An explicit name (`--storage-driver`, else daemon.json `storage-driver`) wins; its
//!    initialisation errors are fatal.
//! 2. Otherwise the driver that already has state under the data root (`<root>/<name>` exists
//!    and is not empty) is used, so images never "disappear"; two with state is an error.
//! 3. Otherwise the first driver of the table (priority order) that this host supports.

use std::path::{Path, PathBuf};

use tracing::{debug, info};

use crate::driver::Driver;
use crate::error::{Error, ErrorKind, Result};
use crate::options::{StorageOpt, parse_storage_opts};

/// What a driver's constructor gets.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// The driver's home, `<data-root>/<name>`.
    pub home: PathBuf,
    /// Its storage options, already stripped of the driver prefix.
    pub options: Vec<StorageOpt>,
}

/// One row of the engine's driver table.
#[derive(Debug, Clone, Copy)]
pub struct DriverEntry {
    /// The name `--storage-driver` takes.
    pub name: &'static str,
    /// Builds the driver; returns `NotSupported` when the host cannot run it.
    pub init: fn(&DriverConfig) -> Result<Box<dyn Driver>>,
}

/// Picks and initialises a driver from `table` (in priority order) for `data_root`.
pub fn select_driver(
    table: &[DriverEntry],
    data_root: &Path,
    requested: Option<&str>,
    storage_opts: &[String],
) -> Result<Box<dyn Driver>> {
    let init = |entry: &DriverEntry| -> Result<Box<dyn Driver>> {
        let config = DriverConfig {
            home: data_root.join(entry.name),
            options: parse_storage_opts(entry.name, storage_opts)?,
        };
        (entry.init)(&config)
    };

    if let Some(name) = requested {
        let entry = table.iter().find(|e| e.name == name).ok_or_else(|| {
            Error::InvalidInput(format!(
                "unknown storage driver {name:?}; available: {}",
                names(table)
            ))
        })?;
        return init(entry);
    }

    let prior: Vec<&DriverEntry> = table
        .iter()
        .filter(|e| has_state(&data_root.join(e.name)))
        .collect();
    match prior.as_slice() {
        [] => {}
        [entry] => {
            info!(
                driver = entry.name,
                "using the storage driver that has state under the data root"
            );
            return init(entry);
        }
        many => {
            let found: Vec<&str> = many.iter().map(|e| e.name).collect();
            return Err(Error::InvalidInput(format!(
                "{} contains state of several storage drivers ({}); choose one with --storage-driver \
                 or \"storage-driver\" in daemon.json",
                data_root.display(),
                found.join(", ")
            )));
        }
    }

    for entry in table {
        match init(entry) {
            Ok(driver) => return Ok(driver),
            Err(e) if e.kind() == ErrorKind::NotSupported => {
                debug!(driver = entry.name, error = %e, "storage driver not supported here");
            }
            Err(e) => return Err(e),
        }
    }
    Err(Error::NotSupported(format!(
        "no supported storage driver on this host; tried: {}",
        names(table)
    )))
}

fn names(table: &[DriverEntry]) -> String {
    table.iter().map(|e| e.name).collect::<Vec<_>>().join(", ")
}

fn has_state(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::CreateOpts;
    use crate::id::LayerId;
    use std::collections::BTreeMap;

    #[derive(Debug)]
    struct Fake(&'static str, PathBuf);

    impl Driver for Fake {
        fn name(&self) -> &'static str {
            self.0
        }
        fn home(&self) -> &Path {
            &self.1
        }
        fn create(&self, _: &LayerId, _: Option<&LayerId>, _: &CreateOpts) -> Result<()> {
            Ok(())
        }
        fn create_rw(&self, _: &LayerId, _: Option<&LayerId>, _: &CreateOpts) -> Result<()> {
            Ok(())
        }
        fn remove(&self, _: &LayerId) -> Result<()> {
            Ok(())
        }
        fn get(&self, _: &LayerId) -> Result<PathBuf> {
            Ok(self.1.clone())
        }
        fn put(&self, _: &LayerId) -> Result<()> {
            Ok(())
        }
        fn exists(&self, _: &LayerId) -> bool {
            false
        }
        fn status(&self) -> Vec<(String, String)> {
            vec![]
        }
        fn metadata(&self, _: &LayerId) -> Result<BTreeMap<String, String>> {
            Ok(BTreeMap::new())
        }
        fn cleanup(&self) -> Result<()> {
            Ok(())
        }
    }

    fn unsupported(_: &DriverConfig) -> Result<Box<dyn Driver>> {
        Err(Error::NotSupported("no".into()))
    }
    fn good_a(c: &DriverConfig) -> Result<Box<dyn Driver>> {
        Ok(Box::new(Fake("a", c.home.clone())))
    }
    fn good_b(c: &DriverConfig) -> Result<Box<dyn Driver>> {
        Ok(Box::new(Fake("b", c.home.clone())))
    }

    const TABLE: &[DriverEntry] = &[
        DriverEntry {
            name: "x",
            init: unsupported,
        },
        DriverEntry {
            name: "a",
            init: good_a,
        },
        DriverEntry {
            name: "b",
            init: good_b,
        },
    ];

    #[test]
    fn first_supported_wins_without_state() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(
            select_driver(TABLE, root.path(), None, &[]).unwrap().name(),
            "a"
        );
    }

    #[test]
    fn explicit_name_wins_and_unknown_lists_available() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(
            select_driver(TABLE, root.path(), Some("b"), &[])
                .unwrap()
                .name(),
            "b"
        );
        let err = select_driver(TABLE, root.path(), Some("zfs"), &[]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("available: x, a, b"), "{err}");
        let err = select_driver(TABLE, root.path(), Some("x"), &[]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotSupported);
    }

    #[test]
    fn prior_state_wins_and_two_states_are_refused() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("b/layer")).unwrap();
        std::fs::create_dir_all(root.path().join("a")).unwrap(); // empty: no state
        assert_eq!(
            select_driver(TABLE, root.path(), None, &[]).unwrap().name(),
            "b"
        );
        std::fs::create_dir_all(root.path().join("a/layer")).unwrap();
        let err = select_driver(TABLE, root.path(), None, &[]).unwrap_err();
        assert!(err.to_string().contains("(a, b)"), "{err}");
    }

    #[test]
    fn options_for_another_driver_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let err = select_driver(TABLE, root.path(), Some("a"), &["b.size=1G".into()]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    }
}
