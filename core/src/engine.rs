//! The engine's stores, opened over the chosen storage driver.

use std::sync::Arc;

use anyhow::{Context, Result};
use graph::image::ImageStore;
use graph::{Driver, LayerStore};

use crate::config::Settings;
use crate::drivers;

/// The open engine: settings, driver and layer store.
#[derive(Debug)]
pub struct Engine {
    /// Flags over daemon.json over defaults.
    pub settings: Settings,
    /// The storage driver in use.
    pub driver: Arc<dyn Driver>,
    /// The layers, on that driver.
    pub layers: LayerStore,
    /// The images, and the names that point at them.
    pub images: ImageStore,
}

impl Engine {
    /// Picks the driver and opens the stores under the data root.
    pub fn open(settings: Settings) -> Result<Self> {
        let root = &settings.data_root;
        std::fs::create_dir_all(root)
            .with_context(|| format!("creating data root {}", root.display()))?;
        let driver: Arc<dyn Driver> = Arc::from(graph::select_driver(
            drivers::table(),
            root,
            settings.storage_driver.as_deref(),
            &settings.storage_opts,
        )?);
        let image_root = root.join("image").join(driver.name());
        let layers = LayerStore::open(&image_root, Arc::clone(&driver))?;
        let images = ImageStore::open(&image_root, layers.clone())?;
        let engine = Engine {
            settings,
            driver,
            layers,
            images,
        };
        crate::sweep::run(&engine);
        Ok(engine)
    }

    /// The stores, as `distribution` (pull, load, import) writes into them.
    pub fn stores(&self) -> distribution::Stores<'_> {
        distribution::Stores {
            layers: &self.layers,
            images: &self.images,
            data_root: &self.settings.data_root,
            driver: self.driver.name(),
        }
    }
}
