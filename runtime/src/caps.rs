//! Linux capabilities: the set type, Docker's default set, and applying a set to the calling
//! process (bounding, ambient, inheritable, permitted, effective) with raw `prctl`/`capset`.

use std::fmt;

/// Capability names in kernel order (`CAP_CHOWN` = 0 ...), without the `CAP_` prefix.
const NAMES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// Docker's default capabilities (moby `oci/caps/defaults.go`).
const DOCKER_DEFAULT: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// A set of capabilities, as a bit mask indexed by capability number.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct CapSet(u64);

impl CapSet {
    /// No capabilities.
    pub const fn empty() -> CapSet {
        CapSet(0)
    }

    /// Docker's default set: CHOWN, DAC_OVERRIDE, FSETID, FOWNER, MKNOD, NET_RAW, SETGID,
    /// SETUID, SETFCAP, SETPCAP, NET_BIND_SERVICE, SYS_CHROOT, KILL, AUDIT_WRITE.
    pub fn docker_default() -> CapSet {
        let mut set = CapSet::empty();
        for name in DOCKER_DEFAULT {
            if let Some(n) = number(name) {
                set.insert(n);
            }
        }
        set
    }

    /// Every capability this crate knows by name (`--privileged`).
    pub fn all() -> CapSet {
        CapSet((1u64 << NAMES.len()) - 1)
    }

    /// Parses "NET_ADMIN", "CAP_NET_ADMIN" or "net_admin" (Docker's `--cap-add` spellings);
    /// returns the capability number.
    pub fn parse_name(name: &str) -> crate::Result<u8> {
        let upper = name.to_ascii_uppercase();
        let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
        number(bare)
            .ok_or_else(|| crate::Error::InvalidInput(format!("unknown capability: {name:?}")))
    }

    /// Adds capability number `cap` (ignored when out of range).
    pub fn insert(&mut self, cap: u8) {
        if cap < 64 {
            self.0 |= 1 << cap;
        }
    }

    /// The capabilities in both sets.
    pub fn intersect(self, other: CapSet) -> CapSet {
        CapSet(self.0 & other.0)
    }

    /// The capabilities of `self` not in `other`.
    pub fn difference(self, other: CapSet) -> CapSet {
        CapSet(self.0 & !other.0)
    }

    /// Removes capability number `cap`.
    pub fn remove(&mut self, cap: u8) {
        if cap < 64 {
            self.0 &= !(1 << cap);
        }
    }

    /// Whether capability number `cap` is in the set.
    pub fn contains(&self, cap: u8) -> bool {
        cap < 64 && self.0 & (1 << cap) != 0
    }

    /// The raw mask (bit n = capability n), as in `/proc/<pid>/status` `CapBnd`.
    pub fn bits(&self) -> u64 {
        self.0
    }
}

impl fmt::Debug for CapSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = (0..NAMES.len() as u8)
            .filter(|c| self.contains(*c))
            .map(|c| NAMES[c as usize])
            .collect();
        f.debug_tuple("CapSet").field(&names).finish()
    }
}

fn number(name: &str) -> Option<u8> {
    NAMES.iter().position(|n| *n == name).map(|p| p as u8)
}

/// The highest capability number the running kernel knows (`/proc/sys/kernel/cap_last_cap`).
pub(crate) fn last_cap() -> u8 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// The calling process's bounding set: what it can give a child at most.
pub(crate) fn current_bounding(last_cap: u8) -> CapSet {
    let mut set = CapSet::empty();
    for cap in 0..=last_cap {
        // SAFETY: PR_CAPBSET_READ takes a capability number and touches no memory.
        if unsafe { libc::prctl(libc::PR_CAPBSET_READ, libc::c_ulong::from(cap), 0, 0, 0) } == 1 {
            set.insert(cap);
        }
    }
    set
}

/// Narrows the bounding set to `keep` and clears the ambient set. Needs CAP_SETPCAP; done
/// before switching user.
pub(crate) fn drop_bounding(keep: CapSet, last_cap: u8) -> Result<(), (&'static str, i32)> {
    for cap in 0..=last_cap {
        if keep.contains(cap) {
            continue;
        }
        // SAFETY: PR_CAPBSET_DROP takes a capability number and touches no memory.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0) };
        if rc != 0 {
            let errno = errno();
            // EINVAL: the kernel does not know this capability; nothing to drop.
            if errno != libc::EINVAL {
                return Err(("drop capability from the bounding set", errno));
            }
        }
    }
    // SAFETY: PR_CAP_AMBIENT_CLEAR_ALL takes no pointers.
    let rc = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    if rc != 0 && errno() != libc::EINVAL {
        return Err(("clear the ambient capabilities", errno()));
    }
    Ok(())
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Sets the effective and permitted sets to `set` and the inheritable set to empty (Docker
/// leaves inheritable empty since CVE-2022-24769).
pub(crate) fn set_process_caps(set: CapSet) -> Result<(), (&'static str, i32)> {
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let bits = set.bits();
    let data = [
        CapData {
            effective: bits as u32,
            permitted: bits as u32,
            inheritable: 0,
        },
        CapData {
            effective: (bits >> 32) as u32,
            permitted: (bits >> 32) as u32,
            inheritable: 0,
        },
    ];
    // SAFETY: capset reads a v3 header and two data structs, which we pass with their C layout.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_capset,
            &mut header as *mut CapHeader,
            data.as_ptr(),
        )
    };
    if rc != 0 {
        return Err(("set capabilities", errno()));
    }
    Ok(())
}

fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_default_mask() {
        // CapBnd of `docker run busybox grep Cap /proc/self/status`.
        assert_eq!(CapSet::docker_default().bits(), 0x00000000a80425fb);
    }

    #[test]
    fn parse_names() {
        assert_eq!(CapSet::parse_name("NET_ADMIN").unwrap(), 12);
        assert_eq!(CapSet::parse_name("cap_sys_admin").unwrap(), 21);
        assert!(CapSet::parse_name("NOPE").is_err());
        let mut s = CapSet::empty();
        s.insert(12);
        assert!(s.contains(12));
        s.remove(12);
        assert_eq!(s, CapSet::empty());
        assert_eq!(CapSet::all().bits().count_ones() as usize, NAMES.len());
    }
}
