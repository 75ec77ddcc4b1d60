//! Which devices a container may use: the device cgroup's allowlist (Docker's default, plus
//! `--device` and `--device-cgroup-rule`), written as cgroup v1 `devices.allow` lines or
//! compiled to a cgroup v2 BPF device program, and the device nodes created in its /dev.

use std::fmt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::{Error, IoContext, Result};

/// A device type in a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// Every type (`a`).
    All,
    /// Character devices (`c`).
    Char,
    /// Block devices (`b`).
    Block,
}

/// Access bits of a rule.
pub const READ: u8 = 2;
/// Write access.
pub const WRITE: u8 = 4;
/// Creating the node (`mknod`).
pub const MKNOD: u8 = 1;

/// One device cgroup rule: `c 1:3 rwm`, `b *:* m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRule {
    /// Allow (or deny) what matches.
    pub allow: bool,
    /// The device type.
    pub kind: DeviceKind,
    /// `None` matches every major.
    pub major: Option<u32>,
    /// `None` matches every minor.
    pub minor: Option<u32>,
    /// [`READ`] | [`WRITE`] | [`MKNOD`].
    pub access: u8,
}

/// Docker's default allowlist (runc's, under Docker's spec): making a node of any character
/// or block device (`c *:* m`, `b *:* m`: a node is harmless until opened, and package
/// scripts and builds make them), and read and write of null, zero, full, random, urandom,
/// tty, console, ptmx and the ptys (136:*) only.
pub fn default_rules() -> Vec<DeviceRule> {
    let mknod_any = |kind| DeviceRule {
        allow: true,
        kind,
        major: None,
        minor: None,
        access: MKNOD,
    };
    let c = |major, minor| DeviceRule {
        allow: true,
        kind: DeviceKind::Char,
        major: Some(major),
        minor,
        access: READ | WRITE | MKNOD,
    };
    vec![
        mknod_any(DeviceKind::Char),
        mknod_any(DeviceKind::Block),
        c(1, Some(3)),
        c(1, Some(5)),
        c(1, Some(7)),
        c(1, Some(8)),
        c(1, Some(9)),
        c(5, Some(0)),
        c(5, Some(1)),
        c(5, Some(2)),
        c(136, None),
    ]
}

impl DeviceRule {
    /// Every device, every access (`--privileged`).
    pub fn allow_all() -> DeviceRule {
        DeviceRule {
            allow: true,
            kind: DeviceKind::All,
            major: None,
            minor: None,
            access: READ | WRITE | MKNOD,
        }
    }

    /// Parses Docker's `--device-cgroup-rule` value: `TYPE MAJOR:MINOR ACCESS`, e.g.
    /// `c 42:* rmw` or `a *:* rwm`.
    pub fn parse(text: &str) -> Result<DeviceRule> {
        let bad = || {
            Error::InvalidInput(format!(
                "invalid device cgroup rule {text:?}: want e.g. 'c 42:* rmw'"
            ))
        };
        let mut parts = text.split_whitespace();
        let kind = match parts.next().ok_or_else(bad)? {
            "a" => DeviceKind::All,
            "c" => DeviceKind::Char,
            "b" => DeviceKind::Block,
            _ => return Err(bad()),
        };
        let (major, minor) = match parts.next() {
            Some(nums) => {
                let (ma, mi) = nums.split_once(':').ok_or_else(bad)?;
                (
                    parse_number(ma).ok_or_else(bad)?,
                    parse_number(mi).ok_or_else(bad)?,
                )
            }
            None if kind == DeviceKind::All => (None, None),
            None => return Err(bad()),
        };
        let access = match parts.next() {
            Some(a) => parse_access(a).ok_or_else(bad)?,
            None => READ | WRITE | MKNOD,
        };
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(DeviceRule {
            allow: true,
            kind,
            major,
            minor,
            access,
        })
    }

    /// Whether the rule lets `access` of a device of `kind` `major:minor` through.
    pub fn matches(&self, kind: DeviceKind, major: u32, minor: u32, access: u8) -> bool {
        (self.kind == DeviceKind::All || self.kind == kind)
            && self.major.is_none_or(|m| m == major)
            && self.minor.is_none_or(|m| m == minor)
            && access & !self.access == 0
    }
}

/// Parses `*` or a number.
fn parse_number(s: &str) -> Option<Option<u32>> {
    if s == "*" {
        Some(None)
    } else {
        s.parse().ok().map(Some)
    }
}

/// Parses an access string such as `rwm`, `r` or `mw`.
pub fn parse_access(s: &str) -> Option<u8> {
    if s.is_empty() {
        return None;
    }
    let mut bits = 0;
    for ch in s.chars() {
        bits |= match ch {
            'r' => READ,
            'w' => WRITE,
            'm' => MKNOD,
            _ => return None,
        };
    }
    Some(bits)
}

impl fmt::Display for DeviceRule {
    /// The cgroup v1 `devices.allow` syntax.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            DeviceKind::All => 'a',
            DeviceKind::Char => 'c',
            DeviceKind::Block => 'b',
        };
        let num = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
        let mut access = String::new();
        for (bit, ch) in [(READ, 'r'), (WRITE, 'w'), (MKNOD, 'm')] {
            if self.access & bit != 0 {
                access.push(ch);
            }
        }
        write!(f, "{kind} {}:{} {access}", num(self.major), num(self.minor))
    }
}

/// A device node to create in the container's /dev.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNode {
    /// Absolute path inside the container.
    pub path: PathBuf,
    /// Character or block.
    pub kind: DeviceKind,
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
    /// Permission bits of the node.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

impl DeviceNode {
    /// The node `host` describes (following symlinks), to appear at `container_path`.
    pub fn from_host(host: &Path, container_path: &Path) -> Result<DeviceNode> {
        let meta = std::fs::metadata(host).ctx("stat device", host)?;
        let ft = meta.file_type();
        let kind = if ft.is_char_device() {
            DeviceKind::Char
        } else if ft.is_block_device() {
            DeviceKind::Block
        } else {
            return Err(Error::InvalidInput(format!(
                "{} is not a device node",
                host.display()
            )));
        };
        let rdev = meta.rdev();
        Ok(DeviceNode {
            path: container_path.to_path_buf(),
            kind,
            major: nix::sys::stat::major(rdev) as u32,
            minor: nix::sys::stat::minor(rdev) as u32,
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
        })
    }

    /// Every device node under the host's `dir` (recursively), at the same path in the
    /// container: what `--privileged` and `--device DIR` give. Skips /dev/pts, shm, mqueue
    /// and the console: the container has its own.
    pub fn all_under(dir: &Path, container_dir: &Path) -> Result<Vec<DeviceNode>> {
        let mut out = Vec::new();
        let mut stack = vec![(dir.to_path_buf(), container_dir.to_path_buf())];
        while let Some((host, cont)) = stack.pop() {
            let entries = std::fs::read_dir(&host).ctx("list devices in", &host)?;
            for entry in entries {
                let entry = entry.ctx("list devices in", &host)?;
                let name = entry.file_name();
                if host == Path::new("/dev")
                    && ["pts", "shm", "mqueue", "console", "ptmx", "fd", "core"]
                        .iter()
                        .any(|n| name == *n)
                {
                    continue;
                }
                let Ok(ft) = entry.file_type() else { continue };
                if ft.is_dir() {
                    stack.push((entry.path(), cont.join(&name)));
                } else if ft.is_char_device() || ft.is_block_device() {
                    out.push(DeviceNode::from_host(&entry.path(), &cont.join(&name))?);
                }
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// The cgroup rule that lets the container use this node with `access`.
    pub fn rule(&self, access: u8) -> DeviceRule {
        DeviceRule {
            allow: true,
            kind: self.kind,
            major: Some(self.major),
            minor: Some(self.minor),
            access,
        }
    }
}

/// The cgroup v2 device program: eBPF of type `BPF_PROG_TYPE_CGROUP_DEVICE`, returning 1 to
/// allow. Rules are checked last to first, so a later rule overrides an earlier one (v1's
/// semantics); nothing matching means deny.
pub mod bpf {
    use super::{DeviceKind, DeviceRule, MKNOD, READ, WRITE};

    /// One eBPF instruction, encoded as the kernel reads it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    #[repr(C)]
    pub struct Insn {
        code: u8,
        regs: u8,
        off: i16,
        imm: i32,
    }

    const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
    const AND_K: u8 = 0x57; // BPF_ALU64 | BPF_AND | BPF_K
    const RSH_K: u8 = 0x77; // BPF_ALU64 | BPF_RSH | BPF_K
    const MOV_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
    const MOV_X: u8 = 0xbf; // BPF_ALU64 | BPF_MOV | BPF_X
    const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
    const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

    fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            regs: dst | (src << 4),
            off,
            imm,
        }
    }

    /// The program for `rules` (in order; later ones win).
    pub fn program(rules: &[DeviceRule]) -> Vec<Insn> {
        // struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }:
        // access_type = access << 16 | type. r2 = type, r3 = access, r4 = major, r5 = minor.
        let mut p = vec![
            insn(LDX_W, 2, 1, 0, 0),
            insn(AND_K, 2, 0, 0, 0xffff),
            insn(LDX_W, 3, 1, 0, 0),
            insn(RSH_K, 3, 0, 0, 16),
            insn(LDX_W, 4, 1, 4, 0),
            insn(LDX_W, 5, 1, 8, 0),
        ];
        for rule in rules.iter().rev() {
            let mut checks: Vec<(u8, u8, i32)> = Vec::new(); // (register, or-mask step, value)
            match rule.kind {
                DeviceKind::All => {}
                DeviceKind::Char => checks.push((2, 0, 2)), // BPF_DEVCG_DEV_CHAR
                DeviceKind::Block => checks.push((2, 0, 1)), // BPF_DEVCG_DEV_BLOCK
            }
            let all = READ | WRITE | MKNOD;
            let need_access = rule.access & all != all;
            if let Some(m) = rule.major {
                checks.push((4, 0, m as i32));
            }
            if let Some(m) = rule.minor {
                checks.push((5, 0, m as i32));
            }
            // Instructions of this block: each check is one jump; the access check is three;
            // then mov + exit.
            let len = checks.len() + if need_access { 3 } else { 0 } + 2;
            let mut at = 0usize;
            let skip = |at: usize| (len - at - 1) as i16;
            if need_access {
                // Every requested bit must be in the rule: (access & !rule) == 0.
                p.push(insn(MOV_X, 1, 3, 0, 0));
                p.push(insn(AND_K, 1, 0, 0, i32::from(!rule.access & all)));
                at += 2;
                p.push(insn(JNE_K, 1, 0, skip(at), 0));
                at += 1;
            }
            for (reg, _, value) in checks {
                p.push(insn(JNE_K, reg, 0, skip(at), value));
                at += 1;
            }
            p.push(insn(MOV_K, 0, 0, 0, i32::from(rule.allow)));
            p.push(insn(EXIT, 0, 0, 0, 0));
        }
        p.push(insn(MOV_K, 0, 0, 0, 0));
        p.push(insn(EXIT, 0, 0, 0, 0));
        p
    }

    /// Runs `program` on one access, as the kernel would: for unit tests of the encoding.
    pub fn interpret(program: &[Insn], kind: u32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [access << 16 | kind, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        while pc < program.len() {
            let i = program[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_W => r[dst] = u64::from(ctx[(i.off / 4) as usize]),
                AND_K => r[dst] &= i.imm as u64,
                RSH_K => r[dst] >>= i.imm,
                MOV_K => r[dst] = i.imm as u64,
                MOV_X => r[dst] = r[src],
                JNE_K if r[dst] != i.imm as u64 => pc += i.off as usize,
                JNE_K => {}
                EXIT => return r[0],
                _ => unreachable!("instruction {:#x} is not emitted", i.code),
            }
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_rules() {
        let r = DeviceRule::parse("c 42:* rmw").unwrap();
        assert_eq!(r.to_string(), "c 42:* rwm");
        assert_eq!(DeviceRule::parse("b 7:0 r").unwrap().to_string(), "b 7:0 r");
        assert_eq!(DeviceRule::parse("a").unwrap().to_string(), "a *:* rwm");
        for bad in [
            "",
            "x 1:2 r",
            "c 1 r",
            "c 1:2 rx",
            "c 1:2 r extra",
            "c a:b r",
        ] {
            assert!(DeviceRule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bpf_program_agrees_with_the_rules() {
        let mut rules = default_rules();
        rules.push(DeviceRule::parse("b 7:* r").unwrap());
        let prog = bpf::program(&rules);
        let (c, b) = (2, 1);
        let ok = |kind, access, major, minor| bpf::interpret(&prog, kind, access, major, minor);
        // /dev/null rw, mknod of a pty, read of a loop device (the added rule).
        assert_eq!(ok(c, u32::from(READ | WRITE), 1, 3), 1);
        assert_eq!(ok(c, u32::from(MKNOD), 136, 9), 1);
        assert_eq!(ok(b, u32::from(READ), 7, 4), 1);
        // mknod of any node; reading or writing one not listed is another matter.
        assert_eq!(ok(b, u32::from(MKNOD), 8, 0), 1);
        assert_eq!(ok(c, u32::from(MKNOD), 10, 229), 1);
        assert_eq!(ok(b, u32::from(READ | MKNOD), 8, 0), 0);
        // Writing the loop device, any other block device, a char device not listed.
        assert_eq!(ok(b, u32::from(WRITE), 7, 4), 0);
        assert_eq!(ok(b, u32::from(READ), 8, 0), 0);
        assert_eq!(ok(c, u32::from(READ), 10, 229), 0);
        // The same answers as the rules themselves, for a sweep of accesses.
        for kind in [c, b] {
            for access in 1..8u32 {
                for (major, minor) in [(1, 3), (1, 4), (5, 2), (7, 0), (136, 0), (4, 1)] {
                    let k = if kind == c {
                        DeviceKind::Char
                    } else {
                        DeviceKind::Block
                    };
                    let want = rules
                        .iter()
                        .rev()
                        .find(|r| r.matches(k, major, minor, access as u8))
                        .is_some_and(|r| r.allow);
                    assert_eq!(ok(kind, access, major, minor), u64::from(want));
                }
            }
        }
        assert_eq!(
            bpf::interpret(&bpf::program(&[DeviceRule::allow_all()]), b, 6, 8, 0),
            1
        );
    }
}
