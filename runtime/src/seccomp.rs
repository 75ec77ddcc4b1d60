//! Seccomp: profiles in Docker's JSON format, compiled to a BPF program in the parent and
//! loaded by the container process just before `execve`.
//!
//! [`Profile::docker_default`] is Docker's default profile (moby/profiles, Apache-2.0), kept as
//! the JSON file Docker ships so a user's `--security-opt seccomp=PROFILE.json` and the default
//! go through the same code. Compiling resolves what depends on the container: rules that
//! `includes`/`excludes` capabilities (against the bounding set, as Docker does), architectures
//! and a minimum kernel. libseccomp does the name-to-number mapping and the BPF generation; the
//! child only calls `prctl(PR_SET_SECCOMP)` on the bytes, so nothing allocates after the fork.

use std::io::{Read, Seek};
use std::os::fd::FromRawFd;

use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext};
use serde::Deserialize;

use crate::caps::CapSet;
use crate::{Error, Result};

const DOCKER_DEFAULT: &str = include_str!("seccomp/docker-default.json");

/// A seccomp profile in Docker's format (`defaultAction`, `syscalls`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    default_action: String,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    architectures: Vec<String>,
    #[serde(default)]
    arch_map: Vec<ArchMap>,
    #[serde(default)]
    syscalls: Vec<SyscallRule>,
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    listener_path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMap {
    architecture: String,
    #[serde(default)]
    sub_architectures: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SyscallRule {
    #[serde(default)]
    name: String,
    #[serde(default)]
    names: Vec<String>,
    action: String,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<Arg>>,
    #[serde(default)]
    includes: Filter,
    #[serde(default)]
    excludes: Filter,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Arg {
    index: u32,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    arches: Option<Vec<String>>,
    #[serde(default)]
    caps: Option<Vec<String>>,
    #[serde(default)]
    min_kernel: Option<String>,
}

/// A compiled filter: the BPF program, ready for `prctl(PR_SET_SECCOMP)`.
#[derive(Clone)]
pub struct Program(Vec<libc::sock_filter>);

impl Program {
    fn words(&self) -> impl Iterator<Item = (u16, u8, u8, u32)> + '_ {
        self.0.iter().map(|i| (i.code, i.jt, i.jf, i.k))
    }
}

impl PartialEq for Program {
    fn eq(&self, other: &Self) -> bool {
        self.words().eq(other.words())
    }
}

impl Eq for Program {}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Program({} instructions)", self.0.len())
    }
}

impl Profile {
    /// Docker's default profile.
    pub fn docker_default() -> Profile {
        #[allow(clippy::expect_used)] // a file of this crate, parsed by a unit test
        serde_json::from_str(DOCKER_DEFAULT).expect("the bundled default seccomp profile parses")
    }

    /// Parses a profile in Docker's JSON format (what `--security-opt seccomp=FILE` reads).
    pub fn from_json(text: &str) -> Result<Profile> {
        let p: Profile = serde_json::from_str(text)
            .map_err(|e| Error::InvalidInput(format!("invalid seccomp profile: {e}")))?;
        action(&p.default_action, p.default_errno_ret)?;
        if !p.listener_path.is_empty() {
            return Err(Error::InvalidInput(
                "seccomp profile: listenerPath (SCMP_ACT_NOTIFY) is not supported".into(),
            ));
        }
        if let Some(f) = p.flags.first() {
            return Err(Error::InvalidInput(format!(
                "seccomp profile: flag {f} is not supported"
            )));
        }
        for rule in &p.syscalls {
            action(&rule.action, rule.errno_ret)?;
            for arg in rule.args.iter().flatten() {
                compare(arg)?;
            }
        }
        Ok(p)
    }

    /// Compiles the profile for a process whose bounding set is `bounding`, on this machine's
    /// architecture and kernel.
    pub fn compile(&self, bounding: CapSet) -> Result<Program> {
        let fail = |what: &str, e: libseccomp::error::SeccompError| {
            Error::InvalidInput(format!("seccomp profile: {what}: {e}"))
        };
        let default = action(&self.default_action, self.default_errno_ret)?;
        let mut ctx = ScmpFilterContext::new(default).map_err(|e| fail("create filter", e))?;
        for arch in self.arches() {
            ctx.add_arch(arch)
                .map_err(|e| fail("add architecture", e))?;
        }
        let kernel = kernel_version();
        for rule in &self.syscalls {
            if !applies(rule, bounding, kernel) {
                continue;
            }
            let act = action(&rule.action, rule.errno_ret)?;
            if act == default {
                // libseccomp refuses a rule that repeats the default; it changes nothing.
                continue;
            }
            let names = rule
                .names
                .iter()
                .chain(std::iter::once(&rule.name).filter(|n| !n.is_empty()));
            for name in names {
                // A syscall this architecture or libseccomp does not know is skipped, as
                // Docker does: profiles list syscalls of every architecture.
                let Ok(nr) = libseccomp::ScmpSyscall::from_name(name) else {
                    continue;
                };
                add_rule(&mut ctx, act, nr, rule.args.as_deref().unwrap_or(&[]))
                    .map_err(|e| fail(&format!("rule for {name}"), e))?;
            }
        }
        export(&ctx)
    }

    /// The native architecture and the ones the profile maps it to (x86_64 also runs x86 and
    /// x32 code).
    fn arches(&self) -> Vec<ScmpArch> {
        let native = ScmpArch::native();
        let native_name = arch_name(native);
        let mut names: Vec<String> = Vec::new();
        for m in &self.arch_map {
            if m.architecture == native_name {
                names.extend(m.sub_architectures.iter().flatten().cloned());
            }
        }
        names.extend(self.architectures.iter().cloned());
        let mut out = Vec::new();
        for n in names {
            if n == native_name {
                continue;
            }
            if let Ok(a) = n.trim_start_matches("SCMP_ARCH_").parse::<ScmpArch>()
                && !out.contains(&a)
            {
                out.push(a);
            }
        }
        out
    }
}

fn add_rule(
    ctx: &mut ScmpFilterContext,
    act: ScmpAction,
    nr: libseccomp::ScmpSyscall,
    args: &[Arg],
) -> std::result::Result<(), libseccomp::error::SeccompError> {
    if args.is_empty() {
        ctx.add_rule(act, nr)?;
        return Ok(());
    }
    let conds: Vec<ScmpArgCompare> = args.iter().filter_map(|a| compare(a).ok()).collect();
    let mut indexes: Vec<u32> = args.iter().map(|a| a.index).collect();
    indexes.sort_unstable();
    indexes.dedup();
    if indexes.len() == args.len() {
        ctx.add_rule_conditional(act, nr, &conds)?;
    } else {
        // libseccomp cannot AND two conditions on one argument: each becomes its own rule, as
        // runc does.
        for c in conds {
            ctx.add_rule_conditional(act, nr, &[c])?;
        }
    }
    Ok(())
}

fn applies(rule: &SyscallRule, bounding: CapSet, kernel: (u32, u32)) -> bool {
    let native = go_arch();
    let has = |name: &String| CapSet::parse_name(name).is_ok_and(|c| bounding.contains(c));
    if let Some(arches) = &rule.includes.arches
        && !arches.iter().any(|a| a == native)
    {
        return false;
    }
    if let Some(caps) = &rule.includes.caps
        && !caps.iter().all(has)
    {
        return false;
    }
    if let Some(min) = &rule.includes.min_kernel
        && parse_kernel(min).is_some_and(|m| kernel < m)
    {
        return false;
    }
    if let Some(arches) = &rule.excludes.arches
        && arches.iter().any(|a| a == native)
    {
        return false;
    }
    if let Some(caps) = &rule.excludes.caps
        && caps.iter().any(has)
    {
        return false;
    }
    true
}

fn action(name: &str, errno: Option<u32>) -> Result<ScmpAction> {
    let errno = errno.unwrap_or(libc::EPERM as u32) as i32;
    Ok(match name {
        "SCMP_ACT_ALLOW" => ScmpAction::Allow,
        "SCMP_ACT_ERRNO" => ScmpAction::Errno(errno),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => ScmpAction::KillThread,
        "SCMP_ACT_KILL_PROCESS" => ScmpAction::KillProcess,
        "SCMP_ACT_TRAP" => ScmpAction::Trap,
        "SCMP_ACT_TRACE" => ScmpAction::Trace(errno as u16),
        "SCMP_ACT_LOG" => ScmpAction::Log,
        other => {
            return Err(Error::InvalidInput(format!(
                "seccomp profile: action {other:?} is not supported"
            )));
        }
    })
}

fn compare(a: &Arg) -> Result<ScmpArgCompare> {
    let (op, datum) = match a.op.as_str() {
        "SCMP_CMP_NE" => (ScmpCompareOp::NotEqual, a.value),
        "SCMP_CMP_LT" => (ScmpCompareOp::Less, a.value),
        "SCMP_CMP_LE" => (ScmpCompareOp::LessOrEqual, a.value),
        "SCMP_CMP_EQ" => (ScmpCompareOp::Equal, a.value),
        "SCMP_CMP_GE" => (ScmpCompareOp::GreaterEqual, a.value),
        "SCMP_CMP_GT" => (ScmpCompareOp::Greater, a.value),
        // Docker's MASKED_EQ: `value` is the mask, `valueTwo` what the masked argument equals.
        "SCMP_CMP_MASKED_EQ" => (ScmpCompareOp::MaskedEqual(a.value), a.value_two),
        other => {
            return Err(Error::InvalidInput(format!(
                "seccomp profile: operator {other:?} is not supported"
            )));
        }
    };
    Ok(ScmpArgCompare::new(a.index, op, datum))
}

fn export(ctx: &ScmpFilterContext) -> Result<Program> {
    // SAFETY: memfd_create with a static name and flags; the descriptor is owned right away.
    let fd = unsafe { libc::memfd_create(c"seccomp".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(Error::io(
            "create memfd for",
            "seccomp",
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: `fd` was just returned by memfd_create and is not owned elsewhere.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    ctx.export_bpf(&file)
        .map_err(|e| Error::InvalidInput(format!("seccomp profile: export: {e}")))?;
    let mut bytes = Vec::new();
    file.rewind()
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(|e| Error::io("read", "seccomp program", e))?;
    let insns = bytes
        .chunks_exact(8)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    Ok(Program(insns))
}

impl Program {
    /// Number of BPF instructions.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the program is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// In the child: installs the filter on the calling thread (inherited across `execve`).
    /// Needs `no_new_privs` or CAP_SYS_ADMIN.
    pub(crate) fn load(&self) -> std::result::Result<(), i32> {
        let prog = libc::sock_fprog {
            len: self.0.len() as u16,
            filter: self.0.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: `prog` points to our instructions, alive for the call; the kernel copies them.
        let rc = unsafe {
            libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER as libc::c_ulong,
                &prog as *const libc::sock_fprog,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EINVAL));
        }
        Ok(())
    }
}

/// libseccomp's name of an architecture (`SCMP_ARCH_X86_64`).
fn arch_name(a: ScmpArch) -> String {
    let s = match a {
        ScmpArch::X8664 => "X86_64",
        ScmpArch::X86 => "X86",
        ScmpArch::X32 => "X32",
        ScmpArch::Aarch64 => "AARCH64",
        ScmpArch::Arm => "ARM",
        ScmpArch::Riscv64 => "RISCV64",
        ScmpArch::S390X => "S390X",
        ScmpArch::Ppc64Le => "PPC64LE",
        _ => "UNKNOWN",
    };
    format!("SCMP_ARCH_{s}")
}

/// Go's name of this architecture, as profiles' `arches` use it.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "arm" => "arm",
        "riscv64" => "riscv64",
        "s390x" => "s390x",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

fn parse_kernel(v: &str) -> Option<(u32, u32)> {
    let mut it = v.split(['.', '-']);
    let major = it.next()?.parse().ok()?;
    let minor = it.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

fn kernel_version() -> (u32, u32) {
    nix::sys::utsname::uname()
        .ok()
        .and_then(|u| parse_kernel(&u.release().to_string_lossy()))
        .unwrap_or((0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_profile_parses_and_compiles() {
        let p = Profile::docker_default();
        assert_eq!(p.default_action, "SCMP_ACT_ERRNO");
        let prog = p.compile(CapSet::docker_default()).unwrap();
        assert!(prog.len() > 100, "{} instructions", prog.len());
        // More capabilities, more rules.
        let all = p.compile(CapSet::all()).unwrap();
        assert_ne!(prog, all);
    }

    #[test]
    fn capability_groups_follow_the_bounding_set() {
        let p = Profile::docker_default();
        let rule = |name: &str| {
            p.syscalls
                .iter()
                .filter(|r| r.names.iter().any(|n| n == name))
                .collect::<Vec<_>>()
        };
        let k = (6, 1);
        // unshare is only allowed with CAP_SYS_ADMIN.
        assert!(
            rule("unshare")
                .iter()
                .all(|r| !applies(r, CapSet::docker_default(), k))
        );
        assert!(rule("unshare").iter().any(|r| applies(r, CapSet::all(), k)));
        // The clone rule with the namespace mask applies without CAP_SYS_ADMIN only.
        let masked: Vec<_> = rule("clone")
            .into_iter()
            .filter(|r| r.args.is_some() && r.excludes.arches.is_some())
            .collect();
        assert!(
            masked
                .iter()
                .any(|r| applies(r, CapSet::docker_default(), k))
        );
        assert!(masked.iter().all(|r| !applies(r, CapSet::all(), k)));
    }

    #[test]
    fn bad_profiles_are_refused_with_the_reason() {
        for (text, want) in [
            ("{", "invalid seccomp profile"),
            (r#"{"defaultAction":"SCMP_ACT_NOPE"}"#, "SCMP_ACT_NOPE"),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_WHAT"}]}]}"#,
                "SCMP_CMP_WHAT",
            ),
        ] {
            let err = Profile::from_json(text).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        }
        let ok = Profile::from_json(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#,
        )
        .unwrap();
        assert!(!ok.compile(CapSet::docker_default()).unwrap().is_empty());
    }

    #[test]
    fn kernel_versions_compare() {
        assert_eq!(parse_kernel("6.18.44-fc-v1147"), Some((6, 18)));
        assert_eq!(parse_kernel("4.8"), Some((4, 8)));
        assert!((4, 14) > (4, 8));
    }
}
