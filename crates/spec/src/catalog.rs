//! Where validation learns which plugins exist and which parameters they declare.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use ganbench_plugin_api::{Origin, ParamSpec, Registry};

/// The plugins a sweep may name, with their declared parameters.
///
/// The CLI passes its [`Registry`]; tests pass a map of hand-written [`ParamSpec`] lists.
pub trait PluginCatalog {
    /// The declared parameters of `plugin`, or `None` when no such plugin is known.
    fn params(&self, plugin: &str) -> Option<Vec<ParamSpec>>;

    /// The known plugin names, listed in "unknown plugin" errors.
    fn names(&self) -> Vec<String>;
}

impl PluginCatalog for BTreeMap<String, Vec<ParamSpec>> {
    fn params(&self, plugin: &str) -> Option<Vec<ParamSpec>> {
        self.get(plugin).cloned()
    }

    fn names(&self) -> Vec<String> {
        self.keys().cloned().collect()
    }
}

impl PluginCatalog for HashMap<String, Vec<ParamSpec>> {
    fn params(&self, plugin: &str) -> Option<Vec<ParamSpec>> {
        self.get(plugin).cloned()
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.keys().cloned().collect();
        names.sort(); // a stable order for messages
        names
    }
}

/// By name (the active plugin of that name), or by the path of a library already loaded into the
/// registry. Load libraries a sweep names by path before validating it.
impl PluginCatalog for Registry {
    fn params(&self, plugin: &str) -> Option<Vec<ParamSpec>> {
        let by_path = || {
            let path = Path::new(plugin);
            self.entries()
                .iter()
                .rev()
                .find(|e| matches!(&e.origin, Origin::Dynamic(p) if p == path))
        };
        self.find(plugin).or_else(by_path).map(|h| h.params.clone())
    }

    fn names(&self) -> Vec<String> {
        Registry::names(self)
    }
}

impl<C: PluginCatalog + ?Sized> PluginCatalog for &C {
    fn params(&self, plugin: &str) -> Option<Vec<ParamSpec>> {
        (**self).params(plugin)
    }

    fn names(&self) -> Vec<String> {
        (**self).names()
    }
}
