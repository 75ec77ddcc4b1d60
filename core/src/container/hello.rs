//! The built-in `hello-world` image: a tiny static x86-64 executable the engine writes itself
//! (an ELF header, one program header and a few instructions: write(1, msg, len); exit(0)),
//! in a one-layer image tagged `hello-world:latest` with `Cmd ["/hello"]`. It needs no
//! registry and no toolchain, so `engine run hello-world` works on a fresh machine.

use anyhow::{Result, bail};
use graph::image::{History, Image, ImageConfig, Reference, RunConfig};

use crate::engine::Engine;

/// Where the executable is loaded (the usual base of a static x86-64 program).
const BASE: u64 = 0x40_0000;
/// ELF header (64 bytes) + one program header (56 bytes).
const HEADERS: usize = 64 + 56;

/// The greeting, naming the storage driver the container's layer lived on.
pub fn greeting(driver: &str) -> String {
    format!(
        "\nHello from engine!\n\
This message shows that your installation appears to be working correctly.\n\
\n\
To generate this message, engine took the following steps:\n \
1. The engine found the \"hello-world\" image; with no such image stored, it built it\n    \
itself: a tiny static executable, /hello, in a one-layer image (no registry needed).\n \
2. The engine created a new container from that image, with a copy-on-write\n    \
writable layer on the {driver} storage driver, and its own mount, PID, UTS, IPC\n    \
and network namespaces.\n \
3. The engine ran the executable, which produced the output you are currently reading.\n \
4. The engine streamed that output to your terminal (and to the container's json-file log).\n\
\n\
To try something more ambitious, import a root filesystem and run a shell:\n \
$ engine import rootfs.tar busybox\n \
$ engine run -it busybox sh\n\
\n\
See `engine --help` for more: ps, logs, exec, commit, diff, inspect, ...\n\n"
    )
}

/// The executable printing `message`.
pub fn elf(message: &[u8]) -> Result<Vec<u8>> {
    let mut code = Vec::new();
    // mov eax, 1 (write); mov edi, 1 (stdout)
    code.extend_from_slice(&[0xb8, 1, 0, 0, 0, 0xbf, 1, 0, 0, 0]);
    let code_len = 10 + 5 + 5 + 2 + 5 + 2 + 2;
    let msg_addr = BASE + (HEADERS + code_len) as u64;
    let (Ok(addr), Ok(len)) = (u32::try_from(msg_addr), u32::try_from(message.len())) else {
        bail!("hello-world message too long");
    };
    // mov esi, msg_addr
    code.push(0xbe);
    code.extend_from_slice(&addr.to_le_bytes());
    // mov edx, len
    code.push(0xba);
    code.extend_from_slice(&len.to_le_bytes());
    // syscall; mov eax, 60 (exit); xor edi, edi; syscall
    code.extend_from_slice(&[0x0f, 0x05, 0xb8, 60, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05]);
    debug_assert_eq!(code.len(), code_len);
    let file_len = (HEADERS + code.len() + message.len()) as u64;

    let mut out = Vec::with_capacity(file_len as usize);
    // e_ident: magic, 64-bit, little-endian, version 1, System V ABI, padding.
    out.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&2u16.to_le_bytes()); // e_type: ET_EXEC
    out.extend_from_slice(&0x3eu16.to_le_bytes()); // e_machine: x86-64
    out.extend_from_slice(&1u32.to_le_bytes()); // e_version
    out.extend_from_slice(&(BASE + HEADERS as u64).to_le_bytes()); // e_entry
    out.extend_from_slice(&64u64.to_le_bytes()); // e_phoff
    out.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
    out.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    out.extend_from_slice(&64u16.to_le_bytes()); // e_ehsize
    out.extend_from_slice(&56u16.to_le_bytes()); // e_phentsize
    out.extend_from_slice(&1u16.to_le_bytes()); // e_phnum
    out.extend_from_slice(&64u16.to_le_bytes()); // e_shentsize
    out.extend_from_slice(&0u16.to_le_bytes()); // e_shnum
    out.extend_from_slice(&0u16.to_le_bytes()); // e_shstrndx
    // Program header: one PT_LOAD, read + execute, the whole file at BASE.
    out.extend_from_slice(&1u32.to_le_bytes()); // p_type: PT_LOAD
    out.extend_from_slice(&5u32.to_le_bytes()); // p_flags: R + X
    out.extend_from_slice(&0u64.to_le_bytes()); // p_offset
    out.extend_from_slice(&BASE.to_le_bytes()); // p_vaddr
    out.extend_from_slice(&BASE.to_le_bytes()); // p_paddr
    out.extend_from_slice(&file_len.to_le_bytes()); // p_filesz
    out.extend_from_slice(&file_len.to_le_bytes()); // p_memsz
    out.extend_from_slice(&0x1000u64.to_le_bytes()); // p_align
    debug_assert_eq!(out.len(), HEADERS);
    out.extend_from_slice(&code);
    out.extend_from_slice(message);
    Ok(out)
}

/// The layer: a tar holding only /hello.
fn layer_tar(exe: &[u8]) -> Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(exe.len() as u64);
    h.set_mode(0o755);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, "hello", exe)?;
    Ok(b.into_inner()?)
}

/// The built-in image, made and tagged `hello-world:latest` now.
pub fn ensure(engine: &Engine) -> Result<Image> {
    if std::env::consts::ARCH != "x86_64" {
        bail!(
            "Unable to find image 'hello-world:latest' locally: the built-in hello-world is x86-64 only"
        );
    }
    let exe = elf(greeting(engine.driver.name()).as_bytes())?;
    let tar = layer_tar(&exe)?;
    let layer = engine.layers.register(&tar[..], None)?;
    let mut config = ImageConfig::new_for_host(vec![layer.diff_id.clone()]);
    config.config = Some(RunConfig {
        cmd: Some(vec!["/hello".into()]),
        env: Some(vec![format!("PATH={}", runtime::DEFAULT_PATH)]),
        ..RunConfig::default()
    });
    config.history = vec![History {
        created: config.created.clone(),
        created_by: Some("engine: built-in hello-world (/hello written by the engine)".into()),
        ..History::default()
    }];
    let raw = serde_json::to_vec(&config)?;
    let image = engine.images.create(&raw)?;
    engine
        .images
        .tag(&Reference::parse("hello-world:latest")?, &image.id)?;
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elf_header_is_well_formed() {
        let msg = b"hi\n";
        let exe = elf(msg).unwrap();
        assert_eq!(&exe[..4], b"\x7fELF");
        assert_eq!(exe.len(), HEADERS + 31 + msg.len());
        assert!(exe.ends_with(msg));
        let entry = u64::from_le_bytes(exe[24..32].try_into().unwrap());
        assert_eq!(entry, BASE + HEADERS as u64);
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_executable_runs_and_prints() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hello");
        std::fs::write(&path, elf(b"built-in hello\n").unwrap()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = std::process::Command::new(&path).output().unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, b"built-in hello\n");
    }
}
