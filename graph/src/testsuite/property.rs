//! Property tests: a layer's diff, applied in a fresh store, rebuilds the same tree.
//!
//! A random base layer and a random sequence of [`FsOp`]s on a read-write child of it are made
//! in one store; the base's full diff and the child's diff against the base are then applied in
//! a fresh store (same driver or another one) and the child's tree must be identical there
//! ([`snapshot_tree`], mtimes to the second). proptest drives it through its `TestRunner`, so
//! a driver's tests need no proptest of their own; a failure is shrunk to a minimal sequence.

use std::cell::Cell;
use std::sync::Once;

use proptest::collection::vec;
use proptest::test_runner::{Config, TestRunner};

use crate::id::LayerId;

use super::fixture::{Factory, Store, id};
use super::fs_ops::{FsOp, base_op, child_op};
use super::tree_snapshot::{Tree, assert_trees_eq, snapshot_tree};

/// The diff of a child layer, applied by the same driver in a fresh store, rebuilds the
/// child's tree exactly. Runs `cases` random cases.
pub fn diff_roundtrip(factory: Factory<'_>, cases: u32) {
    run("diff_roundtrip", factory, factory, cases);
}

/// The same random operations done on a layer of driver A, diffed, and applied on driver B
/// give identical trees: A's diffs mean the same to B.
pub fn cross_driver_same_tree(factory_a: Factory<'_>, factory_b: Factory<'_>, cases: u32) {
    run("cross_driver_same_tree", factory_a, factory_b, cases);
}

/// Runs `cases` cases, or `$ENGINE_PROPTEST_CASES` when set (for longer soak runs).
fn run(name: &str, source: Factory<'_>, target: Factory<'_>, cases: u32) {
    let cases = std::env::var("ENGINE_PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 128,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let strategy = (vec(base_op(), 0..10), vec(child_op(), 1..12));
    install_quiet_panic_hook();
    QUIET_PANICS.with(|q| q.set(true));
    let result = runner.run(&strategy, |(base_ops, child_ops)| {
        one_case(source, target, &base_ops, &child_ops);
        Ok(())
    });
    QUIET_PANICS.with(|q| q.set(false));
    // The error carries the minimal failing input and its panic message.
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
}

thread_local! {
    /// Set while this thread runs proptest cases: a failing case panics once per shrinking
    /// step, and the final report already holds the minimal case's message.
    static QUIET_PANICS: Cell<bool> = const { Cell::new(false) };
}

/// Wraps the panic hook (once per process) so panics on a thread running proptest cases are
/// not printed; every other thread's panics print as before.
fn install_quiet_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET_PANICS.with(|q| q.get()) {
                previous(info);
            }
        }));
    });
}

/// Builds base and child with `source`, re-applies their diffs with `target`, compares.
fn one_case(source: Factory<'_>, target: Factory<'_>, base_ops: &[FsOp], child_ops: &[FsOp]) {
    let Some(src) = Store::new(source, "prop-src") else {
        return;
    };
    let (base, child) = (id("base"), id("child"));
    src.create(&base, None);
    {
        let m = src.mount(&base);
        base_ops.iter().for_each(|op| op.apply(m.path()));
    }
    src.create_rw(&child, Some(&base));
    {
        let m = src.mount(&child);
        child_ops.iter().for_each(|op| op.apply(m.path()));
    }
    let base_tar = diff(&src, &base, None);
    let child_tar = diff(&src, &child, Some(&base));
    let want_base = tree(&src, &base);
    let want_child = tree(&src, &child);

    let Some(dst) = Store::new(target, "prop-dst") else {
        return;
    };
    let (base2, child2) = (id("base-copy"), id("child-copy"));
    dst.create(&base2, None);
    apply(&dst, &base2, None, &base_tar);
    dst.create(&child2, Some(&base2));
    apply(&dst, &child2, Some(&base2), &child_tar);
    let (s, t) = (src.d().name(), dst.d().name());
    assert_trees_eq(
        &want_base,
        &tree(&dst, &base2),
        &format!("base: left {s} original, right its diff applied by {t}"),
    );
    assert_trees_eq(
        &want_child,
        &tree(&dst, &child2),
        &format!("child: left {s} original, right its diff applied by {t}"),
    );
}

fn diff(s: &Store, layer: &LayerId, parent: Option<&LayerId>) -> Vec<u8> {
    let mut out = Vec::new();
    if let Err(e) = s.d().diff(layer, parent, &mut out) {
        panic!("{}: diff({layer}, {parent:?}): {e}", s.d().name());
    }
    out
}

fn apply(s: &Store, layer: &LayerId, parent: Option<&LayerId>, tar: &[u8]) {
    if let Err(e) = s.d().apply_diff(layer, parent, &mut &tar[..]) {
        panic!("{}: apply_diff({layer}, {parent:?}): {e}", s.d().name());
    }
}

fn tree(s: &Store, layer: &LayerId) -> Tree {
    let m = s.mount(layer);
    snapshot_tree(m.path())
}
