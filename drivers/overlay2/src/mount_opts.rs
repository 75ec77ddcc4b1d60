//! Building overlay mount data that fits in one page.
//!
//! `mount(2)` copies at most one page of option data. Lowers are named through the short
//! `l/<LID>` links, so 128 of them always fit when given relative to the home; with absolute
//! paths under a long data root they may not, and then the mount is made from the home
//! directory with relative paths (see [`crate::mount::mount_overlay_from`]).

use graph::{Error, Result};

/// What one layer mount needs, with lowers as `l/<LID>` entries relative to the home.
#[derive(Debug, Clone)]
pub struct MountSpec<'a> {
    /// The layer id (its directory name under the home).
    pub id: &'a str,
    /// The lower chain, parent first.
    pub lowers: &'a [String],
    /// Mount read-only: the layer's own diff becomes the top lower, no upper or work dir.
    pub read_only: bool,
    /// Prefix the options with `index=off`.
    pub index_off: bool,
}

/// Mount data ready to pass to `mount(2)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountData {
    /// Absolute paths: mount from anywhere.
    Absolute(String),
    /// Paths relative to the home: mount from a thread whose working directory is the home.
    Relative(String),
}

/// Builds the mount data for `spec` under `home`, absolute if it fits in `page_size - 1`
/// bytes, else relative; an error if even that is too long. With `home` `None` (a path that
/// cannot be written into mount options) only relative data is built.
pub fn build(home: Option<&str>, spec: &MountSpec<'_>, page_size: usize) -> Result<MountData> {
    if let Some(home) = home {
        let absolute = render(&format!("{home}/"), spec);
        if absolute.len() < page_size {
            return Ok(MountData::Absolute(absolute));
        }
    }
    let relative = render("", spec);
    if relative.len() < page_size {
        return Ok(MountData::Relative(relative));
    }
    Err(Error::InvalidInput(format!(
        "overlay2: cannot mount layer {}: mount options too long ({} bytes, page size {page_size})",
        spec.id,
        relative.len()
    )))
}

fn render(prefix: &str, spec: &MountSpec<'_>) -> String {
    let mut lowerdir: Vec<String> = Vec::with_capacity(spec.lowers.len() + 1);
    if spec.read_only {
        lowerdir.push(format!("{prefix}{}/diff", spec.id));
    }
    lowerdir.extend(spec.lowers.iter().map(|l| format!("{prefix}{l}")));
    let mut data = String::new();
    if spec.index_off {
        data.push_str("index=off,");
    }
    data.push_str("lowerdir=");
    data.push_str(&lowerdir.join(":"));
    if !spec.read_only {
        data.push_str(&format!(
            ",upperdir={prefix}{id}/diff,workdir={prefix}{id}/work",
            id = spec.id
        ));
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lowers(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("l/{:A>26}", i)).collect()
    }

    #[test]
    fn short_home_gives_absolute_options() {
        let l = lowers(2);
        let spec = MountSpec {
            id: "abc",
            lowers: &l,
            read_only: false,
            index_off: true,
        };
        let MountData::Absolute(data) = build(Some("/h"), &spec, 4096).unwrap() else {
            panic!("want absolute");
        };
        assert_eq!(
            data,
            format!(
                "index=off,lowerdir=/h/{}:/h/{},upperdir=/h/abc/diff,workdir=/h/abc/work",
                l[0], l[1]
            )
        );
    }

    #[test]
    fn read_only_mounts_put_own_diff_first_and_have_no_upper() {
        let l = lowers(1);
        let spec = MountSpec {
            id: "abc",
            lowers: &l,
            read_only: true,
            index_off: false,
        };
        assert_eq!(
            build(Some("/h"), &spec, 4096).unwrap(),
            MountData::Absolute(format!("lowerdir=/h/abc/diff:/h/{}", l[0]))
        );
    }

    #[test]
    fn long_home_with_128_lowers_falls_back_to_relative() {
        let l = lowers(128);
        let home = format!("/{}", "x".repeat(200));
        let spec = MountSpec {
            id: &"f".repeat(64),
            lowers: &l,
            read_only: false,
            index_off: true,
        };
        match build(Some(&home), &spec, 4096).unwrap() {
            MountData::Relative(data) => {
                assert!(data.len() < 4096);
                assert!(data.contains(&format!("lowerdir={}:", l[0])), "{data}");
            }
            other => panic!("want relative, got {other:?}"),
        }
        // Read-only with its own diff on top fits too.
        let ro = MountSpec {
            read_only: true,
            ..spec.clone()
        };
        assert!(matches!(
            build(Some(&home), &ro, 4096).unwrap(),
            MountData::Relative(_)
        ));
    }

    #[test]
    fn too_long_even_relative_is_an_error() {
        let l = lowers(200);
        let spec = MountSpec {
            id: "a",
            lowers: &l,
            read_only: false,
            index_off: false,
        };
        assert!(build(Some("/h"), &spec, 4096).is_err());
    }
}
