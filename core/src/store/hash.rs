//! Content hashes of files.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The lower-case hex sha256 and the size of a file, read in 1 MiB blocks.
pub fn sha256_file(path: &Path) -> Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let size = read_blocks(path, |block| hasher.update(block))?;
    Ok((hex::encode(hasher.finalize()), size))
}

/// Whether a file has the content address a Hugging Face Hub (like any git LFS host) serves as
/// its etag: the sha256 of the content for an LFS file (64 hex digits), the git blob id
/// (`sha1("blob {len}\0" + content)`, 40 hex digits) for a file kept in git itself. Anything
/// else is no content address, and nothing matches it.
pub(crate) fn has_content_address(path: &Path, address: &str) -> Result<bool> {
    let address = address.to_ascii_lowercase();
    match address.len() {
        64 => Ok(sha256_file(path)?.0 == address),
        40 => {
            let len = std::fs::metadata(path)
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))?
                .len();
            let mut hasher = sha1::Sha1::new();
            hasher.update(format!("blob {len}\0").as_bytes());
            read_blocks(path, |block| hasher.update(block))?;
            Ok(hex::encode(hasher.finalize()) == address)
        }
        _ => Ok(false),
    }
}

/// Feeds a file to `consume` in 1 MiB blocks; returns its size.
fn read_blocks(path: &Path, mut consume: impl FnMut(&[u8])) -> Result<u64> {
    let context = || format!("hashing {}", path.display());
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(context(), e))?;
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|e| Error::io(context(), e))?;
        if n == 0 {
            return Ok(size);
        }
        consume(&buffer[..n]);
        size += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let path = dir.path().join("abc");
        std::fs::write(&path, b"abc").map_err(|e| Error::io("write", e))?;
        let (digest, size) = sha256_file(&path)?;
        assert_eq!(
            digest,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(size, 3);
        Ok(())
    }

    #[test]
    fn content_addresses() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let path = dir.path().join("hello");
        std::fs::write(&path, b"hello\n").map_err(|e| Error::io("write", e))?;
        // `printf 'hello\n' | git hash-object --stdin`
        assert!(has_content_address(
            &path,
            "ce013625030ba8dba906f756967f9e9ca394464a"
        )?);
        assert!(has_content_address(
            &path,
            "5891B5B522D5DF086D0FF0B110FBD9D21BB4FC7163AF34D08286A2E846F6BE03"
        )?);
        assert!(!has_content_address(
            &path,
            "ce013625030ba8dba906f756967f9e9ca394464b"
        )?);
        assert!(!has_content_address(&path, "W/not-an-address")?);
        Ok(())
    }
}
