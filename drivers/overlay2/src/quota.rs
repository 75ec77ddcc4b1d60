//! xfs project quotas, for `overlay2.size` and `--storage-opt size`.
//!
//! As Docker does it: the home directory carries a base project id; each sized layer directory
//! gets the next free id with `FS_XFLAG_PROJINHERIT` (so everything created inside is charged
//! to it), and the limit is set with `quotactl(Q_XSETQLIM, PRJQUOTA)` on a block device node
//! for the backing filesystem, `<home>/backingFsBlockDev`, made with mknod. This works only on
//! xfs mounted with `pquota` (or `prjquota`); anything else fails the probe at start.

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use graph::{Error, IoContext, Result};
use nix::sys::stat::{Mode, SFlag, mknod};

const BACKING_DEV: &str = "backingFsBlockDev";
const FS_XFLAG_PROJINHERIT: u32 = 0x0000_0200;
const FS_DQUOT_VERSION: i8 = 1;
const FS_PROJ_QUOTA: i8 = 2;
const FS_DQ_BSOFT: u16 = 1 << 2;
const FS_DQ_BHARD: u16 = 1 << 3;
const PRJQUOTA: i32 = 2;
const Q_XSETQLIM: i32 = (b'X' as i32) << 8 | 4;
const SUBCMDSHIFT: i32 = 8;

/// `struct fsxattr` (linux/fs.h).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct FsXattr {
    xflags: u32,
    extsize: u32,
    nextents: u32,
    projid: u32,
    cowextsize: u32,
    pad: [u8; 8],
}

/// `struct fs_disk_quota` (linux/dqblk_xfs.h).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct FsDiskQuota {
    version: i8,
    flags: i8,
    fieldmask: u16,
    id: u32,
    blk_hardlimit: u64,
    blk_softlimit: u64,
    ino_hardlimit: u64,
    ino_softlimit: u64,
    bcount: u64,
    icount: u64,
    itimer: i32,
    btimer: i32,
    iwarns: u16,
    bwarns: u16,
    itimer_hi: i8,
    btimer_hi: i8,
    rtbtimer_hi: i8,
    padding2: i8,
    rtb_hardlimit: u64,
    rtb_softlimit: u64,
    rtbcount: u64,
    rtbtimer: i32,
    rtbwarns: u16,
    padding3: i16,
    padding4: [u8; 8],
}

nix::ioctl_read!(
    /// `FS_IOC_FSGETXATTR`.
    fs_get_xattr, b'X', 31, FsXattr);
nix::ioctl_write_ptr!(
    /// `FS_IOC_FSSETXATTR`.
    fs_set_xattr, b'X', 32, FsXattr);

/// Project-quota control for one driver home.
#[derive(Debug)]
pub struct Quota {
    device: PathBuf,
    next_id: Mutex<u32>,
}

impl Quota {
    /// Sets up quotas for `home` (on xfs with project quotas on), or fails with the reason.
    pub fn new(home: &Path) -> Result<Self> {
        let device = home.join(BACKING_DEV);
        make_backing_dev(home, &device)?;
        let mut base = project_id(home)?;
        if base == 0 {
            base = 1;
            set_project_id(home, base)?;
        }
        // Quota works only if a limit can be set: try "no limit" on the base id.
        set_limit(&device, base, 0)?;
        let mut next = base + 1;
        for entry in fs::read_dir(home).ctx("read directory", home)? {
            let entry = entry.ctx("read directory", home)?;
            if entry.file_type().is_ok_and(|t| t.is_dir())
                && let Ok(id) = project_id(&entry.path())
            {
                next = next.max(id + 1);
            }
        }
        Ok(Quota {
            device,
            next_id: Mutex::new(next),
        })
    }

    /// Limits everything created under `dir` (which must be empty) to `bytes`.
    pub fn set(&self, dir: &Path, bytes: u64) -> Result<()> {
        let id = {
            let mut next = self.next_id.lock().unwrap_or_else(|p| p.into_inner());
            let id = *next;
            *next += 1;
            id
        };
        set_project_id(dir, id)?;
        set_limit(&self.device, id, bytes)
    }
}

fn make_backing_dev(home: &Path, device: &Path) -> Result<()> {
    let dev = fs::metadata(home).ctx("stat", home)?.dev();
    let _ = fs::remove_file(device);
    mknod(device, SFlag::S_IFBLK, Mode::from_bits_truncate(0o600), dev)
        .ctx("create block device node", device)
}

fn open_dir(dir: &Path) -> Result<fs::File> {
    fs::File::open(dir).ctx("open", dir)
}

fn project_id(dir: &Path) -> Result<u32> {
    let f = open_dir(dir)?;
    let mut attr = FsXattr::default();
    // SAFETY: FS_IOC_FSGETXATTR fills a `struct fsxattr`, which `FsXattr` mirrors; the fd is
    // open for the duration of the call.
    unsafe { fs_get_xattr(std::os::fd::AsRawFd::as_raw_fd(&f), &mut attr) }
        .ctx("get project id", dir)?;
    Ok(attr.projid)
}

fn set_project_id(dir: &Path, id: u32) -> Result<()> {
    let f = open_dir(dir)?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&f);
    let mut attr = FsXattr::default();
    // SAFETY: as in `project_id`: the kernel writes one `struct fsxattr` into `attr`.
    unsafe { fs_get_xattr(fd, &mut attr) }.ctx("get project id", dir)?;
    attr.projid = id;
    attr.xflags |= FS_XFLAG_PROJINHERIT;
    // SAFETY: FS_IOC_FSSETXATTR reads one `struct fsxattr` from `attr`, which lives across the call.
    unsafe { fs_set_xattr(fd, &attr) }.ctx("set project id", dir)?;
    Ok(())
}

fn set_limit(device: &Path, id: u32, bytes: u64) -> Result<()> {
    let blocks = bytes.div_ceil(512);
    let mut q = FsDiskQuota {
        version: FS_DQUOT_VERSION,
        flags: FS_PROJ_QUOTA,
        fieldmask: FS_DQ_BHARD | FS_DQ_BSOFT,
        id,
        blk_hardlimit: blocks,
        blk_softlimit: blocks,
        ..FsDiskQuota::default()
    };
    let dev = CString::new(device.as_os_str().as_bytes())
        .map_err(|_| Error::InvalidInput(format!("{} contains NUL", device.display())))?;
    let id = i32::try_from(id)
        .map_err(|_| Error::InvalidInput(format!("project id {id} out of range")))?;
    // SAFETY: `dev` is a NUL-terminated path and `q` a valid `struct fs_disk_quota` that
    // Q_XSETQLIM only reads; both outlive the call.
    let rc = unsafe {
        libc::quotactl(
            (Q_XSETQLIM << SUBCMDSHIFT) | PRJQUOTA,
            dev.as_ptr(),
            id,
            (&raw mut q).cast(),
        )
    };
    if rc != 0 {
        return Err(Error::io(
            "set project quota via",
            device,
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_struct_sizes() {
        assert_eq!(std::mem::size_of::<FsXattr>(), 28);
        assert_eq!(std::mem::size_of::<FsDiskQuota>(), 112);
    }
}

/// The project-quota calls are generic: ext4 with the `project,quota` features takes the same
/// ioctls and `Q_XSETQLIM`, so they are checked there when this kernel's xfs lacks quotas.
#[cfg(test)]
mod ext4_tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn root_project_quota_limits_a_directory_on_ext4() {
        if !graph::testsuite::root_available("root_project_quota_limits_a_directory_on_ext4") {
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let img = dir.path().join("ext4.img");
        fs::File::create(&img)
            .and_then(|f| f.set_len(64 << 20))
            .expect("image");
        let mkfs = Command::new("mkfs.ext4")
            .args(["-q", "-O", "quota,project"])
            .arg(&img)
            .status();
        if !mkfs.is_ok_and(|s| s.success()) {
            graph::testsuite::skip(
                "root_project_quota_limits_a_directory_on_ext4",
                "mkfs.ext4 -O quota,project failed",
            );
            return;
        }
        let mnt = dir.path().join("mnt");
        fs::create_dir(&mnt).expect("mkdir");
        let mounted = Command::new("mount")
            .args(["-o", "loop,prjquota"])
            .arg(&img)
            .arg(&mnt)
            .status()
            .expect("mount");
        if !mounted.success() {
            // e.g. a kernel without CONFIG_QFMT_V2 cannot mount ext4 with quotas.
            graph::testsuite::skip_unless_kernel_lacks(
                "root_project_quota_limits_a_directory_on_ext4",
                "CONFIG_QFMT_V2",
                "mount -o loop,prjquota failed; see dmesg",
            );
            return;
        }
        struct Unmount(PathBuf);
        impl Drop for Unmount {
            fn drop(&mut self) {
                let _ = crate::mount::unmount(&self.0);
            }
        }
        let _unmount = Unmount(mnt.clone());

        let home = mnt.join("home");
        fs::create_dir(&home).expect("mkdir");
        let quota = Quota::new(&home).expect("quota setup");
        let limited = home.join("limited");
        fs::create_dir(&limited).expect("mkdir");
        quota.set(&limited, 4 << 20).expect("set quota");
        assert!(project_id(&limited).expect("projid") > project_id(&home).expect("projid"));
        fs::create_dir(limited.join("sub")).expect("mkdir");
        assert_eq!(
            project_id(&limited.join("sub")).expect("projid"),
            project_id(&limited).expect("projid"),
            "new entries inherit the project"
        );
        fs::write(limited.join("sub/small"), vec![1u8; 1 << 20]).expect("small write");
        let err = fs::write(limited.join("big"), vec![1u8; 8 << 20])
            .and_then(|()| fs::File::open(limited.join("big"))?.sync_all())
            .expect_err("the quota must stop an 8 MiB write");
        assert_eq!(err.raw_os_error(), Some(libc::EDQUOT), "{err}");
        // A second controller on the same home continues after the ids in use.
        let again = Quota::new(&home).expect("quota setup");
        let other = home.join("other");
        fs::create_dir(&other).expect("mkdir");
        again.set(&other, 1 << 20).expect("set quota");
        assert!(project_id(&other).expect("projid") > project_id(&limited).expect("projid"));
    }
}
