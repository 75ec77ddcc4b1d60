//! Resolving Docker's `-u USER[:GROUP]` against the container's own /etc/passwd and
//! /etc/group (never the host's).

use std::path::{Path, PathBuf};

use crate::securejoin::secure_join;
use crate::{Error, Result};

/// The identity a container process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user id.
    pub uid: u32,
    /// The primary group id.
    pub gid: u32,
    /// Supplementary group ids (the /etc/group entries listing the user).
    pub additional_gids: Vec<u32>,
    /// The home directory from /etc/passwd, used for `HOME` when the environment has none.
    pub home: Option<PathBuf>,
}

impl User {
    /// root (0:0), with home `/root`.
    pub fn root() -> User {
        User {
            uid: 0,
            gid: 0,
            additional_gids: Vec::new(),
            home: Some(PathBuf::from("/root")),
        }
    }
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Resolves `spec` ("", "name", "uid", "name:group", "uid:gid", mixed) in the rootfs's
/// /etc/passwd and /etc/group, as Docker does: a name must exist; a number need not (a uid
/// without an entry gets gid 0); the supplementary groups are those listing the user.
pub fn resolve_user(rootfs: &Path, spec: &str) -> Result<User> {
    let passwd = read_db(rootfs, "/etc/passwd")?;
    let group = read_db(rootfs, "/etc/group")?;
    resolve_in(
        spec,
        passwd.as_deref().unwrap_or(""),
        group.as_deref().unwrap_or(""),
    )
}

/// Adds `--group-add` groups (names looked up in the rootfs's /etc/group, or numbers) to
/// `user`'s supplementary groups, as Docker does.
pub fn add_groups(rootfs: &Path, user: &mut User, groups: &[String]) -> Result<()> {
    if groups.is_empty() {
        return Ok(());
    }
    let group = read_db(rootfs, "/etc/group")?;
    add_groups_in(user, groups, group.as_deref().unwrap_or(""))
}

fn add_groups_in(user: &mut User, groups: &[String], group: &str) -> Result<()> {
    let entries = parse_group(group);
    for g in groups {
        let gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                entries
                    .iter()
                    .find(|e| e.name == *g)
                    .ok_or_else(|| Error::UserNotFound {
                        what: format!("group {g}"),
                        file: "group",
                    })?
                    .gid
            }
        };
        if !user.additional_gids.contains(&gid) {
            user.additional_gids.push(gid);
        }
    }
    Ok(())
}

fn read_db(rootfs: &Path, path: &str) -> Result<Option<String>> {
    let host = secure_join(rootfs, Path::new(path))?;
    match std::fs::read_to_string(&host) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", host, e)),
    }
}

/// The parsing and lookup, on file contents (testable without a rootfs).
fn resolve_in(spec: &str, passwd: &str, group: &str) -> Result<User> {
    let users = parse_passwd(passwd);
    let groups = parse_group(group);
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };

    let (uid, entry) =
        match user_part.parse::<u32>() {
            Ok(uid) => (uid, users.iter().find(|u| u.uid == uid)),
            Err(_) => {
                let e = users.iter().find(|u| u.name == user_part).ok_or_else(|| {
                    Error::UserNotFound {
                        what: format!("user {user_part}"),
                        file: "passwd",
                    }
                })?;
                (e.uid, Some(e))
            }
        };
    let mut gid = entry.map(|e| e.gid).unwrap_or(0);
    if let Some(g) = group_part.filter(|g| !g.is_empty()) {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                groups
                    .iter()
                    .find(|e| e.name == g)
                    .ok_or_else(|| Error::UserNotFound {
                        what: format!("group {g}"),
                        file: "group",
                    })?
                    .gid
            }
        };
    }
    let mut additional_gids = Vec::new();
    if let Some(e) = entry {
        for g in &groups {
            if g.members.contains(&e.name) && !additional_gids.contains(&g.gid) {
                additional_gids.push(g.gid);
            }
        }
    }
    let home = entry
        .map(|e| PathBuf::from(&e.home))
        .or_else(|| Some(PathBuf::from("/")));
    Ok(User {
        uid,
        gid,
        additional_gids,
        home,
    })
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(PasswdEntry {
                name: f.first()?.to_string(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f.get(5).map(|s| s.to_string()).unwrap_or_default(),
            })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(GroupEntry {
                name: f.first()?.to_string(),
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                          app:x:1000:1000:App:/home/app:/bin/sh\n\
                          # comment\n\
                          broken line\n";
    const GROUP: &str = "root:x:0:\nstaff:x:50:app,other\napp:x:1000:\nwheel:x:10:root\n";

    #[test]
    fn names_and_numbers() {
        let u = resolve_in("app", PASSWD, GROUP).unwrap();
        assert_eq!(
            (u.uid, u.gid, u.additional_gids.clone()),
            (1000, 1000, vec![50])
        );
        assert_eq!(u.home.as_deref(), Some(Path::new("/home/app")));

        let u = resolve_in("app:staff", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 50));

        let u = resolve_in("1000:7", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 7));

        // A uid without an entry is allowed, with gid 0 and home /.
        let u = resolve_in("4242", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid), (4242, 0));
        assert_eq!(u.home.as_deref(), Some(Path::new("/")));

        let u = resolve_in("", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid, u.additional_gids), (0, 0, vec![10]));
    }

    #[test]
    fn group_add_takes_names_and_numbers() {
        let mut u = resolve_in("app", PASSWD, GROUP).unwrap();
        add_groups_in(
            &mut u,
            &["wheel".into(), "4242".into(), "staff".into()],
            GROUP,
        )
        .unwrap();
        assert_eq!(u.additional_gids, vec![50, 10, 4242]);
        let e = add_groups_in(&mut u, &["nogroup".into()], GROUP).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unable to find group nogroup: no matching entries in group file"
        );
    }

    #[test]
    fn unknown_names_fail_like_docker() {
        let e = resolve_in("nobody", PASSWD, GROUP).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(
            e.to_string(),
            "unable to find user nobody: no matching entries in passwd file"
        );
        let e = resolve_in("app:nogroup", PASSWD, GROUP).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unable to find group nogroup: no matching entries in group file"
        );
        // No passwd file at all: names fail, numbers work.
        assert!(resolve_in("app", "", "").is_err());
        assert_eq!(resolve_in("5:6", "", "").unwrap().gid, 6);
    }
}
