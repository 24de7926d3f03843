//! What an x86 boot image (bzImage, Debian's `vmlinuz`) says about itself:
//! the boot protocol header and the kernel release string it points to.

use std::io::Read;
use std::path::Path;

/// Offset of the `HdrS` signature of the x86 boot protocol header.
const HDRS_OFFSET: usize = 0x202;
/// Offset of the header's `kernel_version` pointer (relative to 0x200).
const KERNEL_VERSION_PTR: usize = 0x20e;
/// How much of an image is read to find its release string.
const HEAD_LEN: u64 = 64 * 1024;

/// What kind of file a kernel image path holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageKind {
    /// An x86 boot image (bzImage/vmlinuz) with the `HdrS` header.
    BzImage {
        /// The release (`uname -r`) from the header, when it has one.
        release: Option<String>,
    },
    /// An ELF file: an uncompressed `vmlinux`, not a bootable image.
    Elf,
    /// Anything else.
    Other,
}

/// Reads the start of `path` and classifies it.
pub fn probe_image(path: &Path) -> std::io::Result<ImageKind> {
    let mut head = Vec::new();
    std::fs::File::open(path)?
        .take(HEAD_LEN)
        .read_to_end(&mut head)?;
    Ok(classify(&head))
}

/// Classifies the first bytes of an image (at least 64 KiB where the file has them).
pub fn classify(head: &[u8]) -> ImageKind {
    if head.starts_with(b"\x7fELF") {
        return ImageKind::Elf;
    }
    if head.get(HDRS_OFFSET..HDRS_OFFSET + 4) != Some(b"HdrS") {
        return ImageKind::Other;
    }
    ImageKind::BzImage {
        release: release_from_header(head),
    }
}

/// The first word of the header's kernel version string
/// (`7.3.4+deb13-cloud-amd64 (debian-kernel@...) #1 SMP ...`).
fn release_from_header(head: &[u8]) -> Option<String> {
    let ptr = head.get(KERNEL_VERSION_PTR..KERNEL_VERSION_PTR + 2)?;
    let ptr = u16::from_le_bytes([ptr[0], ptr[1]]) as usize;
    if ptr == 0 {
        return None;
    }
    let text = head.get(ptr + 0x200..)?;
    let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
    let text = std::str::from_utf8(&text[..end.min(256)]).ok()?;
    let release = text.split_whitespace().next()?;
    let printable = release.bytes().all(|b| b.is_ascii_graphic());
    (printable && !release.is_empty()).then(|| release.to_string())
}

/// A fake bzImage head for tests: `HdrS` and a version string.
#[cfg(test)]
pub(crate) fn fake_bzimage_head(release: &str) -> Vec<u8> {
    let mut head = vec![0u8; 0x1000];
    head[HDRS_OFFSET..HDRS_OFFSET + 4].copy_from_slice(b"HdrS");
    let ptr: u16 = 0x0e00 - 0x200;
    head[KERNEL_VERSION_PTR..KERNEL_VERSION_PTR + 2].copy_from_slice(&ptr.to_le_bytes());
    let text = format!("{release} (test@scxray) #1 SMP PREEMPT_DYNAMIC\0");
    head[0x0e00..0x0e00 + text.len()].copy_from_slice(text.as_bytes());
    head
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_release_from_the_header() {
        let head = fake_bzimage_head("7.3.4+deb13-cloud-amd64");
        assert_eq!(
            classify(&head),
            ImageKind::BzImage {
                release: Some("7.3.4+deb13-cloud-amd64".into())
            }
        );
        let mut no_ptr = head.clone();
        no_ptr[KERNEL_VERSION_PTR] = 0;
        no_ptr[KERNEL_VERSION_PTR + 1] = 0;
        assert_eq!(classify(&no_ptr), ImageKind::BzImage { release: None });
    }

    #[test]
    fn elf_and_junk() {
        assert_eq!(classify(b"\x7fELF\x02\x01\x01"), ImageKind::Elf);
        assert_eq!(classify(b"hello"), ImageKind::Other);
        assert_eq!(classify(&[0u8; 0x300]), ImageKind::Other);
        let mut truncated = fake_bzimage_head("x");
        truncated.truncate(0x210);
        assert_eq!(classify(&truncated), ImageKind::BzImage { release: None });
    }
}
