//! Finding the command inside the container, with the container's `PATH`, and turning an
//! `execve` failure into Docker's message and exit code.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::Error;

/// Resolves `command` like Go's `exec.LookPath` (which runc uses): a name with a `/` is taken
/// as is (it must exist); otherwise the first executable regular file in `path_env` wins.
pub(crate) fn find_command(command: &str, path_env: &str) -> Result<PathBuf, Error> {
    if command.contains('/') {
        return match std::fs::metadata(command) {
            Ok(_) => Ok(PathBuf::from(command)),
            Err(e) => Err(Error::CommandNotFound {
                command: command.to_string(),
                reason: format!("stat {command}: {}", describe(e.raw_os_error())),
            }),
        };
    }
    for dir in path_env.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(command);
        if let Ok(meta) = std::fs::metadata(&candidate)
            && meta.is_file()
            && meta.permissions().mode() & 0o111 != 0
        {
            return Ok(candidate);
        }
    }
    Err(Error::CommandNotFound {
        command: command.to_string(),
        reason: "executable file not found in $PATH".into(),
    })
}

/// The error for a failed `execve` of `command`.
pub(crate) fn exec_error(command: &str, errno: i32) -> Error {
    let reason = describe(Some(errno));
    if errno == libc::ENOENT {
        Error::CommandNotFound {
            command: command.to_string(),
            reason,
        }
    } else {
        Error::NotExecutable {
            command: command.to_string(),
            reason,
        }
    }
}

/// Go's lower-case errno texts, which Docker's messages carry.
fn describe(errno: Option<i32>) -> String {
    match errno {
        Some(libc::ENOENT) => "no such file or directory".into(),
        Some(libc::EACCES) => "permission denied".into(),
        Some(libc::ENOEXEC) => "exec format error".into(),
        Some(libc::EISDIR) => "is a directory".into(),
        Some(libc::ENOTDIR) => "not a directory".into(),
        Some(n) => std::io::Error::from_raw_os_error(n).to_string(),
        None => "unknown error".into(),
    }
}

/// The value of `key` in `KEY=value` pairs (the last one wins, as in a shell).
pub(crate) fn env_value<'a>(env: &'a [String], key: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find_map(|e| e.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use std::fs;

    #[test]
    fn path_lookup() {
        let d = tempfile::tempdir().unwrap();
        let bin = d.path().join("bin");
        let other = d.path().join("other");
        fs::create_dir_all(&bin).unwrap();
        fs::create_dir_all(&other).unwrap();
        fs::write(other.join("tool"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(other.join("tool"), fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(bin.join("tool"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(bin.join("tool"), fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!("{}:{}", other.display(), bin.display());
        // The non-executable match earlier in PATH is skipped.
        assert_eq!(find_command("tool", &path).unwrap(), bin.join("tool"));

        let e = find_command("nope", &path).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::CommandNotFound);
        assert_eq!(
            e.to_string(),
            "exec: \"nope\": executable file not found in $PATH"
        );

        let abs = d.path().join("missing");
        let e = find_command(abs.to_str().unwrap(), &path).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "exec: \"{0}\": stat {0}: no such file or directory",
                abs.display()
            )
        );
        assert_eq!(
            exec_error("/etc/passwd", libc::EACCES).exit_code(),
            Some(126)
        );
        assert_eq!(
            exec_error("/etc/passwd", libc::EACCES).to_string(),
            "exec: \"/etc/passwd\": permission denied"
        );
    }

    #[test]
    fn env_lookup() {
        let env = vec!["PATH=/a".to_string(), "PATHX=1".into(), "PATH=/b".into()];
        assert_eq!(env_value(&env, "PATH"), Some("/b"));
        assert_eq!(env_value(&env, "HOME"), None);
    }
}
