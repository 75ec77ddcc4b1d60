//! Reference counting and removal rules of the driver contract.

use std::fs;

use crate::error::ErrorKind;

use super::content::{read, write_file};
use super::fixture::{Factory, Store, id};

/// Two `get`s return the same path; after one `put` the layer is still readable through it;
/// once the `put`s balance the `get`s the layer can be removed.
pub fn get_put_refcount(factory: Factory<'_>) {
    let Some(s) = Store::new(factory, "get-put") else {
        return;
    };
    let d = s.d();
    let base = id("base");
    let layer = id("layer");
    s.create(&base, None);
    {
        let m = s.mount(&base);
        write_file(&m.join("from-base"), b"base", 0o644);
    }
    s.create_rw(&layer, Some(&base));

    let first = d.get(&layer).unwrap_or_else(|e| panic!("get 1: {e}"));
    let second = d.get(&layer).unwrap_or_else(|e| panic!("get 2: {e}"));
    assert_eq!(
        first, second,
        "two gets of one layer return different paths"
    );
    write_file(&first.join("from-layer"), b"layer", 0o644);
    d.put(&layer).unwrap_or_else(|e| panic!("put 1: {e}"));
    assert_eq!(
        read(&second.join("from-layer")),
        b"layer",
        "the layer is unreadable after one put while another get holds it"
    );
    assert_eq!(read(&second.join("from-base")), b"base");
    d.put(&layer).unwrap_or_else(|e| panic!("put 2: {e}"));

    {
        let m = s.mount(&layer);
        assert_eq!(read(&m.join("from-layer")), b"layer", "written data lost");
    }
    if let Err(e) = d.remove(&layer) {
        panic!("remove after balanced get/put failed ({:?}): {e}", e.kind());
    }
    assert!(!d.exists(&layer), "exists after remove");
}

/// Removing a mounted layer fails with `Busy` and leaves it intact; after `put` it removes.
pub fn remove_while_mounted(factory: Factory<'_>) {
    let Some(s) = Store::new(factory, "remove-mounted") else {
        return;
    };
    let d = s.d();
    let base = id("base");
    let layer = id("layer");
    s.create(&base, None);
    s.create_rw(&layer, Some(&base));
    {
        let m = s.mount(&layer);
        write_file(&m.join("f"), b"data", 0o644);
        match d.remove(&layer) {
            Ok(()) => panic!("remove of a mounted layer succeeded; it must fail with Busy"),
            Err(e) => assert_eq!(e.kind(), ErrorKind::Busy, "remove of a mounted layer: {e}"),
        }
        assert!(d.exists(&layer), "a refused remove deleted the layer");
        assert_eq!(
            read(&m.join("f")),
            b"data",
            "a refused remove damaged the layer"
        );
    }
    s.remove(&layer);
    assert!(!d.exists(&layer), "exists after remove");
}

/// Removing a layer that does not exist succeeds, as in Docker.
pub fn remove_missing_is_ok(factory: Factory<'_>) {
    let Some(s) = Store::new(factory, "remove-missing") else {
        return;
    };
    let missing = id("never-created");
    if let Err(e) = s.d().remove(&missing) {
        panic!("remove of a missing layer: {e}");
    }
    assert!(!s.d().exists(&missing));
}

/// After `remove`, `exists` is false, `get` fails with NotFound, and the id can be reused.
pub fn exists_after_remove_is_false(factory: Factory<'_>) {
    let Some(s) = Store::new(factory, "exists-after-remove") else {
        return;
    };
    let d = s.d();
    let base = id("base");
    let layer = id("layer");
    s.create(&base, None);
    s.create(&layer, Some(&base));
    {
        let m = s.mount(&layer);
        write_file(&m.join("old"), b"old", 0o644);
    }
    s.remove(&layer);
    assert!(!d.exists(&layer), "exists after remove");
    match d.get(&layer) {
        Ok(p) => {
            let _ = d.put(&layer);
            panic!("get of a removed layer returned {}", p.display());
        }
        Err(e) => assert_eq!(e.kind(), ErrorKind::NotFound, "get of a removed layer: {e}"),
    }
    s.create(&layer, Some(&base));
    let m = s.mount(&layer);
    assert!(
        fs::symlink_metadata(m.join("old")).is_err(),
        "a layer re-created with a removed layer's id sees the removed layer's files"
    );
}

/// containerd `RemoveIntermediateSnapshot`: removing a layer that has a child is either
/// refused (the layer stays) or safe: the child still reads every file of its chain.
pub fn remove_intermediate_layer_is_refused_or_safe(factory: Factory<'_>) {
    let Some(s) = Store::new(factory, "remove-intermediate") else {
        return;
    };
    let d = s.d();
    let (base, mid, top) = (id("base"), id("mid"), id("top"));
    s.create(&base, None);
    {
        let m = s.mount(&base);
        write_file(&m.join("base"), b"base", 0o644);
    }
    s.create(&mid, Some(&base));
    {
        let m = s.mount(&mid);
        write_file(&m.join("mid"), b"mid", 0o644);
    }
    s.create_rw(&top, Some(&mid));
    {
        let m = s.mount(&top);
        write_file(&m.join("top"), b"top", 0o644);
    }
    match d.remove(&mid) {
        Err(e) => assert!(
            d.exists(&mid),
            "remove of {mid} failed ({e}) but removed it"
        ),
        Ok(()) => assert!(!d.exists(&mid), "remove of {mid} succeeded but it exists"),
    }
    let m = match d.get(&top) {
        Ok(_) => s.mount(&top),
        Err(e) => panic!("after removing its parent, the child layer cannot be mounted: {e}"),
    };
    // The probe get above holds a reference of its own.
    let _ = d.put(&top);
    for (name, want) in [("base", "base"), ("mid", "mid"), ("top", "top")] {
        match fs::read(m.join(name)) {
            Ok(got) => assert_eq!(got, want.as_bytes(), "{name} in the child"),
            Err(e) => panic!("after removing its parent, the child cannot read {name}: {e}"),
        }
    }
}
